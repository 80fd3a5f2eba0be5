# syncgate — build, test, demo, bench, lint. See README.md.
GO      ?= go
BIN     := bin/syncgate
PKGS    := ./...
TESTFLAGS ?= -count=1 -timeout 15m

.PHONY: build test test-race demo bench bench-go lint fuzz clean

build:
	$(GO) build -o $(BIN) ./cmd/syncgate

# The whole test suite: unit, integration (real TLS on loopback, curl as the
# outside client, Pebble for ACME, testssl.sh when SYNCGATE_TESTSSL=1).
test:
	$(GO) test $(TESTFLAGS) $(PKGS)

test-race:
	$(GO) test -race $(TESTFLAGS) $(PKGS)

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

# Run each fuzz target for a short while.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzCleanPath -fuzztime 20s ./policy
	$(GO) test -run '^$$' -fuzz FuzzNormalizeHost -fuzztime 20s ./policy
	$(GO) test -run '^$$' -fuzz FuzzParse$$ -fuzztime 20s ./policy
	$(GO) test -run '^$$' -fuzz FuzzParseHead -fuzztime 20s ./proxy

clean:
	rm -rf bin demo-out
