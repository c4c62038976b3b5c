# The targets CI and developers use. `make test` is what the README names
# and .ci/run runs; it needs root for the privileged tests.
GO ?= go
STATICCHECK = honnef.co/go/tools/cmd/staticcheck@v0.8.2
# exhaustive: every switch over one of cell's enums (a type of this module
# with constants, such as plan.Op, plan.Side, spec.MountType) names every
# constant; a default case does not count, so a new constant cannot be
# forgotten. Switches over other modules' enums (reflect.Kind, errnos)
# are not checked: they have hundreds of values and cell means only some.
# A switch whose unnamed cases share its default says so with
# //exhaustive:ignore.
EXHAUSTIVE = github.com/nishanths/exhaustive/cmd/exhaustive@v0.17.1
FUZZTIME ?= 10s

.PHONY: all build test unit lint fuzz bench bench-pool bench-smoke soak golden clean man install test-oci

all: build

# cell, and cell-init beside it: the sandboxes' init built on its own,
# which cell runs when it comes from the same (committed) build.
# -buildvcs=auto (over a GOFLAGS that turns it off) stamps both with the
# revision that cell compares. CGO_ENABLED=0 makes static binaries: no
# dynamic loader and no cgo runtime to start, ~3 ms a launch (measured:
# median 28.8 against 31.8 ms); cell needs no C (os/user and net have
# pure-Go implementations). The urfave_cli_no_docs tag leaves out
# urfave/cli's markdown and man renderers, whose package initialisers
# cost every cell process ~1 ms (cell renders its man page itself).
#
# cell itself is the lean run binary (-tags cell_lean): it leaves out the
# review tools (lint, diff, explain, show, schema, profiles), OCI bundles
# and export, CRIU (checkpoint, restore) and the egress proxy with its DNS
# library, whose packages made every launch start a 24 MB program and
# run their initialisers (measured: cell --help 23.4 against ~15 ms).
# cell-tools is cmd/cell built without the tag, every command linked:
# cell runs it with its own arguments for what it leaves out, and as the
# egress proxy. cell carries cell-tools' Go build ID (-X main.toolsID)
# and runs no other cell-tools, so cell-tools is built first.
build:
	CGO_ENABLED=0 $(GO) build -buildvcs=auto -tags urfave_cli_no_docs -o cell-tools ./cmd/cell
	CGO_ENABLED=0 $(GO) build -buildvcs=auto -tags urfave_cli_no_docs,cell_lean -ldflags "-X main.toolsID=$$($(GO) tool buildid cell-tools)" -o cell ./cmd/cell
	CGO_ENABLED=0 $(GO) build -buildvcs=auto -o cell-init ./cmd/cell-init
	CGO_ENABLED=0 $(GO) build -buildvcs=auto -o cell-oci ./cmd/cell-oci

# Every test, including the privileged ones (run as root), a short run of
# each fuzz target, after the linters; then the cgroup and integration
# tests again in a VM with only cgroup v2 (test-vm).
test: lint unit fuzz bench-smoke test-oci test-vm

# cmd/cell's integration tests and CLI scripts launch through make
# build's cell (the lean run binary, with cell-tools beside it), not the
# test binary: CELL_TEST_CELL. cmd/cell-oci's engine tests run after the
# rest, not beside it: containerd and podman mount their containers' root
# file systems in the host's mount table, which cmd/cell's tests check
# for mounts a sandbox leaked.
unit: build
	CELL_TEST_CELL=$(CURDIR)/cell $(GO) test -count=1 $$($(GO) list ./... | grep -v '/cmd/cell-oci$$')
	CELL_TEST_CELL=$(CURDIR)/cell $(GO) test -count=1 ./cmd/cell-oci

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@if git grep -nE '\.\.[/]shared' -- .; then echo "lint: the lines above name a directory beside the checkout, which a clone does not have"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(GO) build -o /dev/null -tags cell_lean,urfave_cli_no_docs ./cmd/cell
	$(GO) run $(STATICCHECK) -tags cell_lean -tests=false ./cmd/cell ./launcher
	$(GO) run $(EXHAUSTIVE) -typeonly '^github\.com/cellsandbox/cell/' ./...

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./spec

# Launch latency, CPU and memory of cell against unshare, bwrap and crun
# (with issue 16's reference rows and targets), then throughput at 1, 2
# and 8 workers, the growth tables (binds, running sandboxes) and the
# cost table of a traced launch (see README's Speed section).
bench: build
	$(GO) build -o cellbench ./cmd/cellbench
	./cellbench -cell ./cell
	for c in 1 2 8; do ./cellbench -cell ./cell -throughput -c $$c -d 8 || exit 1; done
	./cellbench -cell ./cell -growth -n 50 -warmup 5
	./cellbench -cell ./cell -trace -n 100

# Latency of a request on a warm pool (as root): the Go API's Client.Run
# of /bin/true, with and without statistics, and cell run --pool; the
# median is reported as ms/median (see BenchmarkPool).
bench-pool: build
	CELL_BENCH_CELL=$(CURDIR)/cell $(GO) test -count=1 -run '^$$' -bench '^BenchmarkPool$$' -benchtime 200x ./cmd/cell

# The benchmark's latency (every variant row too), memory, throughput,
# growth (tiny counts) and trace modes, a few launches each: proves they run (bwrap and crun side by side included); asserts no
# figure. Without bwrap (a fresh machine) it is skipped, and without crun
# cellbench skips crun's rows, but neither under CELL_TEST_STRICT, as in
# CI, which installs both.
bench-smoke: build
	@if ! command -v bwrap >/dev/null && [ -z "$$CELL_TEST_STRICT" ]; then \
		echo "bench-smoke: skipped: bwrap is not installed (apt-get install bubblewrap)"; exit 0; fi; \
	if ! command -v crun >/dev/null && [ -n "$$CELL_TEST_STRICT" ]; then \
		echo "bench-smoke: crun is not installed, and CELL_TEST_STRICT forbids skipping its rows (apt-get install crun)"; exit 1; fi; \
	set -x; \
	$(GO) run ./cmd/cellbench -cell ./cell -n 3 -warmup 1 -mem 1 >/dev/null && \
	$(GO) run ./cmd/cellbench -cell ./cell -throughput -c 2 -d 0.5 -warmup 1 >/dev/null && \
	$(GO) run ./cmd/cellbench -cell ./cell -growth -binds 0,2 -running 0,2 -n 2 -warmup 0 >/dev/null && \
	$(GO) run ./cmd/cellbench -cell ./cell -trace -n 2 -warmup 0 >/dev/null

# Thousands of build-worker launches with limits, 2 and 8 at a time, some
# cell processes SIGKILLed; fails on any leak (make test runs 40 of them).
SOAK_N ?= 2000
soak:
	CELL_SOAK_N=$(SOAK_N) $(GO) test -count=1 -timeout 60m -run '^TestSoak$$' -v ./cmd/cell

# Regenerate golden files and the JSON Schema after an intended change.
golden:
	$(GO) test ./internal/compile ./spec -run 'Golden|Schema' -update
	$(GO) test ./spec/lint -run Golden -update
	$(GO) test ./launcher/plan -run OpTableInREADME -update

# The manual page and shell completions come from the CLI's own definition.
man: build
	./cell man > cell.1

PREFIX ?= /usr/local
install: build man
	install -D -m 0755 cell $(DESTDIR)$(PREFIX)/bin/cell
	install -D -m 0755 cell-init $(DESTDIR)$(PREFIX)/bin/cell-init
	install -D -m 0755 cell-tools $(DESTDIR)$(PREFIX)/bin/cell-tools
	install -D -m 0644 cell.1 $(DESTDIR)$(PREFIX)/share/man/man1/cell.1
	./cell completion bash | install -D -m 0644 /dev/stdin $(DESTDIR)$(PREFIX)/share/bash-completion/completions/cell
	./cell completion zsh | install -D -m 0644 /dev/stdin $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_cell
	./cell completion fish | install -D -m 0644 /dev/stdin $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/cell.fish

# The opencontainers/runtime-tools validation suite (58 TAP programs,
# pinned in .ci/oci-validation) against cell-oci, beside crun and runc
# (as root; see .ci/oci-validation/run.sh). It fails unless cell-oci
# passes at least OCI_MIN of them and fails none that
# .ci/oci-validation/known-failures.tsv does not list with its reason,
# and writes the per-test table to oci-validation.md.
OCI_MIN ?= 42
test-oci: build
	.ci/oci-validation/run.sh -o oci-validation.md -m $(OCI_MIN) -k .ci/oci-validation/known-failures.tsv cell=$(CURDIR)/cell-oci crun=$$(command -v crun) runc=$$(command -v runc)

clean:
	rm -f cell cell-init cell-oci cell-tools cell.1 cellbench oci-validation.md

# The cgroup tests in a throwaway VM with only cgroup v2, as root and as a
# rootless user in a delegated cgroup (.ci/test-vm; VMTEST_PKGS=./... runs
# every package there). Needs root once, to install qemu.
# Then the integration tests of cmd/cell that need only the VM's busybox
# userland and root: namespaces, limits enforced on v2, update, freeze.
# (Left out: rootless ones, which need the test user; ID-mapped mounts,
# which the VM's 6.1 kernel lacks on tmpfs; those that orphan a sandbox,
# which the VM's init mishandles.)
VM_CELL_TESTS = ^(TestNamespaces|TestIDMaps|TestReadOnlyBind|TestTmpfsSize|TestExitStatus|TestSignalForwarding|TestMemoryLimit|TestPidsLimit|TestCPULimit|TestUpdateFreezeThaw|TestLimitNotEnforceable|TestPrivileges|TestSeccomp|TestProcHardened|TestHostname|TestNetworkNone|TestDeviceRules|TestMknodGuard|TestCgroupMount|TestHugetlbLimitV2)$$
# Then cell checkpoint and restore (CRIU), which this host's kernel may be
# too new for: criu and the programs it runs, with their libraries, are
# copied into the VM, whose Debian kernel Debian's CRIU supports.
VM_CRIU = VMTEST_BINS="criu tar gzip" VMTEST_MODULES="unix_diag inet_diag tcp_diag netlink_diag" \
	VMTEST_PASSENV=CELL_TEST_CRIU CELL_TEST_CRIU=1
.PHONY: test-vm bench-criu
test-vm:
	.ci/test-vm
	VMTEST_PKGS=./cmd/cell VMTEST_ROOTLESS=0 VMTEST_RUN='$(VM_CELL_TESTS)' .ci/test-vm
	$(VM_CRIU) VMTEST_PKGS=./cmd/cell VMTEST_ROOTLESS=0 VMTEST_RUN='^TestCheckpoint' .ci/test-vm

# Warm starts: restore latency of a checkpointed sandbox against its cold
# start, in the VM (BenchmarkWarmStart; emulated, so slower than a host).
bench-criu:
	CGO_ENABLED=0 $(GO) test -c -o cell-criu.test ./cmd/cell
	cd cmd/cell && $(VM_CRIU) VMTEST_SHARE=$(CURDIR) $(CURDIR)/.ci/vm/run-in-vm.sh $(CURDIR)/cell-criu.test \
		-test.run '^$$' -test.bench '^BenchmarkWarmStart$$' -test.benchtime 3x; rc=$$?; rm -f $(CURDIR)/cell-criu.test; exit $$rc
