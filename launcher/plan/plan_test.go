package plan

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func valid() *Plan {
	return &Plan{Profile: "t", Steps: []Step{
		{Side: Parent, Do: &Clone{Flags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS}},
		{Side: Parent, Do: &WriteIDMap{File: "uid_map", Data: "0 0 1\n"}},
		{Side: Init, Do: &Pdeathsig{Signal: 9}},
		{Side: Init, Do: &ExecInit{Path: "/proc/self/exe", Args: []string{"cell-init", "3"}}},
		{Side: Init, Do: &Mount{Target: "/", Flags: unix.MS_REC | unix.MS_PRIVATE}},
		{Side: Init, Do: &Mount{Source: "tmpfs", Target: "/tmp", FSType: "tmpfs"}},
		{Side: Init, Do: &PivotRoot{NewRoot: "/tmp", PutOld: "/tmp/oldroot"}},
		{Side: Init, Do: &Bind{Root: "/newroot", SourceRoot: "/oldroot", Source: "/usr", Target: "/usr", Attr: unix.MOUNT_ATTR_RDONLY, Recursive: true}},
		{Side: Init, Do: &Umount{Target: "/oldroot", Flags: unix.MNT_DETACH}},
		{Side: Init, Do: &Setattr{Target: "/", Attr: unix.MOUNT_ATTR_RDONLY}},
		{Side: Init, Do: &Sethostname{Hostname: "cell"}},
		{Side: Init, Do: &LinkUp{Interface: "lo"}},
		{Side: Init, Do: &Umask{Mask: 0o22}},
		{Side: Init, Do: &NoNewPrivs{}},
		{Side: Init, Do: &CloseFDs{}},
		{Side: Command, Do: &Setuid{UID: 1000}},
		{Side: Command, Do: &Chdir{Dir: "/"}},
		{Side: Command, Do: &Pdeathsig{Signal: 9}},
		{Side: Command, Do: &Exec{Path: "sh", Args: []string{"sh"}}},
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
		{Side: Parent, Do: &CgroupMkdir{Dir: "/sys/fs/cgroup/pids/cell/x"}},
		{Side: Parent, Do: &CgroupWrite{File: "/sys/fs/cgroup/pids/cell/x/pids.max", Value: "64"}},
	}, p.Steps...)
	p.Steps = append(p.Steps[:6], append([]Step{{Side: Parent, Do: &CgroupJoin{Dir: "/sys/fs/cgroup/pids/cell/x"}}}, p.Steps[6:]...)...)
	p.Cleanup = []Step{{Side: Parent, Do: &CgroupKill{Dir: "/sys/fs/cgroup/pids/cell/x"}}, {Side: Parent, Do: &CgroupRemove{Dir: "/sys/fs/cgroup/pids/cell/x"}}}
	if err := p.Check(); err != nil {
		t.Fatalf("plan with cgroup steps: %v\n%s", err, p)
	}
	// cell marks its descriptors close-on-exec before the clone.
	p = valid()
	p.Steps = append([]Step{{Side: Parent, Do: &CloseFDs{Keep: []uint32{7}}}}, p.Steps...)
	if err := p.Check(); err != nil {
		t.Fatalf("plan with the parent's close-fds: %v\n%s", err, p)
	}
}

// TestCheckNetwork accepts a bridged plan: lease, bridge and host rules
// before the clone, the veth after init's exec, address, route and egress
// rules in init's network phase, and the network's cleanup.
func TestCheckNetwork(t *testing.T) {
	p := valid()
	rule := NftRule{Family: "ip", Table: "cell", Chain: "forward", Verdict: "accept", Owner: "s"}
	p.Steps = append([]Step{
		{Side: Parent, Do: &Require{File: "/proc/sys/net/ipv4/ip_forward", Value: "1"}},
		{Side: Parent, Do: &NetLease{Bridge: "cell0", Subnet: "10.88.0.0/24", Sandbox: "s"}},
		{Side: Parent, Do: &Bridge{Name: "cell0", Address: "10.88.0.1/24"}},
		{Side: Parent, Do: &Nft{Rule: rule}},
	}, p.Steps...)
	// After exec-init (index 7 now): the veth.
	p.Steps = append(p.Steps[:8], append([]Step{{Side: Parent, Do: &Veth{Host: "cellx", Bridge: "cell0", Guest: "eth0"}}}, p.Steps[8:]...)...)
	for i, s := range p.Steps {
		if s.Op() == OpLinkUp {
			p.Steps = append(p.Steps[:i+1], append([]Step{
				{Side: Init, Do: &AddrAdd{Interface: "eth0", Address: "{lease}/24"}},
				{Side: Init, Do: &RouteAdd{Interface: "eth0", Gateway: "10.88.0.1"}},
				{Side: Init, Do: &Nft{Rule: NftRule{Family: "inet", Table: "cell", Chain: "egress", Verdict: "reject"}}},
			}, p.Steps[i+1:]...)...)
			break
		}
	}
	p.Cleanup = []Step{{Side: Parent, Do: &NftDelete{Table: "ip cell", Owner: "s"}}, {Side: Parent, Do: &LeaseRelease{Bridge: "cell0", Sandbox: "s"}}, {Side: Parent, Do: &UserNetStop{}}}
	if err := p.Check(); err != nil {
		t.Fatalf("bridged plan: %v\n%s", err, p)
	}
}

// TestForkSpecs: a plan whose clone and exec specs hold every op they may,
// in Go's fork order, passes Check; and each op of a spec has the one
// phase of its stage on the sides of the specs that declare it.
func TestForkSpecs(t *testing.T) {
	p := &Plan{Profile: "t", Steps: []Step{
		{Side: Parent, Do: &Clone{Flags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS}},
		{Side: Parent, Do: &WriteIDMap{File: "uid_map", Data: "0 0 1\n"}},
		{Side: Init, Do: &Setsid{}},
		{Side: Init, Do: &InitIDs{UID: 0, GID: 0}},
		{Side: Init, Do: &AmbientCaps{Caps: []uint32{21}}},
		{Side: Init, Do: &Pdeathsig{Signal: 9}},
		{Side: Init, Do: &ExecInit{Path: "/proc/self/exe", Args: []string{"cell-init", "3"}}},
		{Side: Init, Do: &CloseFDs{}},
		{Side: Command, Do: &Setsid{}},
		{Side: Command, Do: &Setgroups{}},
		{Side: Command, Do: &Setgid{GID: 1000}},
		{Side: Command, Do: &Setuid{UID: 1000}},
		{Side: Command, Do: &AmbientCaps{Caps: []uint32{21}}},
		{Side: Command, Do: &Chdir{Dir: "/"}},
		{Side: Command, Do: &Pdeathsig{Signal: 9}},
		{Side: Command, Do: &Exec{Path: "sh", Args: []string{"sh"}}},
	}}
	if err := p.Check(); err != nil {
		t.Fatalf("specs in Go's fork order: %v\n%s", err, p)
	}
	for o, f := range forkOrder {
		for side, ok := range map[Side]bool{Init: f.clone, Command: f.exec} {
			if !ok {
				continue
			}
			want := phaseCloneSpec + int(f.stage)
			if side == Command {
				want = phaseExecSpec + int(f.stage)
			}
			first, last := (&Step{Side: side, Do: New(o)}).window()
			if first != want || last != want && !(o == OpPdeathsig && side == Init) {
				t.Errorf("%s in %s: window %d..%d, want the phase of stage %d, %d", o, side, first, last, f.stage, want)
			}
		}
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
			p.Steps = append(p.Steps[:16], append([]Step{{Side: Init, Do: &Umask{}}}, p.Steps[16:]...)...)
		}, "after command steps"},
		{"parent step after exec-init", func(p *Plan) {
			p.Steps = append(p.Steps[:5], append([]Step{{Side: Parent, Do: &CgroupMkdir{}}}, p.Steps[5:]...)...)
		}, "before exec-init"},
		{"init step before exec-init", func(p *Plan) { p.Steps[2] = Step{Side: Init, Do: &Sethostname{}} }, "needs init to have exec'd"},
		{"no exec-init", func(p *Plan) { p.Steps = append(p.Steps[:3], p.Steps[4:]...) }, "exec'd"},
		{"invalid op", func(p *Plan) { p.Steps[5].Do = nil }, "invalid op"},
		{"cgroup write after clone", func(p *Plan) {
			p.Steps = append(p.Steps[:1], append([]Step{{Side: Parent, Do: &CgroupWrite{File: "/sys/fs/cgroup/x/pids.max"}}}, p.Steps[1:]...)...)
		}, "too late"},
		{"cgroup join before clone", func(p *Plan) {
			p.Steps = append([]Step{{Side: Parent, Do: &CgroupJoin{Dir: "/sys/fs/cgroup/x"}}}, p.Steps...)
		}, "starts with clone"},
		{"cleanup that is not cgroup teardown", func(p *Plan) { p.Cleanup = []Step{{Side: Parent, Do: &Umask{}}} }, "cleanup is the parent's"},
		{"cgroup teardown as a step", func(p *Plan) {
			p.Steps = append(p.Steps[:5], append([]Step{{Side: Parent, Do: &CgroupRemove{}}}, p.Steps[5:]...)...)
		}, "invalid op"},
		{"host rule after the clone", func(p *Plan) {
			p.Steps = append(p.Steps[:1], append([]Step{{Side: Parent, Do: &Nft{Rule: NftRule{Family: "ip", Table: "cell", Chain: "forward", Verdict: "accept"}}}}, p.Steps[1:]...)...)
		}, "too late"},
		{"veth before the clone", func(p *Plan) {
			p.Steps = append([]Step{{Side: Parent, Do: &Veth{Host: "cellx", Bridge: "cell0", Guest: "eth0"}}}, p.Steps...)
		}, "starts with clone"},
		{"egress rule after capabilities are dropped", func(p *Plan) {
			p.Steps = append(p.Steps[:14], append([]Step{{Side: Init, Do: &Nft{Rule: NftRule{Family: "inet", Table: "cell", Chain: "egress", Verdict: "reject"}}}}, p.Steps[14:]...)...)
		}, "too late"},
		{"address in the command", func(p *Plan) {
			p.Steps = append(p.Steps[:16], append([]Step{{Side: Command, Do: &AddrAdd{Interface: "eth0", Address: "10.88.0.2/24"}}}, p.Steps[16:]...)...)
		}, "belongs in init"},
		{"close-fds in the parent after the clone", func(p *Plan) {
			p.Steps = append(p.Steps[:1], append([]Step{{Side: Parent, Do: &CloseFDs{}}}, p.Steps[1:]...)...)
		}, "too late"},
		{"close-fds in the command", func(p *Plan) { p.Steps[14].Side = Command }, "invalid op"},
		{"id map written after exec-init", func(p *Plan) {
			p.Steps = append(p.Steps[:4], append([]Step{{Side: Parent, Do: &WriteIDMap{File: "gid_map", Data: "0 0 1\n"}}}, p.Steps[4:]...)...)
		}, "before exec-init"},
		{"deny-setgroups before exec-init", func(p *Plan) {
			p.Steps = append(p.Steps[:1], append([]Step{{Side: Parent, Do: &DenySetgroups{}}}, p.Steps[1:]...)...)
		}, "after init's first exec"},
		{"mount source among the options", func(p *Plan) {
			p.Steps[7].Do = &MountFS{Root: "/newroot", FSType: "sysfs", Source: "sysfs", Target: "/sys", Options: []string{"source=other"}}
		}, "its source field"},
		// The clone and exec specs, in Go's fork order (fork.go).
		{"init's setsid after its pdeathsig", func(p *Plan) {
			p.Steps = append(p.Steps[:3], append([]Step{{Side: Init, Do: &Setsid{}}}, p.Steps[3:]...)...)
		}, "too late"},
		{"init's setsid after its exec", func(p *Plan) {
			p.Steps = append(p.Steps[:4], append([]Step{{Side: Init, Do: &Setsid{}}}, p.Steps[4:]...)...)
		}, "too late"},
		{"id map written after init's setsid", func(p *Plan) {
			p.Steps = append(p.Steps[:1], append([]Step{{Side: Init, Do: &Setsid{}}}, p.Steps[1:]...)...)
		}, "too late"},
		{"init's IDs after its ambient capabilities", func(p *Plan) {
			p.Steps = append(p.Steps[:2], append([]Step{{Side: Init, Do: &AmbientCaps{Caps: []uint32{21}}}, {Side: Init, Do: &InitIDs{}}}, p.Steps[2:]...)...)
		}, "too late"},
		{"ambient capabilities before setuid in the command", func(p *Plan) {
			p.Steps = append(p.Steps[:15], append([]Step{{Side: Command, Do: &AmbientCaps{Caps: []uint32{21}}}}, p.Steps[15:]...)...)
		}, "too late"},
		{"setsid after setuid in the command", func(p *Plan) {
			p.Steps = append(p.Steps[:16], append([]Step{{Side: Command, Do: &Setsid{}}}, p.Steps[16:]...)...)
		}, "too late"},
		{"setgroups in init's clone", func(p *Plan) {
			p.Steps = append(p.Steps[:2], append([]Step{{Side: Init, Do: &Setgroups{}}}, p.Steps[2:]...)...)
		}, "belongs in command"},
		{"lease release as a step", func(p *Plan) {
			p.Steps = append(p.Steps[:1], append([]Step{{Side: Parent, Do: &LeaseRelease{}}}, p.Steps[1:]...)...)
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

// fill sets every field of v, recursively, to a value that is not its
// zero value, so that a round trip that loses a field shows.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		fill(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i))
		}
	case reflect.String:
		v.SetString("x" + v.Type().Name())
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(-3)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		fill(s.Index(0))
		fill(s.Index(1))
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k)
		fill(e)
		m.SetMapIndex(k, e)
		v.Set(m)
	default:
		panic("fill: " + v.Kind().String())
	}
}

// TestOpTable checks the op table: every op has a name, an action of its
// own op, and at least one side or cleanup.
func TestOpTable(t *testing.T) {
	names := map[string]Op{}
	for _, op := range Ops() {
		a := New(op)
		if a == nil || a.Op() != op {
			t.Errorf("%s: New makes %T", op, a)
			continue
		}
		if prev, dup := names[op.String()]; dup {
			t.Errorf("%s and %d share the name %q", op, prev, op.String())
		}
		names[op.String()] = op
		if len(op.Sides()) == 0 {
			t.Errorf("%s: no side may run it", op)
		}
	}
	if len(names) != int(opCount)-1 {
		t.Errorf("%d ops have a name, want %d", len(names), opCount-1)
	}
}

// TestJSONRoundTrip encodes one step of every op, every field of its
// action set, and decodes it back.
func TestJSONRoundTrip(t *testing.T) {
	for _, op := range Ops() {
		t.Run(op.String(), func(t *testing.T) {
			a := New(op)
			fill(reflect.ValueOf(a))
			s := Step{Side: op.Sides()[0], Pos: Pos{File: "f.yaml", Line: 3, Col: 7}, Do: a}
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
			if sc, ok := a.(*Seccomp); ok {
				sc.Policy = "" // explains the filter; not encoded
			}
			if diff := cmp.Diff(s, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			if strings.HasSuffix(s.Call(), "(?)") || s.Call() == "" {
				t.Errorf("Call of %s prints nothing useful: %s", op, s.Call())
			}
		})
	}
	var o Op
	if err := o.UnmarshalText([]byte("nope")); err == nil {
		t.Error("unknown op name accepted")
	}
	// Setctty had no name in version 1, and printed as "op":"".
	if b, err := json.Marshal(Step{Side: Command, Do: &Setctty{}}); err != nil || !strings.Contains(string(b), `"op":"setctty"`) {
		t.Errorf("setctty encodes as %s, %v", b, err)
	}
}

// TestDecodeRefuses refuses a plan of another version, one without a
// version, and one with an op this cell does not know, each saying so.
func TestDecodeRefuses(t *testing.T) {
	b, err := valid().Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), `{"version":2,`) {
		t.Fatalf("the version is not first: %.40s", b)
	}
	if byValue, err := json.Marshal(*valid()); err != nil || !strings.HasPrefix(string(byValue), `{"version":2,`) {
		t.Fatalf("a plan encoded by value has no version: %.40s %v", byValue, err)
	}
	for _, tt := range []struct {
		name, in, want string
	}{
		{"other version", strings.Replace(string(b), `"version":2`, `"version":3`, 1), "version 3; this cell reads version 2"},
		{"version 1", strings.Replace(string(b), `"version":2`, `"version":1`, 1), "version 1; this cell reads version 2"},
		{"no version", strings.Replace(string(b), `"version":2,`, ``, 1), "no version"},
		{"unknown op", strings.Replace(string(b), `"op":"umask"`, `"op":"frobnicate"`, 1), `unknown op "frobnicate"`},
		{"no op", strings.Replace(string(b), `"op":"umask",`, ``, 1), "has no op"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Decode: %v, want an error with %q", err, tt.want)
			}
		})
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
		{Side: Parent, Do: &Clone{Flags: unix.CLONE_NEWUSER | unix.CLONE_NEWPID}, Pos: Pos{File: "d.yaml", Line: 2, Col: 3}},
		{Side: Init, Do: &Bind{Root: "/newroot", SourceRoot: "/oldroot", Source: "/home/u/src", Target: "/src",
			Attr: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID, Recursive: true, Optional: true}},
		{Side: Init, Do: &Mount{Target: "/", Flags: unix.MS_REC | unix.MS_PRIVATE}},
		{Side: Init, Do: &MountFS{Root: "/newroot", FSType: "tmpfs", Source: "shm", Target: "/tmp", Options: []string{"mode=1777", "size=1024"}, Attr: unix.MOUNT_ATTR_NODEV}},
		{Side: Command, Do: &Exec{Path: "sh", Args: []string{"sh", "-c", "echo \"hi\""}, Env: []string{"A=1"}}},
	}}
	want := `1 parent  clone(CLONE_NEWUSER|CLONE_NEWPID|SIGCHLD) = INIT  # d.yaml:2:3
2 init    open_tree("/oldroot/home/u/src", OPEN_TREE_CLONE|AT_RECURSIVE) mount_setattr(MOUNT_ATTR_RDONLY|MOUNT_ATTR_NOSUID, AT_RECURSIVE) move_mount(-> "/newroot/src") if it exists  # -
3 init    mount(NULL, "/", NULL, MS_REC|MS_PRIVATE, NULL)  # -
4 init    fsopen("tmpfs") fsconfig(source=shm, mode=1777, size=1024) fsmount(MOUNT_ATTR_NODEV) move_mount(-> "/newroot/tmp")  # -
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
			if s.Op() == OpUmask {
				p.Steps = append(p.Steps[:i+1], append([]Step{steps[0]}, p.Steps[i+1:]...)...)
				break
			}
		}
		// setsid before the credentials; setctty last before execve,
		// where Go's fork makes the terminal the controlling one.
		for i, s := range p.Steps {
			if s.Op() == OpSetuid && len(steps) > 1 {
				p.Steps = append(p.Steps[:i], append([]Step{steps[1]}, p.Steps[i:]...)...)
				break
			}
		}
		if len(steps) > 2 {
			n := len(p.Steps)
			p.Steps = append(p.Steps[:n-1], steps[2], p.Steps[n-1])
		}
		return p
	}
	console := Step{Side: Init, Do: &Console{Ptmx: "/dev/ptmx", UID: 1000, GID: 1000}}
	setsid, ctty := Step{Side: Command, Do: &Setsid{}}, Step{Side: Command, Do: &Setctty{}}
	if err := with(console, setsid, ctty).Check(); err != nil {
		t.Errorf("console, setsid, setctty: %v", err)
	}
	if err := with(Step{Side: Init, Do: &Umask{}}, setsid, ctty).Check(); err == nil || !strings.Contains(err.Error(), "needs a console") {
		t.Errorf("setctty without a console: %v", err)
	}
	early := with(console, setsid)
	for i, s := range early.Steps {
		if s.Op() == OpSetsid {
			early.Steps = append(early.Steps[:i+1], append([]Step{ctty}, early.Steps[i+1:]...)...)
			break
		}
	}
	if err := early.Check(); err == nil || !strings.Contains(err.Error(), "too late") {
		t.Errorf("setctty printed before the credentials, where Go's fork does not make it: %v", err)
	}
	if err := with(console).Check(); err == nil || !strings.Contains(err.Error(), "needs a setctty") {
		t.Errorf("console without setctty: %v", err)
	}
	if got := console.Call(); !strings.Contains(got, `open("/dev/ptmx")`) || !strings.Contains(got, "fchown(slave, 1000, 1000)") || !strings.Contains(got, "SCM_RIGHTS") {
		t.Errorf("console prints as %s", got)
	}
}

// TestDecodeGoldens decodes the golden plan of every built-in profile
// and encodes it again: the bytes must not change, so the decoder reads
// every field the encoder writes.
func TestDecodeGoldens(t *testing.T) {
	files, err := filepath.Glob("../../internal/compile/testdata/*.json")
	if err != nil || len(files) < 10 {
		t.Fatalf("golden plans: %v (%d)", err, len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			indented, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var in bytes.Buffer
			if err := json.Compact(&in, indented); err != nil {
				t.Fatal(err)
			}
			p, err := Decode(in.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			out, err := p.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(in.Bytes(), out) {
				t.Errorf("decode and encode changed the plan (-golden +again):\n%s", cmp.Diff(in.String(), string(out)))
			}
		})
	}
}

// TestDecodeStrings round-trips strings that need escapes, and refuses
// what is not the plan's JSON.
func TestDecodeStrings(t *testing.T) {
	tricky := "a\"b\\c/\n\r\t\b\f\x01<>&é😀\u2028\u2029"
	p := valid()
	p.Steps = append(p.Steps[:len(p.Steps)-1], Step{Side: Command, Do: &Exec{Path: tricky, Args: []string{tricky, ""}, Env: []string{}}})
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	// \u escapes of a surrogate pair, and one escaped solidus.
	var s Step
	if err := json.Unmarshal([]byte(`{"side":"command","op":"chdir","args":{"dir":"\ud83d\ude00\/x"}}`), &s); err != nil || s.Do.(*Chdir).Dir != "😀/x" {
		t.Errorf("surrogate pair: %v %+v", err, s.Do)
	}
	// Args before the op are read once the op is known.
	if err := json.Unmarshal([]byte(`{"args":{"dir":"/a"},"side":"command","op":"chdir"}`), &s); err != nil || s.Do.(*Chdir).Dir != "/a" {
		t.Errorf("args before op: %v %+v", err, s.Do)
	}
	for _, bad := range []string{
		`{"side":"command","op":"chdir","args":{"dir":"/a","nope":1}}`,
		`{"side":"command","op":"umask","args":{"mask":1.5}}`,
		`{"side":"command","op":"umask","args":{"mask":-1}}`,
		`{"side":"command","op":"chdir","args":{"dir":"/a"}} x`,
		`{"side":"command","op":"chdir","args":{"dir":"/a\x01"}}`,
		`{"side":"command","op":"chdir","args":{"dir":"/a`,
		`{"side":"elsewhere","op":"chdir"}`,
	} {
		if err := json.Unmarshal([]byte(bad), &s); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// TestCheckUmountRootfs: cleanup unmounts only under a root directory
// that a bind-rootfs step of the plan binds; that bind is undone in
// cleanup, init chroots into it and never pivots; a chroot comes only
// with such a bind.
func TestCheckUmountRootfs(t *testing.T) {
	p := valid()
	p.Cleanup = []Step{{Side: Parent, Do: &UmountRootfs{Root: "/srv/rootfs", Target: "/proc"}}}
	if err := p.Check(); err == nil || !strings.Contains(err.Error(), "no bind-rootfs step") {
		t.Errorf("umount-rootfs without bind-rootfs: %v, want it refused", err)
	}
	// A root directory on the host instead of a staged new root: bind,
	// chroot, and the bind undone in cleanup.
	p.Steps = slices.DeleteFunc(p.Steps, func(s Step) bool {
		switch s.Do.(type) {
		case *Mount, *PivotRoot, *Umount, *Bind:
			return true
		}
		return false
	})
	p.Steps = slices.Insert(p.Steps, 4, Step{Side: Init, Do: &BindRootfs{Path: "/srv/rootfs"}},
		Step{Side: Init, Do: &Chdir{Dir: "/srv/rootfs"}}, Step{Side: Init, Do: &Chroot{Dir: "."}})
	if err := p.Check(); err == nil || !strings.Contains(err.Error(), "no umount-rootfs of /srv/rootfs") {
		t.Errorf("bind-rootfs not undone: %v, want it refused", err)
	}
	p.Cleanup = append(p.Cleanup, Step{Side: Parent, Do: &UmountRootfs{Root: "/srv/rootfs", Target: "/"}})
	if err := p.Check(); err != nil {
		t.Errorf("bind-rootfs, chroot, umount-rootfs: %v\n%s", err, p)
	}
	for _, tc := range []struct {
		name string
		edit func(*Plan)
		want string
	}{
		{"pivot", func(p *Plan) {
			p.Steps = slices.Insert(p.Steps, 7, Step{Side: Init, Do: &PivotRoot{NewRoot: ".", PutOld: "."}})
		}, "would change the host's root"},
		{"no chroot", func(p *Plan) {
			p.Steps = slices.DeleteFunc(p.Steps, func(s Step) bool { _, ok := s.Do.(*Chroot); return ok })
		}, "needs a chroot step"},
		{"chroot alone", func(p *Plan) {
			p.Steps = slices.DeleteFunc(p.Steps, func(s Step) bool { _, ok := s.Do.(*BindRootfs); return ok })
			p.Cleanup = nil
		}, "needs a bind-rootfs step"},
	} {
		q := *p
		q.Steps, q.Cleanup = slices.Clone(p.Steps), slices.Clone(p.Cleanup)
		tc.edit(&q)
		if err := q.Check(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
