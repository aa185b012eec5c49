package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/tallyhq/tally/creditd"
	"github.com/tallyhq/tally/creditd/storetest"
)

// BenchmarkDeduct measures the store alone (no HTTP): concurrent keyed deductions, each goroutine on
// its own account (or all on one), synchronous FULL and NORMAL.
//
//	go test -run '^$' -bench Deduct -cpu 2 ./creditd/sqlite/
func BenchmarkDeduct(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		for _, shared := range []bool{false, true} {
			b.Run(fmt.Sprintf("sync=%s/shared=%v", sync, shared), func(b *testing.B) {
				db := MustOpenDBSync(b, filepath.Join(b.TempDir(), "bench.db"), sync)
				ctx := context.Background()
				storetest.MustCreate(b, db, "shared", 1<<50)
				var n atomic.Int64
				b.SetParallelism(8) // 16 goroutines with -cpu 2
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					g := n.Add(1)
					user := "shared"
					if !shared {
						user = fmt.Sprint("u", g)
						storetest.MustCreate(b, db, user, 1<<50)
					}
					for i := 0; pb.Next(); i++ {
						key := fmt.Sprintf("%d-%d", g, i)
						if _, err := db.Deduct(ctx, creditd.Deduction{UserID: user, Feature: "ai_search", Cost: 1,
							IdempotencyKey: key, Fingerprint: key, LowBalance: 50}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}
