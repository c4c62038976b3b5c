# The targets CI and developers use. `make test` is what the README names
# and .ci/run runs; it needs root for the privileged tests.
GO ?= go
STATICCHECK = honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME ?= 10s

.PHONY: all build test unit lint fuzz bench golden clean

all: build

build:
	$(GO) build -o cell ./cmd/cell

# Every test, including the privileged ones (run as root), then a short
# run of each fuzz target, after the linters.
test: lint unit fuzz

unit:
	$(GO) test -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./spec

# Launch latency of cell against unshare and bwrap (see README).
bench: build
	$(GO) run ./cmd/cellbench -cell ./cell

# Regenerate golden files and the JSON Schema after an intended change.
golden:
	$(GO) test ./launcher/compile ./spec -run 'Golden|Schema' -update

clean:
	rm -f cell

# The cgroup tests in a throwaway VM with only cgroup v2, as root and as a
# rootless user in a delegated cgroup (.ci/test-vm; VMTEST_PKGS=./... runs
# every package there). Needs root once, to install qemu.
.PHONY: test-vm
test-vm:
	.ci/test-vm
