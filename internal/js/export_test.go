package js

import "github.com/tallyhq/tally/internal/vustate"

// EventLoop exposes a VU's event loop to the external tests.
func EventLoop(v *VU) vustate.EventLoop { return v.loop }
