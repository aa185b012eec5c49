package timeseries

import (
	"math"
	"strconv"
)

// Value is a number that marshals to JSON with at most four decimals (the
// series are for drawing), and to null when it is NaN or infinite.
type Value float64

// Null is the Value of an interval without data.
var Null = Value(math.NaN())

// IsNull reports whether v marks missing data.
func (v Value) IsNull() bool { return math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) }

// MarshalJSON writes v rounded to four decimals, or null.
func (v Value) MarshalJSON() ([]byte, error) {
	if v.IsNull() {
		return []byte("null"), nil
	}
	f := math.Round(float64(v)*1e4) / 1e4
	return strconv.AppendFloat(nil, f, 'f', -1, 64), nil
}

// UnmarshalJSON reads a number or null.
func (v *Value) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*v = Null
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return err
	}
	*v = Value(f)
	return nil
}
