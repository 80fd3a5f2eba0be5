# syncgate — build, test, demo, bench, lint. See README.md.
GO      ?= go
BIN     := bin/syncgate
PKGS    := ./...
TESTFLAGS ?= -count=1 -timeout 15m

.PHONY: build test test-deps test-race demo bench bench-go lint fuzz clean

build:
	$(GO) build -o $(BIN) ./cmd/syncgate

# The whole test suite: unit, integration (real TLS on loopback, curl as the
# outside client, Pebble for ACME, PostgreSQL for the sync state, testssl.sh
# when SYNCGATE_TESTSSL=1). test-deps installs what is missing (as root, with
# apt-get) or stops and prints the one command to run.
test: test-deps
	$(GO) test $(TESTFLAGS) $(PKGS)

test-deps:
	@./scripts/test-deps

# The packages with concurrency under the race detector; the audit writer
# (whose tests used to depend on timing) three times over.
RACE_PKGS ?= ./proxy ./vault ./certs
test-race: test-deps
	$(GO) test -race $(TESTFLAGS) $(RACE_PKGS)
	$(GO) test -race -count=3 -timeout 15m ./audit

# The container image without a Docker daemon (deploy/docker): a static
# binary stamped with the version and the commit time, one layer on an empty
# base, written as an OCI layout (bin/image/oci) and a docker-save tarball
# (bin/image/syncgate.tar). The same commit gives the same digest.
# `docker build -f deploy/docker/Dockerfile .` builds the same with an engine.
IMAGE_ARCH    ?= $(shell $(GO) env GOARCH)
IMAGE_VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
IMAGE_REF     ?= syncgate:$(IMAGE_VERSION)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
BUILDINFO := github.com/syncgate/syncgate/internal/buildinfo

image:
	@mkdir -p bin/image
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO) build -trimpath -buildvcs=false \
		-ldflags "-s -w -buildid= -X $(BUILDINFO).version=$(IMAGE_VERSION) -X $(BUILDINFO).commit=$$(git rev-parse HEAD 2>/dev/null) -X $(BUILDINFO).buildTime=$$(date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ)" \
		-o bin/image/syncgate ./cmd/syncgate
	$(GO) run ./deploy/docker --binary bin/image/syncgate --arch $(IMAGE_ARCH) \
		--version $(IMAGE_VERSION) --revision "$$(git rev-parse HEAD 2>/dev/null)" --created $(SOURCE_DATE_EPOCH) \
		--ref $(IMAGE_REF) --out bin/image/oci --tar bin/image/syncgate.tar

# Everything on one machine on embedded defaults.
demo: build
	./$(BIN) demo

# Go benchmarks, then the whole-process comparison: direct (the floor),
# syncgate's plain listener (audit fsync batch and always), nginx and
# haproxy doing the same job, and syncgate's CONNECT interception against
# nginx's and haproxy's TLS-terminating listeners. The systems take turns,
# BENCH_ROUNDS rounds of BENCH_DURATION phases (closed loop, then paced at
# 500 req/s); medians and same-round ratios at the end. bench-deps.sh
# installs nginx/haproxy when missing (as root) or says how.
# SYNCGATE_BENCH_SYSTEMS=direct,syncgate,nginx narrows the systems.
BENCH_ROUNDS   ?= 3
BENCH_DURATION ?= 5s
bench: build
	@./scripts/bench-deps.sh
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./policy ./audit
	SYNCGATE_BENCH_ROUNDS=$(BENCH_ROUNDS) ./$(BIN) demo --bench --bench-duration $(BENCH_DURATION)

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# Run the fuzz targets of the parsers of outside input for a short while each
# (FUZZTIME=2m make fuzz for longer).
FUZZTIME ?= 20s
FUZZ_TARGETS := \
	./proxy:FuzzParseHead ./proxy:FuzzChunkedBody ./proxy:FuzzReadResponseHead \
	./policy:FuzzParse ./policy:FuzzCleanPath ./policy:FuzzNormalizeHost ./policy:FuzzParseEWS \
	./audit:FuzzVerify ./certs:FuzzInterceptHost ./certs:FuzzConstraintsForHosts \
	./emulate/ews:FuzzParseRequest ./emulate/salesforce:FuzzParseSOQL ./emulate/salesforce:FuzzParseAssertion \
	./emulate/microsoft:FuzzParseAssertion ./emulate/microsoft:FuzzParseSelect ./emulate/google:FuzzParseRecurrence

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; echo "== $$pkg $$fn"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

clean:
	rm -rf bin demo-out
