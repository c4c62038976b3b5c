package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/landlock"
	"github.com/cellsandbox/cell/internal/mounts"
	"github.com/cellsandbox/cell/internal/rlimit"
	"github.com/cellsandbox/cell/launcher/plan"
)

// fakeKernel records the calls of init's steps instead of making them.
// The call numbered failAt returns errno, the one numbered panicAt
// panics (-1: none).
type fakeKernel struct {
	t       *testing.T
	calls   []string
	failAt  int
	panicAt int
	errno   unix.Errno
	// opened are the descriptors it made (of /dev/null) for the calls
	// that return one; Close closes only those.
	opened []int
}

func newFake(t *testing.T) *fakeKernel {
	k := &fakeKernel{t: t, failAt: -1, panicAt: -1, errno: unix.EPERM}
	t.Cleanup(func() {
		for _, fd := range k.opened {
			unix.Close(fd)
		}
	})
	return k
}

func (k *fakeKernel) call(format string, args ...any) error {
	k.calls = append(k.calls, fmt.Sprintf(format, args...))
	switch len(k.calls) - 1 {
	case k.panicAt:
		panic("injected")
	case k.failAt:
		return k.errno
	}
	return nil
}

func (k *fakeKernel) fd() int {
	fd, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		k.t.Fatal(err)
	}
	k.opened = append(k.opened, fd)
	return fd
}

func (k *fakeKernel) Mount(source, target, fstype string, flags uintptr, data string) error {
	return k.call("mount %s", target)
}
func (k *fakeKernel) Unmount(target string, flags int) error { return k.call("umount %s", target) }
func (k *fakeKernel) PivotRoot(newRoot, putOld string) error {
	return k.call("pivot_root %s %s", newRoot, putOld)
}
func (k *fakeKernel) BindRootfs(dir string) error              { return k.call("bind-rootfs %s", dir) }
func (k *fakeKernel) Chroot(dir string) error                  { return k.call("chroot %s", dir) }
func (k *fakeKernel) Mkdir(path string, mode uint32) error     { return k.call("mkdir %s", path) }
func (k *fakeKernel) Setattr(target string, attr uint64) error { return k.call("setattr %s", target) }
func (k *fakeKernel) Chdir(dir string) error                   { return k.call("chdir %s", dir) }
func (k *fakeKernel) OpenRoot(dir string) (root, error)        { return &fakeRoot{k, dir}, nil }
func (k *fakeKernel) Close(fd int) {
	if i := slices.Index(k.opened, fd); i >= 0 {
		unix.Close(fd)
		k.opened = slices.Delete(k.opened, i, i+1)
	}
}
func (k *fakeKernel) Sethostname(name string) error   { return k.call("sethostname %s", name) }
func (k *fakeKernel) Setdomainname(name string) error { return k.call("setdomainname %s", name) }
func (k *fakeKernel) Prctl(option int, arg2 uintptr) error {
	return k.call("prctl %s", map[int]string{
		unix.PR_SET_DUMPABLE: "PR_SET_DUMPABLE", unix.PR_SET_CHILD_SUBREAPER: "PR_SET_CHILD_SUBREAPER",
		unix.PR_SET_NO_NEW_PRIVS: "PR_SET_NO_NEW_PRIVS", unix.PR_SET_PDEATHSIG: "PR_SET_PDEATHSIG",
	}[option])
}
func (k *fakeKernel) JoinSessionKeyring() error { return k.call("keyctl") }
func (k *fakeKernel) Umask(mask int)            { k.calls = append(k.calls, fmt.Sprintf("umask %#o", mask)) }
func (k *fakeKernel) OOMScoreAdj(score int) error {
	return k.call("oom_score_adj %d", score)
}
func (k *fakeKernel) Sysctl(name, value string) error { return k.call("sysctl %s", name) }
func (k *fakeKernel) Propagate(target string, flags uint64) error {
	return k.call("propagate %s", target)
}
func (k *fakeKernel) Setrlimit(l rlimit.Limit) error       { return k.call("prlimit %s", l.Resource) }
func (k *fakeKernel) Landlock(r *landlock.Rules) error     { return k.call("landlock") }
func (k *fakeKernel) Seccomp(prog []unix.SockFilter) error { return k.call("seccomp %d", len(prog)) }
func (k *fakeKernel) DropBoundingSet(keep []uint32) error  { return k.call("capbset-drop") }
func (k *fakeKernel) SetInheritable(caps []uint32) error   { return k.call("cap-inheritable") }
func (k *fakeKernel) CloseFDs(keep []uint32) error         { return k.call("close-fds") }
func (k *fakeKernel) LinkUp(iface string) error            { return k.call("link-up %s", iface) }
func (k *fakeKernel) AddrAdd(iface, addr string) error     { return k.call("addr-add %s %s", iface, addr) }
func (k *fakeKernel) DefaultRoute(iface, gw string) error {
	return k.call("route-add %s %s", iface, gw)
}
func (k *fakeKernel) Nft(r *plan.NftRule) error { return k.call("nft %s %s", r.Table, r.Chain) }
func (k *fakeKernel) ProxyReady(addr string, _ time.Duration) error {
	return k.call("proxy-ready %s", addr)
}
func (k *fakeKernel) Listen(l plan.ProxyListen) (int, error) {
	if err := k.call("listen %s %s", l.Net, l.Addr); err != nil {
		return -1, err
	}
	return k.fd(), nil
}
func (k *fakeKernel) OpenPTY(ptmx string, ids []uint32) (int, *os.File, string, error) {
	if err := k.call("openpty %s", ptmx); err != nil {
		return -1, nil, "", err
	}
	slave, err := os.Open(os.DevNull)
	if err != nil {
		k.t.Fatal(err)
	}
	k.t.Cleanup(func() { slave.Close() })
	return k.fd(), slave, "/dev/pts/0", nil
}

type fakeRoot struct {
	k   *fakeKernel
	dir string
}

func (r *fakeRoot) Mkdir(path string, mode uint32) (int, error) {
	return -1, r.k.call("mkdirat %s %s", r.dir, path)
}
func (r *fakeRoot) MountFS(fstype string, options []string, attr uint64, target string, t mounts.Target) error {
	return r.k.call("fsmount %s %s %s", fstype, r.dir, target)
}
func (r *fakeRoot) Bind(src root, source, target string, attr uint64, recursive, noSymlinks bool, t mounts.Target) error {
	return r.k.call("bind %s %s -> %s %s", src.(*fakeRoot).dir, source, r.dir, target)
}
func (r *fakeRoot) Attach(tree int, target string) error {
	return r.k.call("attach %d %s %s", tree, r.dir, target)
}
func (r *fakeRoot) WriteFile(target string, mode uint32, data string) error {
	return r.k.call("write %s %s", r.dir, target)
}
func (r *fakeRoot) Symlink(linkTo, target string) error {
	return r.k.call("symlink %s %s", r.dir, target)
}
func (r *fakeRoot) Mknod(target string, mode uint32, dev uint64, uid, gid uint32) error {
	return r.k.call("mknod %s %s", r.dir, target)
}
func (r *fakeRoot) PinLowers(opts []string, procDir string) ([]string, []int, error) {
	return opts, nil, r.k.call("pin-lowers %s", r.dir)
}
func (r *fakeRoot) Close() error { return nil }

// call is one kernel call that a step makes.
type call struct {
	step int
	what string
}

// printedCalls is what init's steps of p must ask of the kernel, in the
// order `cell plan` prints them: this is the plan's meaning written out
// once more, independently of the executor, which must agree with it.
// Command steps make no call in init: they are recorded for the fork.
func printedCalls(p *plan.Plan, lease string) []call {
	var out []call
	start := 0
	for i := range p.Steps {
		if p.Steps[i].Op() == plan.OpExecInit {
			start = i + 1
		}
	}
	for i := start; i < len(p.Steps); i++ {
		s := &p.Steps[i]
		if s.Side != plan.Init {
			continue
		}
		add := func(format string, args ...any) { out = append(out, call{i, fmt.Sprintf(format, args...)}) }
		switch a := s.Do.(type) {
		case *plan.Mount:
			add("mount %s", a.Target)
		case *plan.Chdir:
			add("chdir %s", a.Dir)
		case *plan.Mkdir:
			if a.Root == "" {
				add("mkdir %s", a.Path)
			} else {
				add("mkdirat %s %s", a.Root, a.Path)
			}
		case *plan.PivotRoot:
			add("pivot_root %s %s", a.NewRoot, a.PutOld)
		case *plan.BindRootfs:
			add("bind-rootfs %s", a.Path)
		case *plan.Chroot:
			add("chroot %s", a.Dir)
		case *plan.Umount:
			add("umount %s", a.Target)
		case *plan.MountFS:
			if a.NoSymlinks {
				add("pin-lowers /oldroot")
			}
			add("fsmount %s %s %s", a.FSType, a.Root, a.Target)
		case *plan.Bind:
			add("bind %s %s -> %s %s", a.SourceRoot, a.Source, a.Root, a.Target)
		case *plan.AttachTree:
			add("attach %d %s %s", a.FD, a.Root, a.Target)
		case *plan.WriteFile:
			add("write %s %s", a.Root, a.Target)
		case *plan.Symlink:
			add("symlink %s %s", a.Root, a.Target)
		case *plan.Setattr:
			add("setattr %s", a.Target)
		case *plan.Sethostname:
			add("sethostname %s", a.Hostname)
		case *plan.Setdomainname:
			add("setdomainname %s", a.Domainname)
		case *plan.LinkUp:
			add("link-up %s", a.Interface)
		case *plan.SetDumpable:
			add("prctl PR_SET_DUMPABLE")
		case *plan.Subreaper:
			add("prctl PR_SET_CHILD_SUBREAPER")
		case *plan.NoNewPrivs:
			add("prctl PR_SET_NO_NEW_PRIVS")
		case *plan.Pdeathsig:
			add("prctl PR_SET_PDEATHSIG")
		case *plan.SessionKeyring:
			add("keyctl")
		case *plan.Umask:
			add("umask %#o", a.Mask)
		case *plan.OOMScoreAdj:
			add("oom_score_adj %d", a.Score)
		case *plan.SetRlimit:
			add("prlimit %s", a.Limit.Resource)
		case *plan.Landlock:
			add("landlock")
		case *plan.Seccomp:
			add("seccomp %d", len(a.Filter))
		case *plan.CapBSetDrop:
			add("capbset-drop")
		case *plan.CapInheritable:
			add("cap-inheritable")
		case *plan.CloseFDs:
			add("close-fds")
		case *plan.Console:
			add("openpty %s", a.Ptmx)
		case *plan.EgressProxy:
			for _, l := range a.Proxy.Listen {
				add("listen %s %s", l.Net, l.Addr)
			}
			for _, l := range a.Proxy.Listen {
				if l.Serves == "proxy" {
					add("proxy-ready %s", l.Addr)
					break
				}
			}
		case *plan.AddrAdd:
			add("addr-add %s %s", a.Interface, strings.ReplaceAll(a.Address, plan.Lease, lease))
		case *plan.RouteAdd:
			add("route-add %s %s", a.Interface, a.Gateway)
		case *plan.Nft:
			add("nft %s %s", a.Rule.Table, a.Rule.Chain)
		}
	}
	return out
}

// goldenPlans are the compiled plans of the built-in profiles, as
// internal/compile's golden files pin them (for root and for an
// unprivileged caller).
func goldenPlans(t testing.TB) map[string]*plan.Plan {
	t.Helper()
	files, err := filepath.Glob("../compile/testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden plans: %v", err)
	}
	out := map[string]*plan.Plan{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p, err := plan.Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = p
	}
	return out
}

// fakeExec is init's executor for p over k, its socket to cell one end
// of a pair whose other end nobody reads (what init sends fits in it).
func fakeExec(t *testing.T, p *plan.Plan, k *fakeKernel) *initExec {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	ex := &initExec{k: k, passEnv: p.PassEnv, conn: fds[0], lease: "10.88.0.7"}
	for i := range p.Steps {
		if a, ok := p.Steps[i].Do.(*plan.AttachTree); ok {
			ex.started = append(ex.started, int(a.FD)) // cell passed the tree
		}
	}
	return ex
}

// TestInitStepsInPrintedOrder runs init's part of every built-in
// profile's compiled plan against a recording kernel: the calls come in
// the order `cell plan` prints their steps, one step's calls after the
// other's, none left out and none added, and the command's steps are
// recorded for the fork as printed.
func TestInitStepsInPrintedOrder(t *testing.T) {
	for name, p := range goldenPlans(t) {
		t.Run(name, func(t *testing.T) {
			k := newFake(t)
			ex := fakeExec(t, p, k)
			var traced []int
			first, failed, err := ex.run(p, func(f, l int, _ time.Time) { traced = append(traced, f) })
			if err != nil {
				t.Fatalf("step %d: %v", failed+1, err)
			}
			want := printedCalls(p, ex.lease)
			var wantCalls []string
			var wantTraced []int
			for _, c := range want {
				wantCalls = append(wantCalls, c.what)
			}
			if diff := cmp.Diff(wantCalls, k.calls); diff != "" {
				t.Errorf("calls (-printed +made):\n%s", diff)
			}
			// Every init step after the last exec-init is traced once,
			// in order.
			start := 0
			for i := range p.Steps {
				if p.Steps[i].Op() == plan.OpExecInit {
					start = i + 1
				}
			}
			for i := start; i < len(p.Steps); i++ {
				if p.Steps[i].Side == plan.Init {
					wantTraced = append(wantTraced, i)
				}
			}
			if diff := cmp.Diff(wantTraced, traced); diff != "" {
				t.Errorf("traced steps (-want +got):\n%s", diff)
			}
			// The command's steps, recorded for the fork.
			for i := first; i < len(p.Steps); i++ {
				switch a := p.Steps[i].Do.(type) {
				case *plan.Setsid:
					if !ex.sys.Setsid {
						t.Error("setsid not recorded")
					}
				case *plan.Setuid:
					if ex.cred == nil || ex.cred.Uid != a.UID {
						t.Errorf("setuid %d not recorded: %+v", a.UID, ex.cred)
					}
				case *plan.Setgid:
					if ex.cred == nil || ex.cred.Gid != a.GID {
						t.Errorf("setgid %d not recorded: %+v", a.GID, ex.cred)
					}
				case *plan.Chdir:
					if ex.attr.Dir != a.Dir {
						t.Errorf("chdir %s not recorded: %q", a.Dir, ex.attr.Dir)
					}
				case *plan.Exec:
					if ex.exec != a {
						t.Error("exec not recorded")
					}
				}
			}
			if p.Steps[first].Side != plan.Command {
				t.Errorf("first command step %d is %s's", first+1, p.Steps[first].Side)
			}
		})
	}
}

// errLine is a failed call as cell reports it: the profile position, the
// step and what it does as `cell plan` prints it, the call and the errno.
var errLine = regexp.MustCompile(`^builtin:[a-z-]+:\d+:\d+: step (\d+) .+?: [A-Za-z_0-9]+\b.*: EPERM \(operation not permitted\)$`)

// TestInitStepErrno: a call that fails with an errno fails its step, and
// cell reports it with the step's position, number and summary, the call
// and the errno; no step after it runs. Every call of two plans fails in
// turn.
func TestInitStepErrno(t *testing.T) {
	plans := goldenPlans(t)
	for _, name := range []string{"dev.root", "agent.user"} {
		p := plans[name]
		want := printedCalls(p, "10.88.0.7")
		for n, c := range want {
			if strings.HasPrefix(c.what, "umask ") {
				continue // umask(2) cannot fail
			}
			k := newFake(t)
			k.failAt = n
			_, failed, err := fakeExec(t, p, k).run(p, func(int, int, time.Time) {})
			if failed != c.step || !errors.Is(err, unix.EPERM) {
				t.Fatalf("%s: call %d (%s) failing: step %d, %v; want step %d with EPERM", name, n, c.what, failed+1, err, c.step+1)
			}
			if len(k.calls) != n+1 {
				t.Errorf("%s: %d calls were made after the failed one", name, len(k.calls)-n-1)
			}
			got := stepError(p, failureOf(failed, err))
			var se *StepError
			if !errors.As(got, &se) || se.Errno != unix.EPERM {
				t.Errorf("%s: %v is not a step error with EPERM", name, got)
			}
			m := errLine.FindStringSubmatch(got.Error())
			if m == nil || m[1] != fmt.Sprint(c.step+1) {
				t.Errorf("%s: call %s failing reads %q", name, c.what, got)
			}
		}
	}
	// One exactly.
	p := plans["dev.root"]
	k := newFake(t)
	for n, c := range printedCalls(p, "") {
		if c.what == "mount /newroot" {
			k.failAt = n
		}
	}
	_, failed, err := fakeExec(t, p, k).run(p, func(int, int, time.Time) {})
	if got, want := stepError(p, failureOf(failed, err)).Error(), `builtin:dev:17:9: step 15 mount("tmpfs", "/newroot", "tmpfs", MS_NOSUID|MS_NODEV, "mode=0755,size=16777216"): mount /newroot: EPERM (operation not permitted)`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestInitStepPanic: a step that panics is that step's failure, reported
// with its position, number and summary, and init goes no further; it
// does not end without a report.
func TestInitStepPanic(t *testing.T) {
	p := goldenPlans(t)["dev.root"]
	want := printedCalls(p, "")
	n := len(want) / 2
	k := newFake(t)
	k.panicAt = n
	_, failed, err := fakeExec(t, p, k).run(p, func(int, int, time.Time) {})
	if failed != want[n].step || err == nil {
		t.Fatalf("a panic in step %d: step %d, %v", want[n].step+1, failed+1, err)
	}
	got := stepError(p, failureOf(failed, err)).Error()
	prefix := fmt.Sprintf("%s: step %d %s: panic: injected", p.Steps[failed].Pos, failed+1, p.Steps[failed].Summary())
	if !strings.HasPrefix(got, prefix) {
		t.Errorf("got  %s\nwant %s...", got, prefix)
	}
	if len(k.calls) != n+1 {
		t.Errorf("%d calls were made after the panic", len(k.calls)-n-1)
	}
}

// nopKernel makes no call: BenchmarkInitSteps measures what the executor
// itself costs per plan, the part that the kernel interface could add to.
type nopKernel struct{}

func (nopKernel) Mount(string, string, string, uintptr, string) error { return nil }
func (nopKernel) Unmount(string, int) error                           { return nil }
func (nopKernel) PivotRoot(string, string) error                      { return nil }
func (nopKernel) BindRootfs(string) error                             { return nil }
func (nopKernel) Chroot(string) error                                 { return nil }
func (nopKernel) Mkdir(string, uint32) error                          { return nil }
func (nopKernel) Setattr(string, uint64) error                        { return nil }
func (nopKernel) Chdir(string) error                                  { return nil }
func (nopKernel) OpenRoot(string) (root, error)                       { return nopRoot{}, nil }
func (nopKernel) Close(int)                                           {}
func (nopKernel) Sethostname(string) error                            { return nil }
func (nopKernel) Setdomainname(string) error                          { return nil }
func (nopKernel) Prctl(int, uintptr) error                            { return nil }
func (nopKernel) JoinSessionKeyring() error                           { return nil }
func (nopKernel) Umask(int)                                           {}
func (nopKernel) OOMScoreAdj(int) error                               { return nil }
func (nopKernel) Sysctl(string, string) error                         { return nil }
func (nopKernel) Propagate(string, uint64) error                      { return nil }
func (nopKernel) Setrlimit(rlimit.Limit) error                        { return nil }
func (nopKernel) Landlock(*landlock.Rules) error                      { return nil }
func (nopKernel) Seccomp([]unix.SockFilter) error                     { return nil }
func (nopKernel) DropBoundingSet([]uint32) error                      { return nil }
func (nopKernel) SetInheritable([]uint32) error                       { return nil }
func (nopKernel) CloseFDs([]uint32) error                             { return nil }
func (nopKernel) OpenPTY(string, []uint32) (int, *os.File, string, error) {
	return -1, nil, "", unix.ENOSYS
}
func (nopKernel) Listen(plan.ProxyListen) (int, error)   { return -1, unix.ENOSYS }
func (nopKernel) ProxyReady(string, time.Duration) error { return nil }
func (nopKernel) LinkUp(string) error                    { return nil }
func (nopKernel) AddrAdd(string, string) error           { return nil }
func (nopKernel) DefaultRoute(string, string) error      { return nil }
func (nopKernel) Nft(*plan.NftRule) error                { return nil }

type nopRoot struct{}

func (nopRoot) Mkdir(string, uint32) (int, error) { return -1, nil }
func (nopRoot) MountFS(string, []string, uint64, string, mounts.Target) error {
	return nil
}
func (nopRoot) Bind(root, string, string, uint64, bool, bool, mounts.Target) error { return nil }
func (nopRoot) Attach(int, string) error                                           { return nil }
func (nopRoot) WriteFile(string, uint32, string) error                             { return nil }
func (nopRoot) Mknod(string, uint32, uint64, uint32, uint32) error                 { return nil }
func (nopRoot) Symlink(string, string) error                                       { return nil }
func (nopRoot) PinLowers(o []string, _ string) ([]string, []int, error)            { return o, nil, nil }
func (nopRoot) Close() error                                                       { return nil }

// BenchmarkInitSteps runs init's part of dev.root's plan (the built-in
// dev profile for root) with calls that do nothing: the executor's own
// cost per launch, dispatch, wrapping and tracing included.
func BenchmarkInitSteps(b *testing.B) {
	p := goldenPlans(b)["dev.root"]
	if p == nil {
		b.Fatal("no dev.root plan")
	}
	b.ReportAllocs()
	for b.Loop() {
		ex := &initExec{k: nopKernel{}, passEnv: p.PassEnv, conn: -1}
		if _, _, err := ex.run(p, func(int, int, time.Time) {}); err != nil {
			b.Fatal(err)
		}
	}
}
