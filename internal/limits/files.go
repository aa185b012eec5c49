// Package limits holds the limits tally puts on what a script can make it
// read or allocate, so that a careless or hostile script gets a clear error
// instead of exhausting the machine: the size of scripts and opened files,
// and the memory guard.
package limits

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// The largest files tally reads; larger ones are refused before being read.
const (
	// MaxScriptSize bounds the script and every module it imports.
	MaxScriptSize = 16 << 20
	// MaxOpenFileSize bounds a file read by open() and an archive made by
	// `tally archive`.
	MaxOpenFileSize = 512 << 20
)

// ErrTooLarge is wrapped by the errors of files over their limit.
var ErrTooLarge = errors.New("file too large")

// ErrNotText is wrapped by the error of a script that is a binary file.
var ErrNotText = errors.New("not a text file")

// ReadFile reads path, refusing it before reading when it is larger than
// limit bytes (and, for a file whose size is not known in advance, as soon
// as more than limit bytes were read).
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > limit {
		return nil, TooLarge(path, st.Size(), limit)
	}
	return ReadAll(f, path, limit)
}

// ReadAll reads r (named name in errors) up to limit bytes; more is an
// error wrapping ErrTooLarge.
func ReadAll(r io.Reader, name string, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, TooLarge(name, -1, limit)
	}
	return b, nil
}

// TooLarge is the error for name, of size bytes (-1: unknown), over limit.
func TooLarge(name string, size, limit int64) error {
	if size >= 0 {
		return fmt.Errorf("%s is %s, over tally's limit of %s: %w", name, human(size), human(limit), ErrTooLarge)
	}
	return fmt.Errorf("%s is over tally's limit of %s: %w", name, human(limit), ErrTooLarge)
}

func human(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// CheckSource refuses a script or module (named name) that is too large or
// is not text: a NUL byte in its first 8 KiB means a binary file, which
// would otherwise take seconds and gigabytes to fail to parse.
func CheckSource(name string, src []byte) error {
	if int64(len(src)) > MaxScriptSize {
		return fmt.Errorf("%w (scripts and the modules they import are limited; load data with open() instead)",
			TooLarge(name, int64(len(src)), MaxScriptSize))
	}
	head := src[:min(len(src), 8<<10)]
	if bytes.IndexByte(head, 0) >= 0 {
		return fmt.Errorf("%s is a binary file, not a JavaScript script (it contains NUL bytes): %w", name, ErrNotText)
	}
	return nil
}
