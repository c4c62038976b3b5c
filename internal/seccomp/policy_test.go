package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	docker "github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s is stale (-want +got):\n%s", path, diff)
	}
}

func TestSummaryGolden(t *testing.T) {
	for _, nested := range []bool{false, true} {
		p := Default()
		p.AllowNestedNamespaces = nested
		name := "default.summary"
		if nested {
			name = "nested.summary"
		}
		golden(t, name, strings.Join(p.Summary(), "\n")+"\n")
	}
}

func TestStringGolden(t *testing.T) {
	golden(t, "default.policy", Default().String()+"\n")
}

// TestSummary checks the lines cell plan relies on, apart from the golden
// file, and that a profile's rule shows.
func TestSummary(t *testing.T) {
	p := Default()
	for _, r := range []Rule{
		{Names: []string{"ptrace", "process_vm_readv"}, Action: Allow},
		{Names: []string{"socket"}, Action: Errno(unix.EACCES), Args: []Cond{Eq(0, unix.AF_PACKET)}},
		{Names: []string{"uname"}, Action: Log},
	} {
		if err := p.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	got := strings.Join(p.Summary(), "\n")
	for _, want := range []string{
		"default action: EPERM\n",
		"allowed: 302 syscalls, 2 more for some arguments only (personality, socket)\n",
		"socket(AF_NETLINK && 0x9) -> EPROTONOSUPPORT\n",
		"ioctl(TIOCSTI) -> EPERM (low 32 bits compared)\n",
		"ioctl(TIOCLINUX) -> EPERM (low 32 bits compared)\n",
		"clone3 -> ENOSYS",
		"clone(CLONE_NEW*) -> EPERM (nested namespaces off)\n",
		"socket(AF_PACKET) -> EACCES\n",
		"uname -> log\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "ptrace") {
		t.Errorf("summary says ptrace is denied after a rule allowed it:\n%s", got)
	}
	p.LandlockTCP = true
	got = strings.Join(p.Summary(), "\n")
	for _, fam := range []string{"AF_INET", "AF_INET6"} {
		for _, want := range []string{
			"socket(" + fam + " && arg1 & 0xf == SOCK_STREAM && arg2 != 0x0 && arg2 != 0x6) -> EPROTONOSUPPORT (landlock's TCP rules do not mediate it)\n",
			"socket(" + fam + " && arg1 & 0xf != SOCK_STREAM && arg1 & 0xf != SOCK_DGRAM) -> EPROTONOSUPPORT (landlock's TCP rules do not mediate it)\n",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("summary with LandlockTCP lacks %q:\n%s", want, got)
			}
		}
	}
}

func TestAddUnknownSyscall(t *testing.T) {
	tests := []struct {
		names []string
		want  []string // each error's text
	}{
		{[]string{"keyctll"}, []string{`unknown syscall "keyctll" (did you mean "keyctl"?)`}},
		{[]string{"read", "opennat"}, []string{`unknown syscall "opennat" (did you mean "openat"?)`}},
		{[]string{"chown32"}, []string{`unknown syscall "chown32" (did you mean "chown"?)`}},
		{[]string{"fstatat"}, []string{`unknown syscall "fstatat" (did you mean "fstat"?)`}},
		{[]string{"frobnicate_everything"}, []string{`unknown syscall "frobnicate_everything" on x86_64`}},
		{[]string{"Read", "clone4"}, []string{
			`unknown syscall "Read" (did you mean "read"?)`,
			`unknown syscall "clone4" (did you mean "clone"?)`,
		}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.names, ","), func(t *testing.T) {
			p := Default()
			n := len(p.Rules)
			err := p.Add(Rule{Names: tt.names, Action: Allow})
			if err == nil {
				t.Fatal("no error")
			}
			if diff := cmp.Diff(strings.Join(tt.want, "\n"), err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			var u *UnknownSyscallError
			if !errors.As(err, &u) || !slices.Contains(tt.names, u.Name) {
				t.Errorf("error %v is not an *UnknownSyscallError naming one of %v", err, tt.names)
			}
			if len(p.Rules) != n {
				t.Error("the rule was added")
			}
		})
	}
}

func TestAddInvalid(t *testing.T) {
	tests := []struct {
		name string
		r    Rule
		want string
	}{
		{"no names", Rule{Action: Allow}, "rule names no syscall"},
		{"no action", Rule{Names: []string{"read"}}, "no action"},
		{"bad action", Rule{Names: []string{"read"}, Action: 0x7ff00000}, "action 0x7ff00000: not allow, kill, log, trap or an errno"},
		{"errno 0", Rule{Names: []string{"read"}, Action: Errno(0)}, "action errno 0: must be 1 to 4095"},
		{"errno too big", Rule{Names: []string{"read"}, Action: Errno(70000)}, "action errno 65535: must be 1 to 4095"},
		{"arg 6", Rule{Names: []string{"read"}, Action: Allow, Args: []Cond{Eq(6, 0)}}, "arg6 == 0x0: argument index must be 0 to 5"},
		{"arg -1", Rule{Names: []string{"read"}, Action: Allow, Args: []Cond{Eq(-1, 0)}}, "argument index must be 0 to 5"},
		{"no op", Rule{Names: []string{"read"}, Action: Allow, Args: []Cond{{Arg: 0}}}, "arg0 op(0) 0x0: unknown comparison"},
		{"mask on eq", Rule{Names: []string{"read"}, Action: Allow, Args: []Cond{{Arg: 0, Op: OpEq, Mask: 1}}}, "a mask is only for masked-eq and masked-ne"},
		{"zero mask", Rule{Names: []string{"read"}, Action: Allow, Args: []Cond{MaskedEq(0, 0, 0)}}, "the mask is 0"},
		{"value outside mask", Rule{Names: []string{"ioctl"}, Action: Allow, Args: []Cond{MaskedEq(1, 0xff, 0x5412)}}, "arg1 & 0xff == 0x5412: value 0x5412 has bits outside mask 0xff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Policy
			err := p.Add(tt.r)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one with %q", err, tt.want)
			}
		})
	}
}

// TestAddPrecedence checks that a later rule overrides an earlier one and
// that Add copies the rule.
func TestAddPrecedence(t *testing.T) {
	p := Default()
	names := []string{"ptrace"}
	if err := p.Add(Rule{Names: names, Action: Allow}); err != nil {
		t.Fatal(err)
	}
	names[0] = "keyctl"
	if err := p.Add(Rule{Names: []string{"ioctl"}, Action: Errno(unix.EACCES), Args: []Cond{MaskedEq(1, 0xffffffff, tcgets)}}); err != nil {
		t.Fatal(err)
	}
	prog := compile(t, p)
	for _, c := range []struct {
		syscall string
		args    [maxArgs]uint64
		want    Action
	}{
		{"ptrace", [6]uint64{}, Allow},
		{"keyctl", [6]uint64{}, Errno(unix.EPERM)},
		{"ioctl", [6]uint64{0, tcgets | 1<<40}, Errno(unix.EACCES)},
		{"ioctl", [6]uint64{0, tiocsti}, Errno(unix.EPERM)},
		{"ioctl", [6]uint64{0, 0x541b}, Allow}, // FIONREAD
	} {
		got, _ := runBPF(prog, seccompData{arch: archX86_64, nr: nr(t, c.syscall), args: c.args})
		if Action(got) != c.want {
			t.Errorf("%s%#x: %s, want %s", c.syscall, c.args[:2], Action(got), c.want)
		}
	}
}

func TestActionString(t *testing.T) {
	tests := []struct {
		a    Action
		want string
	}{
		{Allow, "allow"}, {Kill, "kill"}, {Log, "log"}, {Trap, "trap"},
		{Errno(unix.EPERM), "EPERM"}, {Errno(unix.ENOSYS), "ENOSYS"}, {Errno(4000), "errno 4000"},
	}
	for _, tt := range tests {
		if got := tt.a.String(); got != tt.want {
			t.Errorf("%#x: %q, want %q", uint32(tt.a), got, tt.want)
		}
		back, err := ParseAction(tt.want)
		if err != nil || back != tt.a {
			t.Errorf("ParseAction(%q) = %v, %v; want %v", tt.want, back, err, tt.a)
		}
		if err := tt.a.Validate(); err != nil {
			t.Errorf("%s: %v", tt.a, err)
		}
	}
	if e, ok := Errno(unix.EACCES).Errno(); !ok || e != unix.EACCES {
		t.Errorf("Errno(EACCES).Errno() = %v, %v", e, ok)
	}
	if _, ok := Allow.Errno(); ok {
		t.Error("Allow.Errno() is ok")
	}
	for _, bad := range []string{"", "Allow", "errno 0", "errno 4096", "EFROB", "kill-thread"} {
		if _, err := ParseAction(bad); err == nil {
			t.Errorf("ParseAction(%q) gave no error", bad)
		}
	}
	if got := Action(0).String(); got != "action(0x0)" {
		t.Errorf("zero action prints %q", got)
	}
}

func TestOpString(t *testing.T) {
	want := []string{"eq", "ne", "lt", "le", "gt", "ge", "masked-eq", "masked-ne"}
	for i, w := range want {
		o := Op(i + 1)
		if o.String() != w {
			t.Errorf("Op(%d) = %q, want %q", i+1, o, w)
		}
		if back, err := ParseOp(w); err != nil || back != o {
			t.Errorf("ParseOp(%q) = %v, %v", w, back, err)
		}
	}
	if _, err := ParseOp("=="); err == nil {
		t.Error(`ParseOp("==") gave no error`)
	}
}

func TestCondString(t *testing.T) {
	tests := []struct {
		c       Cond
		syscall string
		want    string
	}{
		{MaskedEq(1, 0xffffffff, tiocsti), "", "arg1 & 0xffffffff == 0x5412"},
		{MaskedEq(1, 0xffffffff, tiocsti), "ioctl", "arg1 & 0xffffffff == TIOCSTI"},
		{MaskedNe(0, unix.CLONE_NEWUSER|unix.CLONE_NEWNET, 0), "clone", "arg0 & CLONE_NEWUSER|CLONE_NEWNET != 0"},
		{Eq(0, unix.AF_INET), "socket", "arg0 == AF_INET"},
		{Ne(2, 7), "", "arg2 != 0x7"},
		{Lt(3, 1<<40), "", "arg3 < 0x10000000000"},
		{Le(0, 1), "", "arg0 <= 0x1"},
		{Gt(0, 1), "", "arg0 > 0x1"},
		{Ge(5, 0), "", "arg5 >= 0x0"},
		{Eq(0, 0x0400000), "personality", "arg0 == 0x400000"},
	}
	for _, tt := range tests {
		if got := tt.c.format(tt.syscall); got != tt.want {
			t.Errorf("%#v in %q: %q, want %q", tt.c, tt.syscall, got, tt.want)
		}
	}
	r := Rule{Names: []string{"ioctl"}, Action: Errno(unix.EPERM), Args: []Cond{MaskedEq(1, 0xffffffff, tiocsti)}}
	if got, want := r.String(), "ioctl(arg1 & 0xffffffff == TIOCSTI) -> EPERM"; got != want {
		t.Errorf("rule prints %q, want %q", got, want)
	}
	r = Rule{Names: []string{"ioctl", "read"}, Action: Allow, Args: []Cond{Eq(1, tiocsti)}}
	if got, want := r.String(), "ioctl, read(arg1 == 0x5412) -> allow"; got != want {
		t.Errorf("rule prints %q, want %q", got, want)
	}
}

func TestPolicyJSON(t *testing.T) {
	p := Default()
	p.AllowNestedNamespaces = true
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"defaultAction":"EPERM"`, `"action":"ENOSYS"`, `"op":"masked-eq"`, `"mask":4294967295`, `"allowNestedNamespaces":true`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("JSON lacks %s", want)
		}
	}
	var back Policy
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, &back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if err := json.Unmarshal([]byte(`{"defaultAction":"allow","rules":[{"names":["read"],"action":"EPREM"}]}`), &back); err == nil || !strings.Contains(err.Error(), `unknown action "EPREM"`) {
		t.Errorf("bad action in JSON: %v", err)
	}
	if _, err := json.Marshal(&Policy{}); err == nil {
		t.Error("a policy without a default action marshals")
	}
}

func TestLookupSyscall(t *testing.T) {
	for name, want := range map[string]int{
		"read": 0, "ioctl": 16, "clone": 56, "execve": 59, "personality": 135, "_sysctl": 156,
		"openat": 257, "unshare": 272, "setns": 308, "clone3": 435, "mseal": 462,
	} {
		if got, ok := LookupSyscall(name); !ok || got != want {
			t.Errorf("LookupSyscall(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
	for _, name := range []string{"chown32", "socketcall", "", "SYS_READ", "sys_read"} {
		if nr, ok := LookupSyscall(name); ok {
			t.Errorf("LookupSyscall(%q) = %d", name, nr)
		}
	}
	nrs := Syscalls()
	if len(nrs) < 370 {
		t.Errorf("only %d syscalls", len(nrs))
	}
	for _, nr := range nrs {
		name, ok := SyscallName(nr)
		if !ok {
			t.Errorf("SyscallName(%d) not found", nr)
		}
		if back, _ := LookupSyscall(name); back != nr {
			t.Errorf("%d -> %q -> %d", nr, name, back)
		}
	}
	for _, nr := range []int{-1, 340, maxSyscall + 1} {
		if name, ok := SyscallName(nr); ok {
			t.Errorf("SyscallName(%d) = %q", nr, name)
		}
	}
}

// TestSyscallTableFresh regenerates sysnum.go from the x/sys in go.mod and
// fails when the committed file differs.
func TestSyscallTableFresh(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sysnum.go")
	cmd := exec.Command("go", "run", "gen_sysnum.go", "-o", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run gen_sysnum.go: %v\n%s", err, b)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("sysnum.go")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("sysnum.go is stale; run go generate ./internal/seccomp (-want +got):\n%s", diff)
	}
}

// deliberatelyDenied are syscalls Docker allows and Default does not.
var deliberatelyDenied = []string{"ptrace", "process_vm_readv", "process_vm_writev", "modify_ldt", "memfd_secret"}

// keptFamilies are the socket families of Docker's that Default allows.
var keptFamilies = []uint64{unix.AF_UNIX, unix.AF_INET, unix.AF_INET6, unix.AF_NETLINK, unix.AF_PACKET}

// TestDefaultMatchesDocker checks Default against Docker's default
// profile from github.com/moby/profiles/seccomp: the syscalls it allows
// without conditions or capabilities on amd64, the personality values
// and socket families it allows (of which Default keeps keptFamilies),
// clone3 and the default action.
func TestDefaultMatchesDocker(t *testing.T) {
	d := docker.DefaultProfile()
	if d.DefaultAction != specs.ActErrno || d.DefaultErrnoRet == nil || *d.DefaultErrnoRet != uint(unix.EPERM) {
		t.Errorf("Docker's default action changed: %v %v", d.DefaultAction, d.DefaultErrnoRet)
	}
	forAmd64 := func(s *docker.Syscall) bool {
		if s.Includes == nil {
			return true
		}
		return len(s.Includes.Caps) == 0 && (len(s.Includes.Arches) == 0 || slices.Contains(s.Includes.Arches, "amd64"))
	}
	var allowed []string
	personas := map[uint64]bool{}
	families := map[uint64]bool{}
	clone3 := false
	for _, s := range d.Syscalls {
		if !forAmd64(s) {
			continue
		}
		switch {
		case s.Action == specs.ActAllow && len(s.Args) == 0:
			for _, n := range s.Names {
				if _, ok := LookupSyscall(n); ok && !slices.Contains(deliberatelyDenied, n) {
					allowed = append(allowed, n)
				}
			}
		case s.Action == specs.ActAllow && slices.Equal(s.Names, []string{"personality"}):
			if len(s.Args) != 1 || s.Args[0].Op != specs.OpEqualTo {
				t.Fatalf("Docker's personality rule changed: %+v", s.Args)
			}
			personas[s.Args[0].Value] = true
		case s.Action == specs.ActAllow && slices.Equal(s.Names, []string{"socket"}):
			if len(s.Args) != 1 || s.Args[0].Index != 0 {
				t.Fatalf("Docker's socket rule changed: %+v", s.Args)
			}
			for f := range uint64(64) {
				if (s.Args[0].Op == specs.OpEqualTo && f == s.Args[0].Value) ||
					(s.Args[0].Op == specs.OpLessThan && f < s.Args[0].Value) {
					families[f] = true
				}
			}
		case slices.Equal(s.Names, []string{"clone3"}) && s.Action == specs.ActErrno:
			clone3 = s.ErrnoRet != nil && *s.ErrnoRet == uint(unix.ENOSYS)
		}
	}
	slices.Sort(allowed)
	ours := dockerAllowed()
	slices.Sort(ours)
	if diff := cmp.Diff(slices.Compact(allowed), ours); diff != "" {
		t.Errorf("allowed syscalls differ from Docker's (-docker +ours):\n%s", diff)
	}
	if !clone3 {
		t.Error("Docker no longer answers clone3 with ENOSYS")
	}

	prog := compile(t, Default())
	for v := range personas {
		if got, _ := runBPF(prog, seccompData{arch: archX86_64, nr: nr(t, "personality"), args: [6]uint64{v}}); Action(got) != Allow {
			t.Errorf("personality(%#x): %s, Docker allows it", v, Action(got))
		}
	}
	if len(personas) != 5 {
		t.Errorf("Docker allows %d personalities, Default 5", len(personas))
	}
	for _, f := range keptFamilies {
		if !families[f] {
			t.Errorf("Docker no longer allows %s", argValue("socket", 0, f))
		}
	}
	for f := range uint64(64) {
		want := Errno(unix.EAFNOSUPPORT)
		if slices.Contains(keptFamilies, f) {
			want = Allow
		}
		if got, _ := runBPF(prog, seccompData{arch: archX86_64, nr: nr(t, "socket"), args: [6]uint64{f}}); Action(got) != want {
			t.Errorf("socket(%s): %s, want %s (Docker: allowed %v)", argValue("socket", 0, f), Action(got), want, families[f])
		}
	}
}
