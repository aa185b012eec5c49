package executor

import (
	"context"
	"runtime"
	"sort"
	"sync"

	"golang.org/x/sync/errgroup"
)

// pool holds the initialized VUs that are not running a scenario. Executors
// take VUs from it and give them back when done, so VUs are reused across
// scenarios. Free VUs are handed out lowest id first.
type pool struct {
	newVU NewVUFunc
	tuple *Tuple // global VU ids come from its striping
	state *State

	mu      sync.Mutex
	free    []VU // sorted by ID ascending
	changed chan struct{}
	nextID  uint64 // last local id handed to newVU
}

func newPool(newVU NewVUFunc, t *Tuple, st *State) *pool {
	return &pool{newVU: newVU, tuple: t, state: st, changed: make(chan struct{})}
}

// globalID returns the global id of the VU with the given local id.
func (p *pool) globalID(local uint64) uint64 { return uint64(p.tuple.Global(int64(local-1))) + 1 }

// init initializes n planned VUs, several at a time, and adds them to the
// free list. It returns the first error of newVU unchanged.
func (p *pool) init(ctx context.Context, n int64) error {
	p.mu.Lock()
	first := p.nextID + 1
	p.nextID += uint64(n)
	p.mu.Unlock()
	vus := make([]VU, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i := range vus {
		id := first + uint64(i)
		g.Go(func() error {
			vu, err := p.newVU(gctx, id, p.globalID(id))
			if err != nil {
				return err
			}
			vus[i] = vu
			p.state.VUsInitialized.Add(1)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, vu := range vus {
		p.put(vu)
	}
	return nil
}

// newUnplanned initializes one more VU beyond the planned ones. The caller
// owns it and puts it back into the pool when done.
func (p *pool) newUnplanned(ctx context.Context) (VU, error) {
	p.mu.Lock()
	p.nextID++
	id := p.nextID
	p.mu.Unlock()
	vu, err := p.newVU(ctx, id, p.globalID(id))
	if err != nil {
		return nil, err
	}
	p.state.VUsInitialized.Add(1)
	return vu, nil
}

// get takes the free VU with the lowest id, waiting for one when none is
// free (the plan makes that rare: only when a VU is returned a moment late).
func (p *pool) get(ctx context.Context) (VU, error) {
	for {
		p.mu.Lock()
		if len(p.free) > 0 {
			vu := p.free[0]
			p.free = p.free[1:]
			p.mu.Unlock()
			return vu, nil
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ch:
		}
	}
}

// put returns vu to the free list.
func (p *pool) put(vu VU) {
	p.mu.Lock()
	i := sort.Search(len(p.free), func(i int) bool { return p.free[i].ID() >= vu.ID() })
	p.free = append(p.free, nil)
	copy(p.free[i+1:], p.free[i:])
	p.free[i] = vu
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// releaser is a VU that frees what it holds when it leaves the pool for good.
type releaser interface{ Release() }

// releaseAll empties the free list for good, releasing each VU that has a
// Release method, and returns how many VUs it dropped.
func (p *pool) releaseAll() int {
	p.mu.Lock()
	free := p.free
	p.free = nil
	p.mu.Unlock()
	for i, vu := range free {
		if r, ok := vu.(releaser); ok {
			r.Release()
		}
		free[i] = nil
	}
	return len(free)
}
