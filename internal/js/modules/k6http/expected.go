package k6http

// statusRange is an inclusive range of HTTP status codes.
type statusRange struct{ min, max int }

// expectedStatuses is a response callback made by http.expectedStatuses():
// a response is expected when its status is in one of the ranges. Network
// errors have status 0 and are therefore never expected (unless 0 is listed).
type expectedStatuses struct {
	ranges []statusRange
}

// defaultExpected accepts 200-399, k6's default response callback.
var defaultExpected = &expectedStatuses{ranges: []statusRange{{200, 399}}}

// expected reports whether status is one of the expected statuses.
func (e *expectedStatuses) expected(status int) bool {
	for _, r := range e.ranges {
		if status >= r.min && status <= r.max {
			return true
		}
	}
	return false
}
