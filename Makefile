# faultline: the targets people guess. `make run` and `make test` are the two
# a new user needs (see README.md); both build what they need first.

GO       ?= go
BIN      := bin/faultline
SCENARIO ?= scenarios/etcd-register.yaml

.PHONY: build images run test test-short bench bench-detect bench-systems lint fmt clean deps

# The commit goes into `faultline version` even where Go stamps no VCS
# information (GOFLAGS=-buildvcs=false).
COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null)$(shell git diff --quiet HEAD 2>/dev/null || echo -modified)

build:
	$(GO) build -ldflags "-X main.commit=$(COMMIT)" -o $(BIN) ./cmd/faultline

# Builds the built-in systems' images (etcd from the Go module proxy, refkv
# from this module) FROM scratch; a no-op when their inputs have not changed.
# A run builds any other system's image it needs (docs/systems.md).
images: build
	./$(BIN) images

# Runs the default scenario (or SCENARIO=...), prints the verdict and where
# the run is stored. Exit code: 0 valid, 1 invalid, 2 unknown, 3 could not run.
run: images
	./$(BIN) run $(SCENARIO)

# Unit tests, network-namespace tests with real packets, and end-to-end runs
# against real etcd in Docker. Needs root (CAP_NET_ADMIN + CAP_SYS_ADMIN).
# Packages run one at a time: the end-to-end runs share the Docker engine
# and two cores.
test: deps images lint
	$(GO) test -p 1 -count=1 -timeout 25m ./...

# The fast loop: every unit test that needs neither root, Docker nor a
# browser (the end-to-end tests skip under -short). About half a minute.
test-short:
	$(GO) test -short -count=1 ./...

# What the tests need besides Go and Docker: a headless browser to render
# report.html, and the nft command for the benchmark's baseline. Installed
# from Debian's packages when missing (tests run as root anyway).
deps:
	@command -v chromium >/dev/null 2>&1 && command -v nft >/dev/null 2>&1 || \
	  { echo "installing chromium and nftables from Debian's packages"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium nftables >/dev/null; }

# Figures, side by side with their baselines: partition apply/heal latency
# on a 5-node cluster, netlink batches vs spawning nft per node (needs the
# nft command: apt-get install nftables) and the kernel's floor, then
# direct vs through helper containers; checker time and peak heap on
# recorded runs and on synthetic histories of 10^4 to 10^6 operations,
# against one unpartitioned porcupine call (given a minute).
bench: deps images
	$(GO) test -run '^$$' -bench . -benchtime 200x ./nemesis/
	$(GO) test -run '^$$' -bench HelperApplyHeal -benchtime 200x ./harness/
	$(GO) test -run '^$$' -bench . -benchtime 1x ./checker/

# refkv's bugs (docs/subject.md): `make bug-NAME` runs scenarios/bugs/NAME.yaml,
# for example `make bug-heartbeat-port-fd`; the verdict is INVALID, as each
# declares (expected: invalid), so finding the bug exits 0.
BUGS := $(basename $(notdir $(wildcard scenarios/bugs/*.yaml)))
.PHONY: $(addprefix bug-,$(BUGS))
$(addprefix bug-,$(BUGS)): bug-%: images
	./$(BIN) run scenarios/bugs/$*.yaml

# The detection table in README.md: for each bug, 5 seeds with its fault,
# 5 with the weaker fault where it has one, and the correct build under its
# scenario (2 seeds). About 40 minutes; runs are kept in store/bench-detect.
bench-detect: images
	$(GO) run ./cmd/bench-detect -seeds 5 -correct-seeds 2 scenarios/bugs

# Systems side by side: each example system's and etcd's cluster ready time
# (3 nodes), the operations per second the client paths record with the
# rate cap lifted (built-in etcd adapter, a client program, the JSON-lines
# path alone), and how soon the example systems' anomalies are found over
# 5 seeds. About 15 minutes; runs are kept in store/bench-systems and
# store/bench-detect.
bench-systems: images
	$(GO) run ./cmd/bench-systems -runs 3
	$(GO) run ./cmd/bench-detect -seeds 5 examples/redis-sentinel/scenarios/isolate-master.yaml examples/mnesia/scenarios/split-brain.yaml

# gofmt, go vet, golangci-lint (.golangci.yml: functions of at most 100
# lines, staticcheck's bug finders), and the builds a laptop needs:
# everything builds on macOS (the nemesis says "not supported" there at
# run time), and the offline parts (checker, history, scenarios) on Windows
# too. golangci-lint is installed from the Go module proxy when missing.
GOLANGCI := $(shell $(GO) env GOPATH)/bin/golangci-lint
$(GOLANGCI):
	GOFLAGS= $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0

lint: $(GOLANGCI)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=darwin $(GO) build ./...
	GOOS=windows $(GO) build ./checker/... ./history/... ./scenarios/...
	$(GOLANGCI) run ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# Removes build output and every faultline container and network left in
# the Docker engine. The store (your recorded runs) is kept.
clean: build
	./$(BIN) clean
	rm -rf bin
