# tally: the two commands users need are `make run` and `make test`.
GO      ?= go
BIN     ?= bin

.PHONY: all build test lint bench run bench-race soak
all: build

# build stamps the version (a git tag on HEAD, else dev) and the commit (+"-dirty" with uncommitted
# changes) into the binaries: `tally version` prints them (GOFLAGS=-buildvcs=false drops Go's own stamp).
VERSION  ?= $(shell git describe --tags --exact-match 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)$(shell test -n "$$(git status --porcelain 2>/dev/null)" && echo -dirty)
LDFLAGS  := -X github.com/tallyhq/tally/internal/cli.Version=$(VERSION) -X github.com/tallyhq/tally/internal/cli.Revision=$(REVISION)

build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

# test: gofmt and go vet, then every package's tests, including e2e/ (it builds tally and creditd and
# runs the scenarios' smoke profile against creditd, correct and with each fault mode; go test -short
# skips it).
# Then every fuzz target for a short time (FUZZTIME_TEST: 10s each under CI=true, 2s otherwise).
test: lint
	$(GO) test -race -count=1 ./...
	@FUZZTIME=$(FUZZTIME_TEST) GO="$(GO)" scripts/fuzz.sh

# fuzz: every Go fuzz target in the module, discovered in each package's test files (func FuzzXxx(f
# *testing.F); a new target needs no edit here), each for FUZZTIME (default 60s). A failing input is saved under the
# package's testdata/fuzz/<target>/ and runs with every go test from then on.
FUZZTIME ?= 60s
ifeq ($(CI),true)
FUZZTIME_TEST ?= 10s
else
FUZZTIME_TEST ?= 2s
endif
.PHONY: fuzz
fuzz:
	@FUZZTIME=$(FUZZTIME) GO="$(GO)" scripts/fuzz.sh

lint:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# creditd: deductions/s and p50/p99 over loopback HTTP, SQLite (and PostgreSQL when TALLY_TEST_POSTGRES
# holds a DSN), at 1, 16 and 128 clients; plus the SQLite store alone. Figures: docs/benchmarks.md.
CREDITD_BENCHTIME ?= 5s
.PHONY: bench-peers
# bench-peers: tally, Locust and wrk on the same task mix against bench/stubserver, generator and server
# on separate cores, interleaved rounds; prints requests/s, CPU per request and peak RSS with ratios to
# tally. Installs python3-locust and wrk with apt-get when absent (as root). Vary with PEERS_ROUNDS,
# PEERS_DURATION (s), PEERS_USERS, PEERS_PORT. Figures: docs/benchmarks.md (## runtime).
PEERS_ROUNDS ?= 3
PEERS_DURATION ?= 12
PEERS_USERS ?= 50
PEERS_PORT ?= 18301
bench-peers: build
	$(GO) build -o $(BIN)/ ./bench/stubserver
	BIN=$(BIN) ROUNDS=$(PEERS_ROUNDS) DURATION=$(PEERS_DURATION) USERS=$(PEERS_USERS) PORT=$(PEERS_PORT) bench/peers.sh

.PHONY: bench-vus
# bench-vus: memory per VU of bench/vus100.js (peak RSS above a 1-VU run, divided by VUs) at VUS_VUS VUs
# (default "1000 3000"), VUS_ROUNDS rounds; VUS_BASE_BIN=path/to/tally runs another binary side by side.
VUS_VUS ?= 1000 3000
VUS_ROUNDS ?= 3
VUS_BASE_BIN ?=
bench-vus: build
	$(GO) build -o $(BIN)/ ./bench/stubserver
	BIN=$(BIN) BASE_BIN=$(VUS_BASE_BIN) ROUNDS=$(VUS_ROUNDS) VUS="$(VUS_VUS)" bench/vumem.sh

.PHONY: bench-latency
# bench-latency: tally's reported http_req_duration p50 at a fixed 200 requests/s (bench/rate200.js)
# minus bench/stubserver's own handler time p50, and minus the p50 of bench/rawclient (the least a Go
# client does) at the same rate; client and server on separate cores, LATENCY_ROUNDS fresh servers of
# LATENCY_DURATION (s) each; LATENCY_RATE, LATENCY_PORT. Figures: docs/benchmarks.md (## runtime).
LATENCY_ROUNDS ?= 3
LATENCY_DURATION ?= 30
LATENCY_RATE ?= 200
LATENCY_PORT ?= 18302
bench-latency: build
	$(GO) build -o $(BIN)/ ./bench/stubserver ./bench/rawclient
	BIN=$(BIN) ROUNDS=$(LATENCY_ROUNDS) DURATION=$(LATENCY_DURATION) RATE=$(LATENCY_RATE) PORT=$(LATENCY_PORT) bench/latency.sh

.PHONY: bench-creditd
bench-creditd:
	$(GO) test -run '^$$' -bench 'Deduct' -benchtime $(CREDITD_BENCHTIME) ./cmd/creditd/ ./creditd/sqlite/

.PHONY: bench-cpu
# bench-cpu: tally's CPU per request (user+sys of the whole run / http_reqs) of race.js and normal.js on
# the quick profile, each run against a fresh creditd, this checkout side by side with BASE (another
# checkout with bin/ built, e.g. a git worktree of an older commit), CPU_ROUNDS interleaved rounds;
# prints medians and per-round ratios. Figures: docs/benchmarks.md (### Scripts: CPU per request).
CPU_ROUNDS ?= 3
CPU_PORT   ?= 18320
bench-cpu: build
	@test -n "$(BASE)" || { echo "make bench-cpu: set BASE to a checkout built with 'go build -o bin/ ./cmd/...'"; exit 2; }
	for s in race normal; do ROUNDS=$(CPU_ROUNDS) PORT=$(CPU_PORT) bench/cpu-per-request.sh $$s $(BASE) . || exit 1; done

# run: build, start creditd on a fresh SQLite file with the test endpoints, run normal.js then race.js on
# the quick profile, stop creditd (also on failure); fails when a run fails (scripts/run.sh exits with the
# runs' first non-zero status, e.g. 99; make reports any failure as 2).
# Vary with SCENARIO="normal spike race", PROFILE=full|quick|smoke, TARGET=http://host:port (a running
# service: no creditd is started), PORT (creditd's port; 0 picks a free one), CREDITD_FLAGS (e.g.
# '--fault lost-update'; default '--ai-latency 20ms+-10ms --request-timeout 10s'), TALLY_FLAGS.
SCENARIO ?= normal race
PROFILE  ?= quick
TARGET   ?=
PORT     ?= 0
CREDITD_FLAGS ?=
TALLY_FLAGS   ?=
run: build
	@SCENARIO="$(SCENARIO)" PROFILE="$(PROFILE)" TARGET="$(TARGET)" PORT="$(PORT)" BIN="$(BIN)" \
	  CREDITD_FLAGS="$(CREDITD_FLAGS)" TALLY_FLAGS="$(TALLY_FLAGS)" scripts/run.sh

# bench-race: one full race.js run (1,000 VUs at 50/s, 10 min) against creditd on SQLite; the summary is
# also written to race-full.json. Figures: docs/benchmarks.md (## scenarios).
bench-race: build
	@SCENARIO=race PROFILE=full TARGET="$(TARGET)" PORT="$(PORT)" BIN="$(BIN)" CREDITD_FLAGS="$(CREDITD_FLAGS)" \
	  TALLY_FLAGS="--summary-export race-full.json $(TALLY_FLAGS)" scripts/run.sh

# soak: normal.js for 30 minutes (500 VUs) against creditd on SQLite, tally's and creditd's resident memory
# sampled every 10 s; writes soak/rss.csv, soak/summary.json and soak/table.md (RSS per minute). Not in
# CI. Figures: docs/benchmarks.md (### Soak). PROFILE=quick makes a 40 s dry run.
soak: build
	@BIN="$(BIN)" PORT="$(PORT)" CREDITD_FLAGS="$(CREDITD_FLAGS)" TALLY_FLAGS="$(TALLY_FLAGS)" \
	  $(if $(filter command line,$(origin PROFILE)),PROFILE="$(PROFILE)") scripts/soak.sh

# k8s: write deploy/k8s/scripts.yaml, the ConfigMap of scripts/ and thresholds/ the Kubernetes run mounts
# (kubectl apply -k deploy/k8s needs it; README "Distributed runs").
k8s:
	@scripts/k8s-configmap.sh > deploy/k8s/scripts.yaml
	@echo "wrote deploy/k8s/scripts.yaml"
