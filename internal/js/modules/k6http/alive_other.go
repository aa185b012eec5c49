//go:build !unix

package k6http

import (
	"net"
	"time"
)

// prober cannot probe connections on this platform; a stale connection is
// detected when the request on it fails (idempotent requests are retried).
type prober struct{}

func newProber(net.Conn) *prober { return nil }

func (p *prober) alive() bool { return true }

func (p *prober) sendAndWait(flush func() error, now func() time.Time) (time.Time, error) {
	err := flush()
	return now(), err
}
