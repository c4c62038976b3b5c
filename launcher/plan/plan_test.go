package plan

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/launcher/landlock"
	"github.com/cellsandbox/cell/launcher/network"
	"github.com/cellsandbox/cell/launcher/rlimit"
	"github.com/cellsandbox/cell/launcher/seccomp"
)

func valid() *Plan {
	return &Plan{Profile: "t", Steps: []Step{
		{Side: Parent, Op: OpClone, Flags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS},
		{Side: Parent, Op: OpWriteIDMap, Path: "uid_map", Data: "0 0 1\n"},
		{Side: Init, Op: OpPdeathsig, ID: 9},
		{Side: Init, Op: OpExecInit, Path: "/proc/self/exe", Args: []string{"cell-init", "3"}},
		{Side: Init, Op: OpMount, Path: "/", Flags: unix.MS_REC | unix.MS_PRIVATE},
		{Side: Init, Op: OpMount, Source: "tmpfs", Path: "/tmp", FSType: "tmpfs"},
		{Side: Init, Op: OpPivotRoot, Path: "/tmp", Source: "/tmp/oldroot"},
		{Side: Init, Op: OpBind, Root: "/newroot", SourceRoot: "/oldroot", Source: "/usr", Path: "/usr", Attr: unix.MOUNT_ATTR_RDONLY, Recursive: true},
		{Side: Init, Op: OpUmount, Path: "/oldroot", Flags: unix.MNT_DETACH},
		{Side: Init, Op: OpSetattr, Path: "/", Attr: unix.MOUNT_ATTR_RDONLY},
		{Side: Init, Op: OpSethostname, Path: "cell"},
		{Side: Init, Op: OpLinkUp, Path: "lo"},
		{Side: Init, Op: OpUmask, Mode: 0o22},
		{Side: Init, Op: OpNoNewPrivs},
		{Side: Init, Op: OpCloseFDs},
		{Side: Command, Op: OpSetuid, ID: 1000},
		{Side: Command, Op: OpChdir, Path: "/"},
		{Side: Command, Op: OpPdeathsig, ID: 9},
		{Side: Command, Op: OpExec, Path: "sh", Args: []string{"sh"}},
	}}
}

func TestCheckValid(t *testing.T) {
	if err := valid().Check(); err != nil {
		t.Fatal(err)
	}
	// A sandbox with a cgroup: made before the clone, joined (v1) right
	// after init's exec, removed in cleanup.
	p := valid()
	p.Steps = append([]Step{
		{Side: Parent, Op: OpCgroupMkdir, Path: "/sys/fs/cgroup/pids/cell/x"},
		{Side: Parent, Op: OpCgroupWrite, Path: "/sys/fs/cgroup/pids/cell/x/pids.max", Data: "64"},
	}, p.Steps...)
	p.Steps = append(p.Steps[:6], append([]Step{{Side: Parent, Op: OpCgroupJoin, Path: "/sys/fs/cgroup/pids/cell/x"}}, p.Steps[6:]...)...)
	p.Cleanup = []Step{{Side: Parent, Op: OpCgroupKill, Path: "/sys/fs/cgroup/pids/cell/x"}, {Side: Parent, Op: OpCgroupRemove, Path: "/sys/fs/cgroup/pids/cell/x"}}
	if err := p.Check(); err != nil {
		t.Fatalf("plan with cgroup steps: %v\n%s", err, p)
	}
	// cell marks its descriptors close-on-exec before the clone.
	p = valid()
	p.Steps = append([]Step{{Side: Parent, Op: OpCloseFDs, IDs: []uint32{7}}}, p.Steps...)
	if err := p.Check(); err != nil {
		t.Fatalf("plan with the parent's close-fds: %v\n%s", err, p)
	}
}

// TestCheckNetwork accepts a bridged plan: lease, bridge and host rules
// before the clone, the veth after init's exec, address, route and egress
// rules in init's network phase, and the network's cleanup.
func TestCheckNetwork(t *testing.T) {
	p := valid()
	rule := &network.Rule{Family: "ip", Table: "cell", Chain: "forward", Verdict: "accept", Owner: "s"}
	p.Steps = append([]Step{
		{Side: Parent, Op: OpRequire, Path: "/proc/sys/net/ipv4/ip_forward", Data: "1"},
		{Side: Parent, Op: OpNetLease, Path: "cell0", Data: "10.88.0.0/24", Source: "s"},
		{Side: Parent, Op: OpBridge, Path: "cell0", Data: "10.88.0.1/24"},
		{Side: Parent, Op: OpNft, Nft: rule},
	}, p.Steps...)
	// After exec-init (index 7 now): the veth.
	p.Steps = append(p.Steps[:8], append([]Step{{Side: Parent, Op: OpVeth, Path: "cellx", Source: "cell0", Data: "eth0"}}, p.Steps[8:]...)...)
	for i, s := range p.Steps {
		if s.Op == OpLinkUp {
			p.Steps = append(p.Steps[:i+1], append([]Step{
				{Side: Init, Op: OpAddrAdd, Path: "eth0", Data: "{lease}/24"},
				{Side: Init, Op: OpRouteAdd, Path: "eth0", Data: "10.88.0.1"},
				{Side: Init, Op: OpNft, Nft: &network.Rule{Family: "inet", Table: "cell", Chain: "egress", Verdict: "reject"}},
			}, p.Steps[i+1:]...)...)
			break
		}
	}
	p.Cleanup = []Step{{Side: Parent, Op: OpNftDelete, Path: "ip cell", Data: "s"}, {Side: Parent, Op: OpLeaseRelease, Path: "cell0", Data: "s"}, {Side: Parent, Op: OpUserNetStop}}
	if err := p.Check(); err != nil {
		t.Fatalf("bridged plan: %v\n%s", err, p)
	}
}

// TestCheckRules breaks each ordering rule once; every broken plan must be
// refused with a message naming the problem.
func TestCheckRules(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *Plan)
		want   string
	}{
		{"no clone first", func(p *Plan) { p.Steps = p.Steps[1:] }, "starts with clone"},
		{"no exec last", func(p *Plan) { p.Steps = p.Steps[:len(p.Steps)-1] }, "ends with exec"},
		{"two clones", func(p *Plan) { p.Steps[1] = p.Steps[0] }, "one clone"},
		{"wrong side", func(p *Plan) { p.Steps[10].Side = Command }, "belongs in init"},
		{"mount after pivot", func(p *Plan) { p.Steps[8], p.Steps[7] = p.Steps[7], p.Steps[8] }, "too late"},
		{"hostname before read-only remount", func(p *Plan) { p.Steps[9], p.Steps[10] = p.Steps[10], p.Steps[9] }, "too late"},
		{"privileges after closing fds", func(p *Plan) { p.Steps[13], p.Steps[14] = p.Steps[14], p.Steps[13] }, "too late"},
		{"setuid after chdir", func(p *Plan) { p.Steps[15], p.Steps[16] = p.Steps[16], p.Steps[15] }, "too late"},
		{"init step after command steps", func(p *Plan) {
			p.Steps = append(p.Steps[:16], append([]Step{{Side: Init, Op: OpUmask}}, p.Steps[16:]...)...)
		}, "after command steps"},
		{"parent step after exec-init", func(p *Plan) {
			p.Steps = append(p.Steps[:5], append([]Step{{Side: Parent, Op: OpCgroupMkdir}}, p.Steps[5:]...)...)
		}, "before exec-init"},
		{"init step before exec-init", func(p *Plan) { p.Steps[2] = Step{Side: Init, Op: OpSethostname} }, "needs init to have exec'd"},
		{"no exec-init", func(p *Plan) { p.Steps = append(p.Steps[:3], p.Steps[4:]...) }, "exec'd"},
		{"invalid op", func(p *Plan) { p.Steps[5].Op = OpInvalid }, "invalid op"},
		{"cgroup write after clone", func(p *Plan) {
			p.Steps = append(p.Steps[:1], append([]Step{{Side: Parent, Op: OpCgroupWrite, Path: "/sys/fs/cgroup/x/pids.max"}}, p.Steps[1:]...)...)
		}, "too late"},
		{"cgroup join before clone", func(p *Plan) {
			p.Steps = append([]Step{{Side: Parent, Op: OpCgroupJoin, Path: "/sys/fs/cgroup/x"}}, p.Steps...)
		}, "starts with clone"},
		{"cleanup that is not cgroup teardown", func(p *Plan) { p.Cleanup = []Step{{Side: Parent, Op: OpUmask}} }, "cleanup is the parent's"},
		{"cgroup teardown as a step", func(p *Plan) {
			p.Steps = append(p.Steps[:5], append([]Step{{Side: Parent, Op: OpCgroupRemove}}, p.Steps[5:]...)...)
		}, "invalid op"},
		{"host rule after the clone", func(p *Plan) {
			p.Steps = append(p.Steps[:1], append([]Step{{Side: Parent, Op: OpNft, Nft: &network.Rule{Family: "ip", Table: "cell", Chain: "forward", Verdict: "accept"}}}, p.Steps[1:]...)...)
		}, "too late"},
		{"veth before the clone", func(p *Plan) {
			p.Steps = append([]Step{{Side: Parent, Op: OpVeth, Path: "cellx", Source: "cell0", Data: "eth0"}}, p.Steps...)
		}, "starts with clone"},
		{"egress rule after capabilities are dropped", func(p *Plan) {
			p.Steps = append(p.Steps[:14], append([]Step{{Side: Init, Op: OpNft, Nft: &network.Rule{Family: "inet", Table: "cell", Chain: "egress", Verdict: "reject"}}}, p.Steps[14:]...)...)
		}, "too late"},
		{"address in the command", func(p *Plan) {
			p.Steps = append(p.Steps[:16], append([]Step{{Side: Command, Op: OpAddrAdd, Path: "eth0", Data: "10.88.0.2/24"}}, p.Steps[16:]...)...)
		}, "belongs in init"},
		{"close-fds in the parent after the clone", func(p *Plan) {
			p.Steps = append(p.Steps[:1], append([]Step{{Side: Parent, Op: OpCloseFDs}}, p.Steps[1:]...)...)
		}, "too late"},
		{"close-fds in the command", func(p *Plan) { p.Steps[14].Side = Command }, "invalid op"},
		{"lease release as a step", func(p *Plan) {
			p.Steps = append(p.Steps[:1], append([]Step{{Side: Parent, Op: OpLeaseRelease}}, p.Steps[1:]...)...)
		}, "invalid op"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := valid()
			tt.mutate(p)
			err := p.Check()
			if err == nil {
				t.Fatalf("Check accepted a plan with %s", tt.name)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func mustResource(t *testing.T, name string) rlimit.Resource {
	t.Helper()
	r, err := rlimit.Parse(name)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestJSONRoundTrip encodes one step of every op and decodes it back.
func TestJSONRoundTrip(t *testing.T) {
	for op := OpClone; op < opCount; op++ {
		t.Run(op.String(), func(t *testing.T) {
			s := Step{Side: Init, Op: op, Pos: Pos{File: "f.yaml", Line: 3, Col: 7},
				Path: "/p", Root: "/newroot", Source: "/s", SourceRoot: "/oldroot", FSType: "tmpfs",
				Flags: 6, Attr: 1, Data: "d", Options: []string{"mode=0755"}, Mode: 0o755, ID: 9,
				IDs: []uint32{1, 2}, Args: []string{"a"}, Env: []string{"A=1"}, Recursive: true, Optional: true, Existing: true,
				Rlimit:   &rlimit.Limit{Resource: mustResource(t, "nofile"), Soft: 64, Hard: 128},
				Landlock: &landlock.Rules{ReadOnly: []string{"/usr"}, ConnectTCP: []uint16{443}, Mode: landlock.BestEffort}, ABI: 4,
				Seccomp: seccomp.Default(), Filter: []unix.SockFilter{{Code: 6, K: 0x7fff0000}},
				Nft: &network.Rule{Family: "ip", Table: "cell", Chain: "forward", IIF: "cell0", Saddr: "{lease}", Verdict: "accept", Owner: "s"},
				Proxy: &network.Proxy{Listen: network.ProxyListens(), Upstream: []string{"192.0.2.53:53"}, Default: "f.yaml:4:5", UID: 65534, GID: 65534,
					Rules: []network.ProxyRule{{Domain: "*.example.com", Ports: []uint16{443}, Pos: "f.yaml:6:9"}, {Prefix: "192.0.2.0/24", Pos: "f.yaml:7:9"}}}}
			b, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), `"op":"`+op.String()+`"`) {
				t.Errorf("op not by name in %s", b)
			}
			var got Step
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(s, got, cmpopts.IgnoreUnexported(seccomp.Policy{}, seccomp.Rule{})); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			if strings.HasSuffix(s.Call(), "(?)") {
				t.Errorf("Call of %s prints nothing useful: %s", op, s.Call())
			}
		})
	}
	var o Op
	if err := o.UnmarshalText([]byte("nope")); err == nil {
		t.Error("unknown op name accepted")
	}
}

func TestDecodeChecks(t *testing.T) {
	b, err := valid().Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(b); err != nil {
		t.Fatal(err)
	}
	bad := valid()
	bad.Steps = bad.Steps[1:]
	b, _ = json.Marshal(bad)
	if _, err := Decode(b); err == nil {
		t.Error("Decode accepted a plan that fails Check")
	}
}

func TestString(t *testing.T) {
	p := &Plan{Steps: []Step{
		{Side: Parent, Op: OpClone, Flags: unix.CLONE_NEWUSER | unix.CLONE_NEWPID, Pos: Pos{File: "d.yaml", Line: 2, Col: 3}},
		{Side: Init, Op: OpBind, Root: "/newroot", SourceRoot: "/oldroot", Source: "/home/u/src", Path: "/src",
			Attr: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID, Recursive: true, Optional: true},
		{Side: Init, Op: OpMount, Path: "/", Flags: unix.MS_REC | unix.MS_PRIVATE},
		{Side: Init, Op: OpMountFS, Root: "/newroot", FSType: "tmpfs", Path: "/tmp", Options: []string{"mode=1777", "size=1024"}, Attr: unix.MOUNT_ATTR_NODEV},
		{Side: Command, Op: OpExec, Path: "sh", Args: []string{"sh", "-c", "echo \"hi\""}, Env: []string{"A=1"}},
	}}
	want := `1 parent  clone(CLONE_NEWUSER|CLONE_NEWPID|SIGCHLD) = INIT  # d.yaml:2:3
2 init    open_tree("/oldroot/home/u/src", OPEN_TREE_CLONE|AT_RECURSIVE) mount_setattr(MOUNT_ATTR_RDONLY|MOUNT_ATTR_NOSUID, AT_RECURSIVE) move_mount(-> "/newroot/src") if it exists  # -
3 init    mount(NULL, "/", NULL, MS_REC|MS_PRIVATE, NULL)  # -
4 init    fsopen("tmpfs") fsconfig(mode=1777, size=1024) fsmount(MOUNT_ATTR_NODEV) move_mount(-> "/newroot/tmp")  # -
5 command execvpe("sh", ["sh", "-c", "echo \"hi\""], ["A=1"])  # -
`
	if diff := cmp.Diff(want, p.String()); diff != "" {
		t.Errorf("String (-want +got):\n%s", diff)
	}
	if got := (&p.Steps[1]).Summary(); got != "bind /home/u/src -> /src" {
		t.Errorf("Summary = %q", got)
	}

	// A pooled plan is the same plan, split where the sandbox waits.
	p.Pooled = true
	want = strings.Replace(want, "5 command", PoolSplit+"\n5 command", 1)
	if diff := cmp.Diff(want, p.String()); diff != "" {
		t.Errorf("String of the pooled plan (-want +got):\n%s", diff)
	}
}

func TestFlagNames(t *testing.T) {
	if got := MountFlags(unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY | 1<<40).String(); got != "MS_RDONLY|MS_BIND|MS_REC|0x10000000000" {
		t.Errorf("got %s", got)
	}
	if got := UmountFlags(0).String(); got != "0" {
		t.Errorf("got %s", got)
	}
}

// TestCheckConsole accepts a controlling terminal only with a console step
// that made it: TIOCSCTTY on whatever descriptor 0 is would give the
// command the caller's terminal.
func TestCheckConsole(t *testing.T) {
	with := func(steps ...Step) *Plan {
		p := valid()
		for i, s := range p.Steps {
			if s.Op == OpUmask {
				p.Steps = append(p.Steps[:i+1], append([]Step{steps[0]}, p.Steps[i+1:]...)...)
				break
			}
		}
		for i, s := range p.Steps {
			if s.Op == OpSetuid && len(steps) > 1 {
				p.Steps = append(p.Steps[:i], append(steps[1:], p.Steps[i:]...)...)
				break
			}
		}
		return p
	}
	console := Step{Side: Init, Op: OpConsole, Path: "/dev/ptmx", IDs: []uint32{1000, 1000}}
	setsid, ctty := Step{Side: Command, Op: OpSetsid}, Step{Side: Command, Op: OpSetctty}
	if err := with(console, setsid, ctty).Check(); err != nil {
		t.Errorf("console, setsid, setctty: %v", err)
	}
	if err := with(Step{Side: Init, Op: OpUmask}, setsid, ctty).Check(); err == nil || !strings.Contains(err.Error(), "needs a console") {
		t.Errorf("setctty without a console: %v", err)
	}
	if err := with(console).Check(); err == nil || !strings.Contains(err.Error(), "needs a setctty") {
		t.Errorf("console without setctty: %v", err)
	}
	if got := console.Call(); !strings.Contains(got, `open("/dev/ptmx")`) || !strings.Contains(got, "fchown(slave, 1000, 1000)") || !strings.Contains(got, "SCM_RIGHTS") {
		t.Errorf("console prints as %s", got)
	}
}
