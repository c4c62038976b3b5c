#!/usr/bin/env bash
# cgroupns.sh [--no-unified] HIERARCHY... -- PROGRAM [ARG...]
#
# Runs PROGRAM with a v1 hierarchy of each HIERARCHY (a comma-separated
# controller list such as hugetlb or net_cls,net_prio) at
# /sys/fs/cgroup/<first controller> (and a link for each other one), as
# runtime-tools' cgroup tests look for them. Run it in a mount namespace
# of its own with private propagation (unshare --mount --propagation
# private): it puts a tmpfs over /sys/fs/cgroup there that holds binds of
# the host's cgroup mounts and links, plus the new hierarchies, so that
# nothing of the host changes, not even a directory in its
# /sys/fs/cgroup. --no-unified leaves the cgroup2 mount out (crun 1.8
# refuses the hybrid layout). After PROGRAM it removes the cgroups the
# tests leave in the new hierarchies (a v1 hierarchy with cgroups outlives
# its mount), and exits with PROGRAM's status.
set -euo pipefail
unified=yes
if [[ ${1:-} == --no-unified ]]; then
	unified=no
	shift
fi
hier=()
while (($#)) && [[ $1 != -- ]]; do
	hier+=("$1")
	shift
done
[[ ${1:-} == -- ]] && shift
(($#)) || { echo "usage: $0 [--no-unified] HIERARCHY... -- PROGRAM [ARG...]" >&2; exit 2; }

stage=$(mktemp -d /tmp/cell-oci-cgroupfs.XXXXXX)
mount -t tmpfs -o mode=0755 cell-oci-cgroupfs "$stage"
# The host's cgroup mounts directly under /sys/fs/cgroup, bound in the
# stage under their names; its links copied as links.
while read -r line; do
	read -r _ _ _ _ point _ <<<"$line"
	fstype=${line#* - }
	fstype=${fstype%% *}
	[[ $fstype == cgroup || $fstype == cgroup2 ]] || continue
	[[ $point == /sys/fs/cgroup/* && $point != /sys/fs/cgroup/*/* ]] || continue
	name=${point#/sys/fs/cgroup/}
	[[ $fstype == cgroup2 && $unified == no ]] && continue
	[[ -e $stage/$name ]] && continue
	mkdir "$stage/$name"
	mount --bind "$point" "$stage/$name"
done </proc/self/mountinfo
for l in /sys/fs/cgroup/*; do
	[[ -L $l ]] && cp -P "$l" "$stage/"
done
made=()
for h in "${hier[@]}"; do
	mkdir "$stage/$h"
	mount -t cgroup -o "$h" cgroup "$stage/$h"
	made+=("/sys/fs/cgroup/$h")
	for c in ${h//,/ }; do
		[[ $c == "$h" ]] || ln -s "$h" "$stage/$c"
	done
done
mount --move "$stage" /sys/fs/cgroup
rmdir "$stage"

set +e
"$@"
status=$?
set -e
for m in "${made[@]}"; do
	for d in "$m"/cgrouptest "$m"/testdir; do
		[[ -d $d ]] && { find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true; }
	done
done
exit $status
