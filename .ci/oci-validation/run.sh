#!/usr/bin/env bash
# The opencontainers/runtime-tools validation suite (v0.9.0, pinned by
# this directory's go.mod) against OCI runtimes, one column each:
#
#   .ci/oci-validation/run.sh [-o TABLE] [-m MIN] [-k KNOWN] NAME=RUNTIME...
#
# e.g. run.sh cell=./cell-oci crun=/usr/bin/crun runc=/usr/sbin/runc.
# Builds the 58 TAP programs and a static runtimetest from the Go module
# proxy, and their rootfs from the host's static busybox (Debian's
# busybox-static; nothing else is downloaded). Each program runs alone
# as root; node-tap (Debian's node-tap) reads its TAP. A program passes
# when node-tap finds no failure and, for the lifecycle tests that plan
# no test point (1..0) and report a failure only as a YAML "error"
# block with exit status 0, no such block.
#
# -o writes the per-test table (markdown), with the reason of each
# failure of the first runtime that KNOWN gives. -m MIN fails unless the
# first runtime passes at least MIN tests and fails none that KNOWN
# (lines "TEST<TAB>WHY") does not list: a regression fails; a listed
# test that passes is reported, to be taken off the list, unless its
# reason starts with "suite race:" (it passes or fails by timing; MIN
# is checked without it).
#
# crun 1.8 refuses this host's hybrid cgroup layout (a cgroup2 mount at
# /sys/fs/cgroup/unified beside the v1 hierarchies), so its programs run
# in a private mount namespace without that mount. The suite's cgroup
# tests are for cgroup v1: each container's cgroups are made under
# cgroupsPath in the host's v1 hierarchies, which the tests name and
# remove (the leftovers of a failed run are removed here too). They look
# for a controller's hierarchy at /sys/fs/cgroup/<controller>. Where the
# host leaves hugetlb, or net_cls and net_prio, free (hierarchy 0 in
# /proc/cgroups, enabled in no cgroup2 subtree_control), each cgroup
# program runs in a mount namespace of its own where cgroupns.sh mounts a
# v1 hierarchy of them there; the host's mount table and /sys/fs/cgroup
# stay as they were, and at the end every such hierarchy is checked to be
# gone (unbound again).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${OCI_WORK:-/tmp/cell-oci-validation}
table=""
min=0
known=/dev/null
while getopts o:m:k: opt; do
	case $opt in
	o) table=$OPTARG ;;
	m) min=$OPTARG ;;
	k) known=$(readlink -f "$OPTARG") ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
(($#)) || { echo "usage: $0 [-o TABLE] [-m MIN] [-k KNOWN] NAME=RUNTIME..." >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "$0: run as root" >&2; exit 2; }
command -v tap >/dev/null || { echo "$0: node-tap is missing (apt-get install node-tap)" >&2; exit 2; }
{ [[ -x /bin/busybox ]] && ! ldd /bin/busybox >/dev/null 2>&1; } ||
	{ echo "$0: a static /bin/busybox is missing (apt-get install busybox-static)" >&2; exit 2; }

export PATH=/usr/local/go/bin:$PATH
# Debian's node-tap finds its modules in /usr/share/nodejs only through
# NODE_PATH.
export NODE_PATH=/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}
mkdir -p "$work/run/validation"
cd "$here"
rtdir=$(go list -m -f '{{.Dir}}' github.com/opencontainers/runtime-tools)
tests=$(cd "$rtdir/validation" && ls | grep -v '^util$')
if [[ ! -x $work/run/runtimetest ]]; then
	CGO_ENABLED=0 go build -tags 'netgo osusergo' -o "$work/run/runtimetest" github.com/opencontainers/runtime-tools/cmd/runtimetest
fi
for t in $tests; do
	if [[ ! -x $work/run/validation/$t/$t.t ]]; then
		mkdir -p "$work/run/validation/$t"
		go build -o "$work/run/validation/$t/$t.t" "github.com/opencontainers/runtime-tools/validation/$t"
	fi
done

# The rootfs the programs unpack into each bundle: busybox with a link
# for each applet, and the passwd and group files process_user reads.
if [[ ! -s $work/run/rootfs-amd64.tar.gz ]]; then
	r=$(mktemp -d)
	chmod 0755 "$r" # the tarball's "./", the container's /
	mkdir -p "$r"/{bin,sbin,dev,proc,sys,etc,tmp}
	cp /bin/busybox "$r/bin/"
	for a in $(/bin/busybox --list); do [[ $a == busybox ]] || ln -s busybox "$r/bin/$a"; done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$r/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
	tar -C "$r" --numeric-owner -czf "$work/run/rootfs-amd64.tar.gz" .
	rm -rf "$r"
fi

# The programs make their bundles under TMPDIR: a directory of this
# run's own, so that cleaning up never touches another run's. Their
# cgroups have fixed names (/cgrouptest, testdir/cgrouptest) in the
# host's hierarchies, so runs on one machine take turns (flock).
export TMPDIR=$work/tmp
mkdir -p "$TMPDIR"
exec 9>/tmp/cell-oci-validation.lock
flock 9

# free reports whether every controller of the comma-separated list is
# unattached: enabled, on no v1 hierarchy (0 in /proc/cgroups) and in no
# cgroup2 subtree_control (where the kernel would refuse to move it).
free() {
	local c
	for c in ${1//,/ }; do
		awk -v c="$c" '$1 == c && $2 == 0 && $4 == 1 { ok = 1 } END { exit !ok }' /proc/cgroups || return 1
		while read -r line; do
			fstype=${line#* - }
			[[ ${fstype%% *} == cgroup2 ]] || continue
			read -r _ _ _ _ point _ <<<"$line"
			if find "$point" -name cgroup.subtree_control -exec grep -qw "$c" {} \; -print 2>/dev/null | grep -q .; then
				return 1
			fi
		done </proc/self/mountinfo
	done
}
lent=()
for h in hugetlb net_cls,net_prio; do
	if free "$h"; then
		lent+=("$h")
	fi
done
echo "v1 hierarchies mounted for the cgroup tests: ${lent[*]:-none (not free on this host)}"

# release ends the hierarchies lent to the tests. A v1 hierarchy dies
# with its last mount only if it had no cgroup then, not even a dying one
# (a removed cgroup whose resources are still being freed); such a one
# stays, unmounted, until it is mounted again and unmounted with no
# cgroup left, which release does until /proc/cgroups shows it unbound.
release() {
	local h first try d
	for h in "${lent[@]}"; do
		first=${h%%,*}
		for try in $(seq 50); do
			awk -v c="$first" '$1 == c && $2 == 0 { ok = 1 } END { exit !ok }' /proc/cgroups && continue 2
			sleep 0.1
			if ((try % 5 == 0)); then
				d=$(mktemp -d /tmp/cell-oci-release.XXXXXX)
				unshare --mount --propagation private sh -c 'mount -t cgroup -o "$1" cgroup "$2" &&
					for t in "$2"/cgrouptest "$2"/testdir; do [ -d "$t" ] && find "$t" -depth -type d -exec rmdir {} \; ; done;
					umount "$2"' sh "$h" "$d" || true
				rmdir "$d"
			fi
		done
		echo "$0: the v1 $h hierarchy lent to the tests is still bound (see /proc/cgroups)" >&2
	done
}

# cleanup removes what failed runs leave: bundles (some still mounted)
# and the tests' v1 cgroups.
cleanup() {
	for b in "$TMPDIR"/ocitest*; do
		[[ -d $b ]] || continue
		grep -q " $b" /proc/self/mountinfo && umount -R "$b" 2>/dev/null || true
		rm -rf "$b" 2>/dev/null || true
	done
	for h in /sys/fs/cgroup/*/; do
		for d in "$h"cgrouptest "$h"testdir; do
			[[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
		done
	done
}
trap 'cleanup; release' EXIT

names=()
declare -A result
for arg in "$@"; do
	name=${arg%%=*}
	rt=$(readlink -f "${arg#*=}")
	names+=("$name")
	logs=$work/logs/$name
	rm -rf "$logs"
	mkdir -p "$logs"
	for t in $tests; do
		cleanup
		prog="./validation/$t/$t.t"
		set +e
		if [[ $t == linux_cgroups_* && ${#lent[@]} -gt 0 ]]; then
			nounified=()
			[[ $name == crun* ]] && nounified=(--no-unified)
			(cd "$work/run" && RUNTIME=$rt timeout -k 5 120 unshare --mount --propagation private "$here/cgroupns.sh" "${nounified[@]}" "${lent[@]}" -- "$prog") >"$logs/$t.tap" 2>"$logs/$t.err"
		elif [[ $name == crun* ]]; then
			(cd "$work/run" && RUNTIME=$rt timeout -k 5 120 unshare -m sh -c 'umount -l /sys/fs/cgroup/unified 2>/dev/null; exec "$0"' "$prog") >"$logs/$t.tap" 2>"$logs/$t.err"
		else
			(cd "$work/run" && RUNTIME=$rt timeout -k 5 120 "$prog") >"$logs/$t.tap" 2>"$logs/$t.err"
		fi
		status=$?
		tap -R silent --no-coverage - <"$logs/$t.tap" >/dev/null 2>&1
		tapstatus=$?
		set -e
		# Without test points: a lifecycle test (1..0) fails with a YAML
		# error block; a *_fail test prints nothing and exits 0 when the
		# runtime refused what it had to; a non-zero status is a program
		# that failed before any verdict.
		points=$(grep -cE '^(not )?ok ' "$logs/$t.tap" || true)
		if ((points == 0)) && grep -q '"error":' "$logs/$t.tap"; then
			verdict=FAIL
		elif ((points == 0)); then
			((status == 0)) && verdict=PASS || verdict=ERROR
		elif ((status != 0 || tapstatus != 0)); then
			verdict=FAIL
		else
			verdict=PASS
		fi
		result[$name,$t]=$verdict
	done
done

declare -A why
while IFS=$'\t' read -r t reason; do
	[[ -z $t || $t == \#* ]] || why[$t]=$reason
done <"$known"

first=${names[0]}
out=$(
	printf '| test |'
	for n in "${names[@]}"; do printf ' %s |' "$n"; done
	printf ' why %s fails |\n|---|' "$first"
	for n in "${names[@]}"; do printf -- '---|'; done
	printf -- '---|\n'
	for t in $tests; do
		printf '| %s |' "$t"
		for n in "${names[@]}"; do printf ' %s |' "${result[$n,$t]}"; done
		if [[ ${result[$first,$t]} == PASS ]]; then printf ' |\n'; else printf ' %s |\n' "${why[$t]:-?}"; fi
	done
	printf '| **passed** |'
	for n in "${names[@]}"; do
		c=0
		for t in $tests; do [[ ${result[$n,$t]} == PASS ]] && c=$((c + 1)); done
		printf ' **%d of %d** |' "$c" "$(wc -w <<<"$tests")"
	done
	printf ' |\n'
)
echo "$out"
[[ -z $table ]] || echo "$out" >"$table"

passed=0 raced=0
missing=() regressed=() stale=()
for t in $tests; do
	if [[ ${result[$first,$t]} == PASS ]]; then
		passed=$((passed + 1))
		# A race passes by timing: it stays listed, and MIN is
		# checked without it.
		if [[ ${why[$t]:-} == "suite race:"* ]]; then
			raced=$((raced + 1))
		elif [[ -n ${why[$t]:-} ]]; then
			stale+=("$t")
		fi
		continue
	fi
	[[ -n ${why[$t]:-} ]] || regressed+=("$t")
	for n in "${names[@]:1}"; do
		if [[ ${result[$n,$t]} == PASS ]]; then missing+=("$t"); break; fi
	done
done
echo "$first: $passed passed ($raced of them races that may fail)"
echo "passed by another runtime but not by $first: ${missing[*]:-none}"
echo "failed by $first and not listed in $known: ${regressed[*]:-none}"
((${#stale[@]} == 0)) || echo "listed as failing but passed (take them off the list): ${stale[*]}"
((min == 0)) || { ((passed - raced >= min)) && ((${#regressed[@]} == 0)); }
