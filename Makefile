# WoTChain bridge. `make demo` runs the appliance on the embedded default;
# `make test` runs the whole test suite. Both install what they need first.

GO      ?= go
BIN     := bin/wotchain
FUZZTIME ?= 10s
VERSION ?= 0.1.0

.PHONY: all deps test-deps build wasm demo demo-fabric fabric-up fabric-down deb test vet fuzz reliability-long clean

all: build

deps:
	@scripts/install-deps
	@$(GO) mod download

# Servers the tests run against, built from the Go module proxy into a cache.
test-deps: deps
	@scripts/build-minio >/dev/null
	@scripts/build-nfpm >/dev/null
	@$(GO) run ./fabric/cmd/fabricnet binaries >/dev/null

build: deps wasm
	$(GO) build -o $(BIN) ./appliance/cmd/wotchain

# The partner's offline verifier (/verify): bridge/proof compiled to
# WebAssembly, with the Go installation's wasm_exec.js. Both are build
# outputs the appliance embeds (not committed); without them /verify says
# how to build them.
VERIFY_WEB := appliance/httpapi/web/verify
wasm:
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags='-s -w' -o $(VERIFY_WEB)/verify.wasm ./appliance/cmd/verifywasm
	cp "$$($(GO) env GOROOT)/lib/wasm/wasm_exec.js" $(VERIFY_WEB)/wasm_exec.js

# Three simulated devices on 127.0.0.1, state under data/demo. Ctrl-C stops it.
demo: build
	$(BIN) run --config configs/demo.yaml

# A local Hyperledger Fabric network (2 organisations, TLS, the project's
# chaincode) under fabric/.network; the first run builds Fabric (1-2 min).
fabric-up: deps
	$(GO) run ./fabric/cmd/fabricnet up >/dev/null
	@echo "Fabric network up: fabric/.network/network.json"

fabric-down:
	$(GO) run ./fabric/cmd/fabricnet down

# The demo anchoring on Fabric: network up, appliance registered by the
# manufacturer's admin, then run. Partners: configs/partner-fabric.yaml.
demo-fabric: build fabric-up
	$(BIN) register --config configs/demo-fabric.yaml
	$(BIN) run --config configs/demo-fabric.yaml

# A Debian package (binary, hardened systemd unit, default config, state
# directory) in dist/, built with nfpm from the Go module proxy.
deb: build
	@mkdir -p dist
	VERSION=$(VERSION) ARCH=amd64 $$(scripts/build-nfpm) pkg --packager deb --config packaging/nfpm.yaml --target dist/

test: test-deps wasm vet
	$(GO) test -count=1 ./...

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

# Each fuzz target for FUZZTIME, a duration or a count of runs such as 100000x
# (go test runs one target per invocation). With a duration, Go 1.26 can
# fail a target with a bare "context deadline exceeded" and no crasher
# (golang/go#75804): rerun it, or use a count.
fuzz: deps
	@$(GO) list -f '{{.ImportPath}}' ./... | while read -r pkg; do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 100x $$pkg || exit 1; \
	  done; \
	done

# The long forms of the fault tests (docs/RELIABILITY.md): 50 kill -9 under
# load; ledger and storage down for minutes; device faults and simulator
# restarts for 10 minutes; the disk budget filled and recovered 10 times
# under each policy. About 35 minutes.
reliability-long: test-deps
	WOTCHAIN_E2E_KILLS=50 $(GO) test -count=1 -timeout 30m -run Killed -v ./appliance/e2e/
	WOTCHAIN_E2E_OUTAGE=3m $(GO) test -count=1 -timeout 30m -run 'UplinksDown' -v ./appliance/e2e/
	WOTCHAIN_E2E_FAULT_WINDOW=10m $(GO) test -count=1 -timeout 30m -run 'DeviceFaults' -v ./appliance/e2e/
	WOTCHAIN_E2E_BUDGET_ROUNDS=10 $(GO) test -count=1 -timeout 60m -run 'DiskBudget' -v ./appliance/e2e/

clean:
	rm -rf bin data dist
