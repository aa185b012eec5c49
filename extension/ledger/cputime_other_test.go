//go:build !unix

package ledger

// cpuNs is not measured on this platform.
func cpuNs() int64 { return 0 }
