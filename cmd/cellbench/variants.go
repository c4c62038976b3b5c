package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/network/lease"
	"github.com/cellsandbox/cell/internal/network/link"
)

// variant is a `cell run` row that differs from the default row by one
// feature, so that the difference of their medians is what that feature
// costs per launch.
type variant int

const (
	// noSeccomp leaves out the default seccomp filter.
	noSeccomp variant = iota
	// withLandlock adds a Landlock ruleset.
	withLandlock
	// withCgroups adds a cgroup in each hierarchy, with limits, which
	// cell makes before the clone and removes at the end.
	withCgroups
	// rootless runs cell as an unprivileged user.
	rootless
	// bridged joins the sandbox to a bridge: a lease, a veth, an address
	// and a route, the bridge's shared nftables rules (added once), and
	// their teardown; in cellbench's own network namespace.
	bridged
	// userNet gives the sandbox slirp4netns, started and stopped per
	// launch; in cellbench's own network namespace.
	userNet
)

// variants lists every variant, in the order of their rows.
func variants() []variant {
	return []variant{noSeccomp, withLandlock, withCgroups, rootless, bridged, userNet}
}

// String is the variant's row label.
func (v variant) String() string {
	switch v {
	case noSeccomp:
		return "cell run, seccomp unconfined"
	case withLandlock:
		return "cell run + landlock"
	case withCgroups:
		return "cell run + cgroups"
	case rootless:
		return "cell run, rootless"
	case bridged:
		return "cell run, network bridge"
	case userNet:
		return "cell run, network user"
	}
	return fmt.Sprintf("variant(%d)", int(v))
}

// feature names what the difference from the default row measures.
func (v variant) feature() string {
	switch v {
	case noSeccomp:
		return "the default seccomp filter"
	case withLandlock:
		return "a Landlock ruleset"
	case withCgroups:
		return "a cgroup per hierarchy with pids and memory limits, made and removed"
	case rootless:
		return "running as an unprivileged user rather than root"
	case bridged:
		return "network.mode bridge over none: lease, veth, address, route, resolv.conf and hosts, teardown"
	case userNet:
		return "network.mode user over none: slirp4netns started, waited for and stopped"
	}
	return v.String()
}

// removes reports whether the variant leaves its feature out of the
// default profile rather than adding it: its cost is then the default
// row's median minus the variant's.
func (v variant) removes() bool {
	switch v {
	case noSeccomp:
		return true
	case withLandlock, withCgroups, rootless, bridged, userNet:
		return false
	}
	return false
}

// landlockSet is withLandlock's --set: the host's programs readable and
// executable, /tmp and /dev writable, which /bin/true needs and more.
const landlockSet = "security.landlock={mode: require, readExec: [/usr, /bin, /lib, /lib64, /etc], readWrite: [/tmp, /dev]}"

// sets is the --set arguments that make the variant out of the default
// profile; parent is the cgroup parent of withCgroups.
func (v variant) sets(parent string) []string {
	switch v {
	case noSeccomp:
		// Without the filter's set-ID guard cell refuses a root
		// caller's writable binds: the default profile's project and
		// .git binds (mounts 23 and 24) go read-only, which costs the
		// same.
		return []string{"security.seccomp.mode=unconfined", "filesystem.mounts[23].writable=false", "filesystem.mounts[24].writable=false"}
	case withLandlock:
		return []string{landlockSet}
	case withCgroups:
		return []string{"resources.parent=" + parent, "resources.pids.max=1024", "resources.memory={max: 256Mi}"}
	case rootless:
		return nil
	case bridged:
		// A name server, so that no host resolver is needed; nothing
		// is resolved.
		return []string{"network={mode: bridge, dns: [192.0.2.53]}"}
	case userNet:
		return []string{"network={mode: user}"}
	}
	return nil
}

// changes reports whether the variant may change how many steps of op
// its plan has, compared with the default row's.
func (v variant) changes(op string) bool {
	switch v {
	case noSeccomp:
		return op == "seccomp"
	case withLandlock:
		return op == "landlock"
	case withCgroups:
		return strings.HasPrefix(op, "cgroup-")
	case rootless:
		// An unprivileged user writes setgroups "deny" before its
		// gid_map (a write-id-map step) and cannot call setgroups.
		return op == "write-id-map" || op == "setgroups"
	case bridged:
		// The written /etc/hosts replaces the default profile's bind.
		return slices.Contains([]string{"net-lease", "bridge", "nft", "veth", "addr-add", "route-add", "write-file", "bind",
			"nft-delete", "link-delete", "lease-release"}, op)
	case userNet:
		return slices.Contains([]string{"user-net", "write-file", "bind", "user-net-stop"}, op)
	}
	return false
}

// check says how plan, the variant's, fails to differ from base, the
// default row's, by the variant's feature and by nothing else; nil if it
// does not fail.
func (v variant) check(base, plan planFacts) error {
	if plan.ns != base.ns {
		return fmt.Errorf("its namespaces %v are not the default's %v", plan.ns, base.ns)
	}
	if plan.rootless != base.rootless && v != rootless {
		return fmt.Errorf("its plan is rootless=%t, the default's rootless=%t", plan.rootless, base.rootless)
	}
	d := opsDiff(base.ops, plan.ops)
	for _, op := range slices.Sorted(maps.Keys(d)) {
		if !v.changes(op) {
			return fmt.Errorf("its plan has %+d %s steps", d[op], op)
		}
	}
	switch v {
	case noSeccomp:
		if d["seccomp"] >= 0 {
			return errors.New("its plan has the default's seccomp steps")
		}
	case withLandlock:
		if d["landlock"] <= 0 {
			return errors.New("its plan has no landlock step")
		}
	case withCgroups:
		if d["cgroup-mkdir"] <= 0 || d["cgroup-remove"] <= 0 {
			return errors.New("its plan makes or removes no cgroup")
		}
	case rootless:
		if base.rootless {
			return errors.New("the default row is rootless already")
		}
		if !plan.rootless {
			return errors.New("its plan is not rootless")
		}
	case bridged:
		if d["veth"] <= 0 || d["net-lease"] <= 0 {
			return errors.New("its plan makes no veth or lease")
		}
	case userNet:
		if d["user-net"] <= 0 {
			return errors.New("its plan starts no user-mode network helper")
		}
	}
	return nil
}

// opsDiff is, for every op whose count differs, the count in b minus the
// count in a.
func opsDiff(a, b map[string]int) map[string]int {
	d := make(map[string]int)
	for op, n := range b {
		if n != a[op] {
			d[op] = n - a[op]
		}
	}
	for op, n := range a {
		if _, ok := b[op]; !ok {
			d[op] = -n
		}
	}
	return d
}

// skippedRow is a variant that was not measured, and why.
type skippedRow struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// variantSetup is what the variant rows need, and what they leave behind
// for cleanup to remove.
type variantSetup struct {
	launchers []launcher
	skipped   []skippedRow
	// cgroupParent names the cgroup parent of the withCgroups row, ""
	// without that row.
	cgroupParent string
	// rootlessDir holds the rootless row's copy of cell and its working
	// directory, "" without that row.
	rootlessDir string
	// net is the thread in cellbench's own network namespace that the
	// network rows start from, and netIno that namespace's inode, whose
	// lease files cleanup removes; nil and 0 without those rows.
	net    *viewThread
	netIno uint64
}

// setupVariants makes a launcher of every variant whose plan compiles and
// checks out against base, the default row's, from dir, or a skippedRow
// where the kernel or the user cellbench runs as cannot run it. It never
// returns a nil setup: its cleanup must be called also on an error.
func setupVariants(ctx context.Context, r runner, t tools, base planFacts) (*variantSetup, error) {
	s := &variantSetup{}
	root := os.Geteuid() == 0
	for _, v := range variants() {
		l := launcher{name: v.String(), cost: &v}
		switch v {
		case noSeccomp, withLandlock:
		case withCgroups:
			if !root {
				s.skip(v, "cellbench is not root, and cell needs a delegated cgroup to make one for an unprivileged user")
				continue
			}
			s.cgroupParent = fmt.Sprintf("cellbench-%d", os.Getpid())
		case rootless:
			if !root {
				s.skip(v, "cellbench is not root, so it cannot run cell as another user; the `cell run` row runs rootless already")
				continue
			}
			as, why, err := s.rootlessSetup(ctx, r, t, &l)
			if err != nil {
				return s, err
			}
			if why != "" {
				s.skip(v, why)
				continue
			}
			l.name += " (" + as.name + ")"
		case bridged, userNet:
			if !root {
				s.skip(v, "cellbench is not root: the network rows run in a network namespace of cellbench's own, which needs root (and bridge needs root anyway)")
				continue
			}
			if _, err := exec.LookPath("slirp4netns"); err != nil && v == userNet {
				s.skip(v, "slirp4netns is not installed (apt-get install slirp4netns)")
				continue
			}
			if err := s.netns(); err != nil {
				return s, err
			}
			l.netns = true
		}
		l.sets = v.sets(s.cgroupParent)
		l.argv = []string{t.cell, "run"}
		if l.as != nil {
			l.argv[0] = filepath.Join(s.rootlessDir, "cell")
		}
		for _, set := range l.sets {
			l.argv = append(l.argv, "--set", set)
		}
		l.argv = append(l.argv, "--", t.true)
		plan, err := r.planOf(ctx, l.argv[0], l)
		if err != nil {
			if v == withLandlock {
				if why := landlockMissing(); why != "" {
					s.skip(v, why+"; "+err.Error())
					continue
				}
			}
			return s, err
		}
		if err := v.check(base, plan); err != nil {
			return s, fmt.Errorf("row %q would not measure %s: %w", l.name, v.feature(), err)
		}
		s.launchers = append(s.launchers, l)
	}
	return s, nil
}

// netns starts, once, the thread in a network namespace of cellbench's
// own from which the network rows are launched: a new namespace with lo
// up, so that nothing they make is in the machine's network.
func (s *variantSetup) netns() error {
	if s.net != nil {
		return nil
	}
	th, err := newThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return os.NewSyscallError("unshare(CLONE_NEWNET)", err)
		}
		var st unix.Stat_t
		if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
			return err
		}
		s.netIno = st.Ino
		return link.Up("lo")
	})
	if err != nil {
		return fmt.Errorf("network rows: a network namespace of cellbench's own: %w", err)
	}
	s.net = th
	return nil
}

func (s *variantSetup) skip(v variant, reason string) {
	s.skipped = append(s.skipped, skippedRow{Name: v.String(), Reason: reason})
}

// rootlessSetup prepares l to run as an unprivileged user: a copy of cell
// that the user can run, a working directory that the user owns, both
// under s.rootlessDir, and an environment. It returns the user, or why
// the row cannot run on this machine.
func (s *variantSetup) rootlessSetup(ctx context.Context, r runner, t tools, l *launcher) (account, string, error) {
	as, err := unprivileged()
	if err != nil {
		return as, "", err
	}
	if s.rootlessDir, err = os.MkdirTemp("/var/tmp", "cellbench-rootless-"); err != nil {
		return as, "", fmt.Errorf("create rootless directory: %w", err)
	}
	if s.rootlessDir, err = filepath.EvalSymlinks(s.rootlessDir); err != nil {
		return as, "", err
	}
	if err := os.Chmod(s.rootlessDir, 0o755); err != nil {
		return as, "", err
	}
	if err := copyFile(filepath.Join(s.rootlessDir, "cell"), t.cell, 0o755); err != nil {
		return as, "", err
	}
	// cell-init too, so that the row differs from the default one by the
	// user alone and not by which init runs.
	if init := filepath.Join(filepath.Dir(t.cell), "cell-init"); pathExists(init) {
		if err := copyFile(filepath.Join(s.rootlessDir, "cell-init"), init, 0o755); err != nil {
			return as, "", err
		}
	}
	work := filepath.Join(s.rootlessDir, "work")
	if err := os.Mkdir(work, 0o700); err != nil {
		return as, "", err
	}
	if err := os.Chown(work, int(as.uid), int(as.gid)); err != nil {
		return as, "", err
	}
	l.as, l.dir = &as, work
	l.env = []string{"HOME=/", "USER=" + as.name, "PATH=/usr/local/bin:/usr/bin:/bin", "PWD=" + work}
	// The kernel's own word on user namespaces, from util-linux: a cell
	// that fails where this succeeds is an error, not a skip.
	probe := launcher{argv: []string{t.unshare, "--user", "--map-root-user", "--mount", t.true}, as: l.as, dir: l.dir, env: l.env}
	out, err := r.output(ctx, probe)
	if err != nil {
		if ctx.Err() != nil {
			return as, "", ctx.Err()
		}
		return as, fmt.Sprintf("unprivileged user namespaces are refused: `%s` as %s: %v: %s", probe, as, err, out), nil
	}
	return as, "", nil
}

// output runs l outside any measurement and returns its stdout and
// stderr.
func (r runner) output(ctx context.Context, l launcher) (string, error) {
	cmd := r.command(ctx, l)
	var b strings.Builder
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return strings.TrimSpace(b.String()), err
}

// unprivileged is the user celltest if it exists (the test suite's
// unprivileged user), else uid and gid 65534.
func unprivileged() (account, error) {
	u, err := user.Lookup("celltest")
	if err != nil {
		var unknown user.UnknownUserError
		if !errors.As(err, &unknown) {
			return account{}, fmt.Errorf("look up user celltest: %w", err)
		}
		a := account{name: "nobody", uid: 65534, gid: 65534}
		if u, err := user.LookupId("65534"); err == nil {
			a.name = u.Username
		}
		return a, nil
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return account{}, fmt.Errorf("user celltest: uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return account{}, fmt.Errorf("user celltest: gid %q: %w", u.Gid, err)
	}
	return account{name: u.Username, uid: uint32(uid), gid: uint32(gid)}, nil
}

// copyFile copies src to a new file dst with mode perm.
func copyFile(dst, src string, perm os.FileMode) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if _, err := io.Copy(out, in); err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return out.Chmod(perm) // whatever the umask
}

// landlockMissing says why the kernel has no Landlock, or "" if it has.
func landlockMissing() string {
	abi, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	switch {
	case errno == unix.ENOSYS:
		return "the kernel has no Landlock (not built in: landlock_create_ruleset returns ENOSYS)"
	case errno == unix.EOPNOTSUPP:
		return "the kernel has Landlock disabled (not in lsm= at boot: landlock_create_ruleset returns EOPNOTSUPP)"
	case errno != 0:
		return fmt.Sprintf("the kernel's Landlock ABI cannot be read: landlock_create_ruleset: %v", errno)
	case abi < 1:
		return fmt.Sprintf("the kernel reports Landlock ABI %d", abi)
	}
	return ""
}

// cleanup removes what the variant rows left: the rootless directory, and
// the cgroup parent in every hierarchy with any leaf cell left under it
// (one is left only if a launch was killed, or by a bug). It returns the
// cgroup directories it found and the leaves among them.
func (s *variantSetup) cleanup() (parents, leaves []string, err error) {
	if s.net != nil {
		// The namespace, its bridge and rules go with the thread; the
		// lease files cell kept for it are on the file system.
		s.net.close()
		s.net = nil
		files, _ := filepath.Glob(filepath.Join(lease.LeaseDir, fmt.Sprintf("%d-*.json", s.netIno)))
		for _, f := range files {
			if rmErr := os.Remove(f); rmErr != nil {
				err = errors.Join(err, rmErr)
			}
		}
	}
	if s.rootlessDir != "" {
		if rmErr := os.RemoveAll(s.rootlessDir); rmErr != nil {
			err = fmt.Errorf("remove rootless directory: %w", rmErr)
		}
	}
	if s.cgroupParent != "" {
		p, l, cgErr := removeCgroupParents("/sys/fs/cgroup", s.cgroupParent)
		parents, leaves, err = p, l, errors.Join(err, cgErr)
	}
	return parents, leaves, err
}
