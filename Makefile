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

# Everything on one machine on embedded defaults.
demo: build
	./$(BIN) demo

# Go benchmarks, then the whole-process comparison (direct vs through the gateway).
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./policy ./audit
	./$(BIN) demo --bench

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# Run the fuzz targets of the parsers of outside input for a short while each
# (FUZZTIME=2m make fuzz for longer).
FUZZTIME ?= 20s
FUZZ_TARGETS := \
	./proxy:FuzzParseHead ./proxy:FuzzChunkedBody \
	./policy:FuzzParse ./policy:FuzzCleanPath ./policy:FuzzNormalizeHost ./policy:FuzzParseEWS \
	./audit:FuzzVerify ./certs:FuzzInterceptHost \
	./emulate/ews:FuzzParseRequest ./emulate/salesforce:FuzzParseSOQL ./emulate/salesforce:FuzzParseAssertion \
	./emulate/microsoft:FuzzParseAssertion ./emulate/microsoft:FuzzParseSelect ./emulate/google:FuzzParseRecurrence

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; echo "== $$pkg $$fn"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

clean:
	rm -rf bin demo-out
