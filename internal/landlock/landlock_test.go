package landlock

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestModeText(t *testing.T) {
	for _, m := range []Mode{Require, BestEffort} {
		b, err := m.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var got Mode
		if err := got.UnmarshalText(b); err != nil {
			t.Fatal(err)
		}
		if got != m {
			t.Errorf("%v round-tripped to %v", m, got)
		}
	}
	if got := Mode(7).String(); got != "Mode(7)" {
		t.Errorf("Mode(7).String() = %q", got)
	}
	if _, err := Mode(7).MarshalText(); err == nil {
		t.Error("Mode(7).MarshalText() did not fail")
	}
	var m Mode
	err := m.UnmarshalText([]byte("besteffort"))
	if want := `unknown landlock mode "besteffort" (want require or best-effort)`; err == nil || err.Error() != want {
		t.Errorf("UnmarshalText(besteffort) = %v, want %s", err, want)
	}
	if Mode(0) != Require {
		t.Error("the zero Mode is not Require: a forgotten mode would weaken the policy")
	}
}

func TestRulesJSON(t *testing.T) {
	r := Rules{
		ReadOnly: []string{"/usr"}, ReadWrite: []string{"/tmp"}, ReadExec: []string{"/bin"},
		BindTCP: []uint16{0, 8080}, ConnectTCP: []uint16{443}, Scope: []Scope{AbstractUnixSocket, Signal}, Mode: BestEffort,
	}
	b, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"readOnly":["/usr"],"readWrite":["/tmp"],"readExec":["/bin"],"bindTCP":[0,8080],"connectTCP":[443],"scope":["abstract-unix-socket","signal"],"mode":"best-effort"}`
	if string(b) != want {
		t.Errorf("json:\n got %s\nwant %s", b, want)
	}
	var got Rules
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestString(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    Rules
		want string
	}{
		{"empty", Rules{}, "no rules"},
		{"all", Rules{
			ReadOnly: []string{"/usr", "/etc/resolv.conf"}, ReadWrite: []string{"/tmp"}, ReadExec: []string{"/bin"},
			BindTCP: []uint16{8080}, ConnectTCP: []uint16{443, 80},
		}, "read-only /usr, /etc/resolv.conf; read-exec /bin; read-write /tmp; tcp bind 8080; tcp connect 443, 80; require"},
		{"quoted", Rules{ReadOnly: []string{"/a b", "/c,d"}, Mode: BestEffort},
			`read-only "/a b", "/c,d"; best-effort`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.String(); got != tc.want {
				t.Errorf("String():\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	fs := Rules{ReadOnly: []string{"/usr"}}
	tcp := Rules{ConnectTCP: []uint16{443}}
	both := Rules{ReadWrite: []string{"/tmp"}, BindTCP: []uint16{80}}
	best := func(r Rules) Rules { r.Mode = BestEffort; return r }
	for _, tc := range []struct {
		name string
		r    Rules
		abi  int
		want string // "" for no error
	}{
		{"empty at 0", Rules{}, 0, ""},
		{"fs at 7", fs, 7, ""},
		{"fs at 3", fs, 3, ""},
		{"fs at 2", fs, 2, "landlock is required, but this kernel's ABI is 2: filesystem rules need ABI 3 (truncate control); have 2"},
		{"fs at 0", fs, 0, "landlock is required, but this kernel has none (ABI 0): filesystem rules need ABI 3 (truncate control); have 0"},
		{"tcp at 4", tcp, 4, ""},
		{"tcp at 3", tcp, 3, "landlock is required, but this kernel's ABI is 3: TCP rules need ABI 4; have 3"},
		{"both at 1", both, 1, "landlock is required, but this kernel's ABI is 1: filesystem rules need ABI 3 (truncate control); have 1, TCP rules need ABI 4; have 1"},
		{"best-effort fs at 0", best(fs), 0, ""},
		{"best-effort tcp at 3", best(tcp), 3, ""},
		{"relative", Rules{ReadOnly: []string{"usr"}}, 7, `landlock: readOnly[0]: "usr" is not an absolute path`},
		{"unclean", Rules{ReadWrite: []string{"/", "/tmp/"}, Mode: BestEffort}, 7, `landlock: readWrite[1]: "/tmp/" is not clean (want "/tmp")`},
		{"empty path", Rules{ReadExec: []string{""}}, 7, `landlock: readExec[0]: empty path`},
		{"bad mode", Rules{ReadExec: []string{"/bin"}, Mode: 9}, 7, `landlock: invalid mode 9`},
		{"scope at 6", Rules{Scope: []Scope{AbstractUnixSocket, Signal}}, 6, ""},
		{"scope at 5", Rules{Scope: []Scope{AbstractUnixSocket, Signal}}, 5, "landlock is required, but this kernel's ABI is 5: scope abstract-unix-socket, signal needs ABI 6; have 5"},
		{"best-effort scope at 5", Rules{Scope: []Scope{Signal}, Mode: BestEffort}, 5, ""},
		{"bad scope", Rules{Scope: []Scope{7}}, 7, `landlock: scope[0]: invalid scope 7`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.Check(tc.abi)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("Check(%d):\n got %q\nwant %q", tc.abi, got, tc.want)
			}
		})
	}
}

func TestEffective(t *testing.T) {
	fs := Rules{ReadOnly: []string{"/usr"}, ReadExec: []string{"/usr/bin"}, ReadWrite: []string{"/tmp"}}
	all := Rules{ReadOnly: []string{"/usr"}, BindTCP: []uint16{8080}, ConnectTCP: []uint16{443, 80}}
	best := func(r Rules) Rules { r.Mode = BestEffort; return r }
	for _, tc := range []struct {
		name string
		r    Rules
		abi  int
		want string
	}{
		{"empty", Rules{}, 7, "no rules"},
		{"fs at 7", fs, 7,
			"ABI 7 require; read-only /usr; read-exec /usr/bin; read-write /tmp; not controlled: resolve_unix (ABI 9)"},
		{"fs at 9", fs, 9, "ABI 9 require; read-only /usr; read-exec /usr/bin; read-write /tmp"},
		{"fs at 3", fs, 3,
			"ABI 3 require; read-only /usr; read-exec /usr/bin; read-write /tmp; not controlled: ioctl_dev (ABI 5), resolve_unix (ABI 9)"},
		{"fs at 2 required", fs, 2,
			"refused: landlock is required, but this kernel's ABI is 2: filesystem rules need ABI 3 (truncate control); have 2"},
		{"fs at 1 best effort", best(fs), 1,
			"ABI 1 best-effort; read-only /usr; read-exec /usr/bin; read-write /tmp; not controlled: refer (ABI 2), truncate (ABI 3), ioctl_dev (ABI 5), resolve_unix (ABI 9); renaming or linking across directories always fails (ABI 1)"},
		{"all at 7", all, 7,
			"ABI 7 require; read-only /usr; tcp bind 8080; tcp connect 443, 80; not controlled: resolve_unix (ABI 9), UDP; MPTCP, SCTP and raw sockets, which the seccomp filter refuses"},
		{"all at 3 best effort", best(all), 3,
			"ABI 3 best-effort; read-only /usr; dropped: tcp bind 8080 (ABI 4), tcp connect 443, 80 (ABI 4); not controlled: ioctl_dev (ABI 5), resolve_unix (ABI 9)"},
		{"all at 0 best effort", best(all), 0,
			"ABI 0 best-effort: nothing enforced; dropped: filesystem rules, tcp bind rules, tcp connect rules"},
		{"tcp only at 3 best effort", best(Rules{ConnectTCP: []uint16{443}}), 3,
			"ABI 3 best-effort: nothing enforced; dropped: tcp connect 443 (ABI 4)"},
		{"tcp at 0 required", Rules{ConnectTCP: []uint16{443}}, 0,
			"refused: landlock is required, but this kernel has none (ABI 0): TCP rules need ABI 4; have 0"},
		{"scope at 6", Rules{ReadOnly: []string{"/usr"}, Scope: []Scope{AbstractUnixSocket, Signal}}, 6,
			"ABI 6 require; read-only /usr; scope abstract-unix-socket, signal; not controlled: resolve_unix (ABI 9)"},
		{"scope at 5 best effort", best(Rules{ReadOnly: []string{"/usr"}, Scope: []Scope{Signal}}), 5,
			"ABI 5 best-effort; read-only /usr; dropped: scope signal (ABI 6); not controlled: resolve_unix (ABI 9)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.Effective(tc.abi); got != tc.want {
				t.Errorf("Effective(%d):\n got %s\nwant %s", tc.abi, got, tc.want)
			}
		})
	}
}

// TestEnforcement pins the handled rights behind each
// printed line, so that what lsm.Restrict hands the kernel is what the
// plan says.
func TestEnforcement(t *testing.T) {
	fs := Rules{ReadOnly: []string{"/usr"}}
	for _, tc := range []struct {
		name   string
		r      Rules
		abi    int
		fs     string
		netBit uint64
	}{
		{"fs at 1", fs, 1, "execute|write_file|read_file|read_dir|remove_dir|remove_file|make_char|make_dir|make_reg|make_sock|make_fifo|make_block|make_sym", 0},
		{"fs at 7", fs, 7, "execute|write_file|read_file|read_dir|remove_dir|remove_file|make_char|make_dir|make_reg|make_sock|make_fifo|make_block|make_sym|refer|truncate|ioctl_dev", 0},
		{"fs at 12", fs, 12, "execute|write_file|read_file|read_dir|remove_dir|remove_file|make_char|make_dir|make_reg|make_sock|make_fifo|make_block|make_sym|refer|truncate|ioctl_dev|resolve_unix", 0},
		{"connect at 4", Rules{ConnectTCP: []uint16{1}}, 4, "0", 2},
		{"bind at 4", Rules{BindTCP: []uint16{1}}, 4, "0", 1},
		{"bind at 3", Rules{BindTCP: []uint16{1}, Mode: BestEffort}, 3, "0", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.r.enforcement(tc.abi)
			if got := AccessFS(e.fs); got != tc.fs {
				t.Errorf("handled fs:\n got %s\nwant %s", got, tc.fs)
			}
			if e.net != tc.netBit {
				t.Errorf("handled net = %#x, want %#x", e.net, tc.netBit)
			}
		})
	}
}

// TestRuleset pins what lsm.Restrict makes: the rights of each path
// narrowed to those handled at the ABI, and port rules only where the ABI
// handles TCP.
func TestRuleset(t *testing.T) {
	r := Rules{ReadOnly: []string{"/usr"}, ReadWrite: []string{"/tmp"}, ConnectTCP: []uint16{443}, Scope: []Scope{Signal}, Mode: BestEffort}
	for _, tc := range []struct {
		name string
		abi  int
		want string
	}{
		{"no landlock", 0, "fs=0 net=0 scoped=0"},
		{"at 1", 1, "fs=execute|write_file|read_file|read_dir|remove_dir|remove_file|make_char|make_dir|make_reg|make_sock|make_fifo|make_block|make_sym net=0 scoped=0" +
			"; read-only /usr read_file|read_dir" +
			"; read-write /tmp write_file|read_file|read_dir|remove_dir|remove_file|make_dir|make_reg|make_sock|make_fifo|make_sym"},
		{"at 6", 6, "fs=execute|write_file|read_file|read_dir|remove_dir|remove_file|make_char|make_dir|make_reg|make_sock|make_fifo|make_block|make_sym|refer|truncate|ioctl_dev net=2 scoped=2" +
			"; read-only /usr read_file|read_dir" +
			"; read-write /tmp write_file|read_file|read_dir|remove_dir|remove_file|make_dir|make_reg|make_sock|make_fifo|make_sym|refer|truncate" +
			"; tcp connect 443 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := r.Ruleset(tc.abi)
			got := fmt.Sprintf("fs=%s net=%d scoped=%d", AccessFS(rs.HandledFS), rs.HandledNet, rs.Scoped)
			for _, p := range rs.Paths {
				got += fmt.Sprintf("; %s %s %s", p.Word, p.Path, AccessFS(p.Allowed))
			}
			for _, p := range rs.Ports {
				got += fmt.Sprintf("; %s %d %d", p.Word, p.Port, p.Allowed)
			}
			if got != tc.want {
				t.Errorf("Ruleset(%d):\n got %s\nwant %s", tc.abi, got, tc.want)
			}
		})
	}
}

func TestAccessFS(t *testing.T) {
	for _, tc := range []struct {
		set  uint64
		want string
	}{
		{0, "0"},
		{grantReadOnly, "read_file|read_dir"},
		{grantReadExec & FileRights, "execute|read_file"},
		{grantReadWrite, "write_file|read_file|read_dir|remove_dir|remove_file|make_dir|make_reg|make_sock|make_fifo|make_sym|refer|truncate"},
		{1 << 40, "0x10000000000"},
	} {
		if got := AccessFS(tc.set); got != tc.want {
			t.Errorf("AccessFS(%#x) = %s, want %s", tc.set, got, tc.want)
		}
	}
}
