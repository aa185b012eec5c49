# tally: the two commands users need are `make run` and `make test`.
GO      ?= go
BIN     ?= bin

.PHONY: all build test lint bench
all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

test: lint
	$(GO) test -race -count=1 ./...

lint:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# creditd: deductions/s and p50/p99 over loopback HTTP, SQLite (and PostgreSQL when TALLY_TEST_POSTGRES
# holds a DSN), at 1, 16 and 128 clients; plus the SQLite store alone. Figures: docs/benchmarks.md.
CREDITD_BENCHTIME ?= 5s
.PHONY: bench-creditd
bench-creditd:
	$(GO) test -run '^$$' -bench 'Deduct' -benchtime $(CREDITD_BENCHTIME) ./cmd/creditd/ ./target/sqlite/
