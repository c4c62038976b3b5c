#!/usr/bin/env bash
# run-in-vm.sh: runs one static Linux binary in a throwaway QEMU VM that
# boots Debian's stock kernel with cgroup v2 as its only cgroup hierarchy,
# relays the binary's output and exits with its status.
#
#   .ci/vm/run-in-vm.sh BINARY [ARGS...]
#
# Why a VM: the machines cell is developed and tested on may mount some
# controllers on cgroup v1, and a test on the host cannot change that. Why
# this kernel: it is the one cell's users run, with no configuration of ours.
#
# Everything comes from the distribution's package manager: qemu-system-x86
# and busybox-static are installed with apt-get when missing (root is
# needed then, and only then), and the kernel package that linux-image-amd64
# depends on is fetched with apt-get download into a cache, never installed.
# The guest's userland is busybox; the binary runs there as root (or as
# VMTEST_USER) in the root cgroup (or VMTEST_CGROUP), with stdin /dev/null
# and stdout and stderr one pipe (as under go test, not a terminal).
#
# Exit status: the binary's (128+N if signal N killed it), 124 if the VM
# ran out of time, 125 if the VM ended without reporting a status (the
# tail of the guest's console is then printed on stderr).
#
# Settings (environment):
#   VMTEST_SHARE=DIR    shares DIR over 9p at the same path in the guest,
#                       read-only; the binary starts in the current
#                       directory when it is inside DIR ("cwd": this one)
#   VMTEST_PASSENV="A B"  environment variables copied into the guest
#   VMTEST_USER=UID[:GID] runs the binary as that user (GID defaults to UID)
#   VMTEST_CGROUP=PATH  starts the binary in /sys/fs/cgroup/PATH, with the
#                       memory, pids, cpu, cpuset and io controllers enabled
#                       down to it; with VMTEST_USER it is delegated to that
#                       user the way systemd delegates a unit's cgroup
#   VMTEST_BINS="P..."  host programs (names on PATH, or paths) copied
#                       into the guest's /bin with the shared libraries
#                       ldd lists for them (e.g. "criu tar gzip": the
#                       checkpoint tests; the guest has no libc of its own)
#   VMTEST_MODULES="M..." kernel modules loaded before the binary starts,
#                       of those the guest carries (see carry below; the
#                       others there load on demand)
#   VMTEST_TIMEOUT      seconds the whole VM may run (600)
#   VMTEST_BOOT_TIMEOUT seconds the guest may take to reach the binary (60);
#                       a guest stuck in boot is started again, twice at most
#   VMTEST_MEM, VMTEST_SMP  guest memory (1G) and processors (2)
#   VMTEST_KERNEL_PKG   the kernel package (default: linux-image-amd64's)
#   VMTEST_CACHE        cache directory (${XDG_CACHE_HOME:-~/.cache}/cell-vm)
#   VMTEST_VERBOSE=1    copies the guest's console to stderr
set -euo pipefail

me=run-in-vm
fail() {
	echo "$me: $*" >&2
	exit 125
}
(($# >= 1)) || fail "usage: $0 BINARY [ARGS...]"
bin=$1
shift
[[ -f $bin && -x $bin ]] || fail "$bin: not an executable file"
[[ $(uname -m) == x86_64 ]] || fail "only x86_64 hosts are supported (this is $(uname -m))"

cache=${VMTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cell-vm}
mkdir -p "$cache"

# apt-get install, updating the package lists once if they are too old to
# know the package.
apt_install() {
	echo "$me: installing $* (apt-get)" >&2
	export DEBIAN_FRONTEND=noninteractive
	{ apt-get install -y --no-install-recommends "$@" ||
		{ apt-get update && apt-get install -y --no-install-recommends "$@"; }; } >&2 ||
		fail "apt-get install $*: failed (run as root once, or install them)"
}
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
# The guest's userland, and our cpio and depmod on the host: it must be
# the static build (the "busybox" package's is dynamic and the guest has
# no libc).
bb=/bin/busybox
{ [[ -x $bb ]] && ! ldd "$bb" >/dev/null 2>&1; } || need+=(busybox-static)
command -v xz >/dev/null || need+=(xz-utils)
((${#need[@]} == 0)) || apt_install "${need[@]}"

# ---------------------------------------------------------------- kernel

# kernel_pkg prints the package linux-image-amd64 depends on: Debian's
# current stock kernel.
kernel_pkg() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1
}

# fetch_kernel PKG DIR: downloads PKG (apt-get download: nothing is
# installed) and keeps its .deb in DIR.
fetch_kernel() {
	local pkg=$1 dir=$2 tmp
	tmp=$(mktemp -d "$cache/fetch.XXXXXX")
	echo "$me: fetching $pkg (apt-get download)" >&2
	# As root, apt drops to the user _apt, which cannot write here.
	(cd "$tmp" && apt-get download -o APT::Sandbox::User=root "$pkg") >&2 || {
		rm -rf "$tmp"
		return 1
	}
	mkdir -p "$dir"
	mv "$tmp"/*.deb "$dir/kernel.deb"
	rm -rf "$tmp"
}

# vmlinux BZIMAGE OUT: writes the uncompressed ELF kernel that a bzImage
# carries. QEMU boots it through its PVH entry point, which skips the
# firmware, the real-mode set-up and the decompression in the guest: ~2.5 s
# of every boot under software emulation. The boot protocol's header gives
# the size of the set-up code (in 512-byte sectors, at 0x1f1) and where the
# payload starts in the protected-mode part (0x248) and its length (0x24c).
vmlinux() {
	local k=$1 out=$2 sects off len
	sects=$(od -An -tu1 -j 497 -N 1 "$k" | tr -d ' ')
	off=$(od -An -tu4 -j 584 -N 4 "$k" | tr -d ' ')
	len=$(od -An -tu4 -j 588 -N 4 "$k" | tr -d ' ')
	((sects)) || sects=4
	# xz says the stream ends early (the kernel's own decompressor reads
	# it to the end of the image, not of the stream); what matters is that
	# the whole ELF came out.
	dd if="$k" iflag=skip_bytes,count_bytes skip=$(((sects + 1) * 512 + off)) count="$len" bs=64K status=none |
		xz -dc 2>/dev/null >"$out.tmp" || true
	if [[ $(od -An -tx1 -N 4 "$out.tmp") != " 7f 45 4c 46" ]]; then
		rm -f "$out.tmp"
		return 1
	fi
	mv "$out.tmp" "$out"
}

pkg=${VMTEST_KERNEL_PKG:-}
{
	# One set-up at a time: parallel runs share the cache.
	flock 9
	if [[ -z $pkg ]]; then
		pkg=$(kernel_pkg)
		[[ -n $pkg ]] || { apt-get update >&2 && pkg=$(kernel_pkg); }
		[[ -n $pkg ]] || fail "apt-cache depends linux-image-amd64: no kernel package"
	fi
	kdir=$cache/$pkg
	if [[ ! -f $kdir/kernel.deb ]]; then
		# Old lists may name a kernel the archive has dropped since.
		fetch_kernel "$pkg" "$kdir" || {
			apt-get update >&2
			[[ -n ${VMTEST_KERNEL_PKG:-} ]] || pkg=$(kernel_pkg)
			kdir=$cache/$pkg
			fetch_kernel "$pkg" "$kdir"
		} || fail "apt-get download $pkg: failed"
		# The kernels this one replaces (~150 MB each), unless a run
		# began with one within the hour.
		find "$cache" -mindepth 1 -maxdepth 1 -type d -name 'linux-image-*' ! -name "$pkg" -mmin +60 \
			-exec rm -rf {} +
	fi
	touch "$kdir"
} 9>"$cache/lock"

# ------------------------------------------------------ guest's base image

# Modules the guest carries, with everything they depend on: the block,
# file system, network and netfilter drivers cell and its tests use, the
# socket diagnostics criu reads sockets with, and the 9p share. Anything carried loads on demand too (the kernel calls
# /sbin/modprobe, busybox's).
carry="kernel/drivers/block/loop.ko kernel/fs/overlayfs kernel/fs/fuse kernel/fs/9p
 kernel/fs/netfs kernel/fs/fscache kernel/net/9p kernel/drivers/virtio
 kernel/drivers/net/veth.ko kernel/drivers/net/dummy.ko kernel/drivers/net/tun.ko
 kernel/drivers/net/macvlan.ko kernel/drivers/net/ipvlan kernel/net/bridge
 kernel/net/802 kernel/net/llc kernel/net/netfilter kernel/net/ipv4 kernel/net/ipv6
 kernel/net/unix kernel/net/netlink kernel/net/packet
 kernel/crypto kernel/arch/x86/crypto"
# Loaded at boot: what a test should not wait for on first use. (Each
# run's VMTEST_MODULES are loaded after these, not built into the image:
# runs with different ones share it.)
preload="loop overlay veth bridge nf_tables"
share_modules="virtio_pci 9pnet_virtio 9p"

# The guest's PID 1. Stage 1 moves the root to a tmpfs: pivot_root(2),
# which cell uses, refuses to leave the initramfs's rootfs. The modules and
# the run's files are bind-mounted, not copied, to keep boot short.
init_script() {
	cat <<'EOF'
#!/bin/sh
export PATH=/bin
if [ "$1" != 2 ]; then
	mount -t tmpfs -o mode=0755 root /mnt
	mkdir -p /mnt/lib/modules /mnt/vm /mnt/proc /mnt/sys /mnt/dev /mnt/tmp /mnt/run /mnt/root /mnt/usr /mnt/mnt
	cp -a /bin /etc /init /mnt/
	# The dynamic programs of VMTEST_BINS, and their libraries.
	[ ! -d /lib64 ] || cp -a /lib64 /mnt/
	[ ! -d /lib/x86_64-linux-gnu ] || cp -a /lib/x86_64-linux-gnu /mnt/lib/
	ln -s bin /mnt/sbin
	ln -s ../bin /mnt/usr/bin
	ln -s ../bin /mnt/usr/sbin
	mount --bind /lib/modules /mnt/lib/modules
	mount --bind /vm /mnt/vm
	cd /mnt && mount --move . / && exec chroot . /init 2
	echo "vm: cannot leave the initramfs"
	exec sh
fi
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts /dev/pts
ln -sf pts/ptmx /dev/ptmx
ln -sf /proc/self/fd /dev/fd
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t mqueue mqueue /dev/mqueue
mount -t tmpfs -o mode=1777 tmp /tmp
mount -t tmpfs -o mode=0755 run /run
# As systemd mounts it: nsdelegate makes a cgroup namespace a delegation
# boundary, memory_recursiveprot passes memory.min/low protection down.
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
hostname vm
ip link set lo up
. /vm/conf
echo "vm: booted after $(cut -d ' ' -f 1 /proc/uptime) s"
for m in $(cat /etc/preload) $modules; do
	modprobe "$m" || echo "vm: modprobe $m: failed"
done
if [ -n "$share" ]; then
	for m in $(cat /etc/share-modules); do modprobe "$m"; done
	mkdir -p "$share"
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,cache=loose,ro share "$share" ||
		echo "vm: 9p mount of $share: failed"
fi
cg=/sys/fs/cgroup
if [ -n "$cgroup" ]; then
	for part in $(echo "$cgroup" | tr / ' '); do
		echo "+memory +pids +cpu +cpuset +io" >"$cg/cgroup.subtree_control"
		cg=$cg/$part
		mkdir -p "$cg"
	done
	# What systemd hands a user with Delegate=yes: the directory and the
	# files that let the user make children and move its processes.
	[ -z "$uid" ] || chown "$uid:$gid" "$cg" "$cg/cgroup.procs" "$cg/cgroup.threads" "$cg/cgroup.subtree_control"
fi
# su takes the group from /etc/passwd: the user gets an entry of its own.
user=root
if [ -n "$uid" ] && [ "$uid" != 0 ]; then
	user=u$uid
	echo "$user:x:$uid:$gid::/tmp:/bin/sh" >>/etc/passwd
	grep -q "^[^:]*:x:$gid:" /etc/group || echo "g$gid:x:$gid:" >>/etc/group
fi
stty -F /dev/ttyS1 raw -echo
echo "vm: running after $(cut -d ' ' -f 1 /proc/uptime) s"
echo "<2>vm: start" >/dev/kmsg
# The binary writes into a pipe, as under go test; cat copies it to the
# second serial port, which is the runner's stdout.
mkfifo /run/status
{
	(
		echo 0 >"$cg/cgroup.procs"
		if [ "$user" = root ]; then exec sh /vm/run; fi
		exec su -p -s /bin/sh "$user" -c 'exec sh /vm/run'
	) </dev/null 2>&1
	echo $? >/run/status
} | cat >/dev/ttyS1 &
relay=$!
# The open of the fifo waits for the writer; a SIGCHLD (an orphan that
# ended, reparented here) interrupts it, which is no status: open again.
until read -r status </run/status; do :; done 2>/dev/null
# What the binary left running would hold the pipe open: kill it (kernel
# threads have no executable).
for p in /proc/[0-9]*; do
	p=${p#/proc/}
	[ "$p" = 1 ] || [ "$p" = "$relay" ] && continue
	[ -e "/proc/$p/exe" ] && kill -9 "$p" 2>/dev/null
done
# cat closes the serial port last: close waits for it to drain.
wait "$relay"
# Through the kernel's log: printed on the console before poweroff returns.
echo "<2>vm: status $status" >/dev/kmsg
poweroff -f
EOF
}

# build_base OUT: the guest's root without the run's files, as a newc cpio.
build_base() {
	local out=$1 st kv p m mods=() dirs=()
	st=$(mktemp -d "$cache/base.XXXXXX")
	dpkg -x "$kdir/kernel.deb" "$st/deb"
	kv=$(ls "$st/deb/lib/modules")
	# Debian compresses modules from 6.2 on; busybox modprobe reads
	# plain ones.
	find "$st/deb/lib/modules/$kv" -name '*.ko.xz' -exec xz -d {} +
	"$bb" depmod -b "$st/deb" "$kv"
	cp "$st"/deb/boot/vmlinuz-* "$kdir/vmlinuz"
	[[ -f $kdir/vmlinux ]] || vmlinux "$kdir/vmlinuz" "$kdir/vmlinux" ||
		echo "$me: no ELF kernel in $pkg's bzImage; booting the bzImage (slower)" >&2
	local md=$st/deb/lib/modules/$kv
	for p in $carry; do
		[[ -e $md/$p ]] && dirs+=("$p")
	done
	# The closure over modules.dep ("path: dep dep ..."): every module
	# carried or preloaded, and what each needs.
	mods=$(
		cd "$md"
		{
			find "${dirs[@]}" -name '*.ko'
			for m in $preload $share_modules; do
				grep -E "/${m//_/[-_]}\.ko:" modules.dep | cut -d: -f1
			done
		} | awk -v dep=modules.dep '
			BEGIN { while ((getline l < dep) > 0) { split(l, a, ":"); d[a[1]] = a[2] } }
			function add(m,   n, i, x) { if (m in seen) return; seen[m] = 1; print m
				n = split(d[m], x, " "); for (i = 1; i <= n; i++) add(x[i]) }
			{ add($1) }'
	)
	mkdir -p "$st/root/lib/modules/$kv" "$st/root/bin" "$st/root/etc" "$st/root/mnt" "$st/root/vm"
	(cd "$md" && cp --parents $mods "$st/root/lib/modules/$kv/")
	cp "$md"/modules.builtin "$md"/modules.order "$st/root/lib/modules/$kv/"
	"$bb" depmod -b "$st/root" "$kv"
	for m in $preload; do
		grep -qE "/${m//_/[-_]}\.ko:" "$st/root/lib/modules/$kv/modules.dep" ||
			grep -qE "/${m//_/[-_]}\.ko$" "$md/modules.builtin" ||
			echo "$me: warning: $pkg has no module $m" >&2
	done
	cp "$bb" "$st/root/bin/busybox"
	for p in $("$bb" --list); do
		[[ $p == busybox ]] || ln -s busybox "$st/root/bin/$p"
	done
	echo $preload >"$st/root/etc/preload"
	echo $share_modules >"$st/root/etc/share-modules"
	printf '%s\n' root:x:0:0:root:/root:/bin/sh \
		nobody:x:65534:65534:nobody:/nonexistent:/bin/false >"$st/root/etc/passwd"
	printf '%s\n' root:x:0: tty:x:5: nogroup:x:65534: >"$st/root/etc/group"
	printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$st/root/etc/hosts"
	init_script >"$st/root/init"
	chmod 0755 "$st/root/init"
	(cd "$st/root" && find . -mindepth 1 | LC_ALL=C sort | "$bb" cpio -o -H newc -R 0:0 2>/dev/null) >"$out.tmp"
	rm -f "$kdir"/base-*.cpio
	mv "$out.tmp" "$out"
	rm -rf "$st"
}

{
	flock 9
	# The image is rebuilt when what goes into it changes.
	key=$({
		declare -f build_base init_script
		echo "$carry|$preload|$share_modules"
	} | md5sum | cut -c 1-12)
	base=$kdir/base-$key.cpio
	if [[ ! -f $base ]]; then
		echo "$me: building the guest's image for $pkg" >&2
		build_base "$base"
	fi
} 9>"$cache/lock"

# ------------------------------------------------------------- this run

run=$(mktemp -d "${TMPDIR:-/tmp}/cell-vm.XXXXXX")
qemu=
cleanup() {
	[[ -z $qemu ]] || kill "$qemu" 2>/dev/null || true
	rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# quote WORD: WORD in single quotes for sh.
quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

share=${VMTEST_SHARE:-}
[[ $share != cwd ]] || share=$PWD
if [[ -n $share ]]; then
	share=$(cd "$share" && pwd -P) || fail "VMTEST_SHARE=$share: not a directory"
	[[ $share != / ]] || fail "VMTEST_SHARE=/: share a directory below /"
fi
user=${VMTEST_USER:-}
uid=${user%%:*}
gid=$uid
[[ $user != *:* ]] || gid=${user#*:}
[[ -z $user || ($uid =~ ^[0-9]+$ && $gid =~ ^[0-9]+$) ]] || fail "VMTEST_USER=$user: want UID or UID:GID"

mkdir -p "$run/root/vm"
name=$(basename "$bin")
cp "$bin" "$run/root/vm/$name"
for p in ${VMTEST_BINS:-}; do
	path=$(command -v "$p") || fail "VMTEST_BINS: no program $p (install it)"
	mkdir -p "$run/root/bin"
	cp -L "$path" "$run/root/bin/$(basename "$path")"
	# ldd's lines: "name => /path (addr)" and "/lib64/ld-... (addr)".
	for lib in $(ldd "$path" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) .*/\1/p'); do
		mkdir -p "$run/root$(dirname "$lib")"
		cp -L "$lib" "$run/root$lib"
	done
done
{
	echo "share=$(quote "$share")"
	echo "cgroup=$(quote "${VMTEST_CGROUP:-}")"
	echo "uid=$(quote "$uid") gid=$(quote "$gid")"
	echo "modules=$(quote "${VMTEST_MODULES:-}")"
} >"$run/root/vm/conf"
{
	echo "export PATH=/bin:/sbin:/usr/bin:/usr/sbin"
	if [[ -z $uid || $uid == 0 ]]; then echo "export HOME=/root"; else echo "export HOME=/tmp"; fi
	for v in ${VMTEST_PASSENV:-}; do
		[[ -z ${!v+set} ]] || echo "export $v=$(quote "${!v}")"
	done
	cwd=$(pwd -P)
	if [[ -n $share && ($cwd == "$share" || $cwd == "$share"/*) ]]; then
		echo "cd $(quote "$cwd")"
	else
		echo "cd /tmp"
	fi
	printf 'exec %s' "$(quote "/vm/$name")"
	for a in "$@"; do printf ' %s' "$(quote "$a")"; done
	echo
} >"$run/root/vm/run"
# The kernel unpacks concatenated archives in order: the base, then this.
(cd "$run/root" && find . -mindepth 1 | "$bb" cpio -o -H newc -R 0:0 2>/dev/null) >"$run/run.cpio"
cat "$base" "$run/run.cpio" >"$run/initrd"

# Software emulation unless the host has a KVM that runs ordinary kernels
# (kvm_intel or kvm_amd: some hosts offer a /dev/kvm that runs only
# specially built guests).
if [[ -w /dev/kvm && (-d /sys/module/kvm_intel || -d /sys/module/kvm_amd) ]]; then
	accel=(-accel kvm -cpu host)
else
	# An x86-64-v2 model: under emulation "max" ran the tests ~30% slower.
	# RDRAND seeds the kernel's random pool at once.
	accel=(-accel tcg,thread=multi,tb-size=256 -cpu Nehalem,+rdrand)
fi
kernel=$kdir/vmlinux
[[ -f $kernel ]] || kernel=$kdir/vmlinuz
# no_timer_check: under emulation on a loaded host the kernel's check of
# the PIT through the IO-APIC can fail ("8254 timer not connected") and
# stall the boot; the emulated timer is fine.
cmdline=(console=ttyS0 quiet loglevel=4 panic=-1 rdinit=/init
	cgroup_no_v1=all 8250.nr_uarts=2 printk.devkmsg=on
	random.trust_cpu=on mitigations=off tsc=reliable no_timer_check cryptomgr.notests)
share_args=()
[[ -z $share ]] || share_args=(
	-fsdev "local,id=share,path=${share//,/,,},security_model=none,readonly=on"
	-device virtio-9p-pci,fsdev=share,mount_tag=share)
console=$run/console
vm=(qemu-system-x86_64 -nodefaults -no-user-config -display none -no-reboot
	-machine pc "${accel[@]}" -m "${VMTEST_MEM:-1G}" -smp "${VMTEST_SMP:-2}"
	-kernel "$kernel" -initrd "$run/initrd" -append "${cmdline[*]}"
	-chardev "file,id=console,path=$console" -serial chardev:console
	-chardev stdio,id=out,signal=off -serial chardev:out
	"${share_args[@]}")

# boot: runs the VM once; sets rc (qemu's, or timeout's 124) and hung=1
# when the guest had not reached the binary in VMTEST_BOOT_TIMEOUT s.
boot() {
	local start=$SECONDS tail=
	: >"$console"
	if [[ ${VMTEST_VERBOSE:-0} == 1 ]]; then
		tail -n +1 -f "$console" >&2 &
		tail=$!
	fi
	timeout -k 5 "${VMTEST_TIMEOUT:-600}" "${vm[@]}" </dev/null &
	qemu=$!
	hung=0
	while kill -0 "$qemu" 2>/dev/null; do
		if ((SECONDS - start > ${VMTEST_BOOT_TIMEOUT:-60})) && ! grep -q 'vm: start' "$console"; then
			hung=1
			kill "$qemu"
			break
		fi
		grep -q 'vm: start' "$console" && break
		sleep 0.2
	done
	rc=0
	wait "$qemu" || rc=$?
	qemu=
	[[ -z $tail ]] || kill "$tail"
}
for try in 1 2 3; do
	boot
	((hung)) || break
	echo "$me: the guest did not reach the binary in ${VMTEST_BOOT_TIMEOUT:-60} s (boot $try); its console ends:" >&2
	tr -d '\r' <"$console" | tail -n 5 >&2
done

status=$(tr -d '\r' <"$console" | sed -n 's/.*vm: status \([0-9][0-9]*\)$/\1/p' | tail -n 1)
[[ -z $status ]] || exit "$status"
if ((rc == 124)); then
	echo "$me: the VM ran out of time (${VMTEST_TIMEOUT:-600} s); its console ends:" >&2
else
	echo "$me: the VM ended without a status (qemu: exit $rc); its console ends:" >&2
	rc=125
fi
tr -d '\r' <"$console" | tail -n 40 >&2
exit "$rc"
