//go:build unix

package ledgerjs

import "syscall"

// cpuNs is the CPU time (user + system, all threads) this process has used.
func cpuNs() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
