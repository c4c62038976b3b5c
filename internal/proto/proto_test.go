package proto

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/stamp"
	"github.com/cellsandbox/cell/launcher/plan"
)

// socketPair returns both ends of a unix stream socket, closed at the
// end of the test.
func socketPair(t *testing.T) (a, b int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds[0], fds[1]
}

// devNull opens n descriptors of /dev/null to pass, closed at the end of
// the test.
func devNull(t *testing.T, n int) []int {
	t.Helper()
	var fds []int
	for range n {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		fds = append(fds, int(f.Fd()))
	}
	return fds
}

func u64(v uint64) *uint64 { return &v }

// TestMessageRoundTrip sends every kind of message of both protocols
// over a socket, with the descriptors each carries, and reads back what
// was sent, each message with its own descriptors.
func TestMessageRoundTrip(t *testing.T) {
	msgs := []Message{
		{Version: InitVersion, Mapped: true},
		{Version: InitVersion, Runtime: &Runtime{Trace: true, Lease: "10.88.0.7"}},
		{Signal: 15},
		{Exec: &ExecRequest{ID: 3, Args: []string{"make", "test"}, TTY: true, Console: true, Env: []string{"A=b"}, Dir: "/src"}},
		{ExecSignal: &ExecSignal{ID: 3, Signal: 2}},
		{Trace: &Trace{PlanSHA256: "ab12"}},
		{Trace: &Trace{First: 3, Last: 5, Micros: 812}},
		{Trace: &Trace{Phases: []stamp.Stamp{{Name: "main", Side: "init", Unix: 10}}}},
		{Console: "/dev/pts/0"},
		{Egress: []plan.ProxyListen{{Net: "tcp", Addr: "127.0.0.1:3128", Serves: "http"}, {Net: "udp", Addr: "[::1]:53", Serves: "dns"}}},
		{Socket: true},
		{Ready: true},
		{ExecConsole: &ExecConsole{ID: 3, Name: "/dev/pts/1"}},
		{ExecConsole: &ExecConsole{ID: 4, Err: "no devpts"}},
		{ExecExit: &ExecExit{ID: 3, Status: Status{Pid: 9, Code: 1}}},
		{ExecExit: &ExecExit{ID: 4, Err: "execve x: ENOENT", Errno: 2}},
		{Failure: &Failure{Step: 7, Errno: 1, Err: "mount: EPERM"}},
		{Exit: &Status{Pid: 2, Signal: 9}},
	}
	a, b := socketPair(t)
	go func() {
		for _, m := range msgs {
			if err := Send(a, m, devNull(t, m.FDs())); err != nil {
				t.Error(err)
			}
		}
		unix.Shutdown(a, unix.SHUT_WR)
	}()
	r := NewReader(FDRecv(b), nil)
	for i, want := range msgs {
		got, fds, err := r.Next()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("message %d (-want +got):\n%s", i, diff)
		}
		if len(fds) != want.FDs() {
			t.Errorf("message %d came with %d descriptors, want %d", i, len(fds), want.FDs())
		}
		for _, fd := range fds {
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
				t.Errorf("message %d: descriptor %d is not /dev/null: %v", i, fd, err)
			}
			unix.Close(fd)
		}
	}
	if _, _, err := r.Next(); err != io.EOF {
		t.Errorf("after the last message: %v, want EOF", err)
	}
}

// TestPoolRoundTrip: the pool's messages, whose field names are a public
// format (launcher/pool's documentation shows them).
func TestPoolRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		m    any
		wire string
	}{
		{Request{Version: PoolVersion, Run: &RunRequest{Args: []string{"make", "test"}, Stats: true, Env: []string{"CC=clang"}, Dir: "/src"}},
			`{"version":2,"run":{"args":["make","test"],"stats":true,"env":["CC=clang"],"dir":"/src"}}`},
		{ServerMsg{Version: PoolVersion, Sandbox: "ci-1a2b3c4d"}, `{"version":2,"sandbox":"ci-1a2b3c4d"}`},
		{ClientMsg{Signal: 15}, `{"signal":15}`},
		{ServerMsg{Exit: &Status{Pid: 2}, Stats: &Stats{Name: "ci-1", Profile: "p", WallTimeUs: 1840, MemoryPeakBytes: u64(3420160), Source: "cgroup"}},
			`{"exit":{"pid":2,"code":0},"stats":{"name":"ci-1","profile":"p","exit":0,"wallTimeUs":1840,"memoryPeakBytes":3420160,"source":"cgroup"}}`},
		{ServerMsg{Error: &WireError{Msg: "execve nosuch: ENOENT", Errno: 2}}, `{"error":{"msg":"execve nosuch: ENOENT","errno":2}}`},
	} {
		b, err := Frame(tc.m)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(b); got != tc.wire+"\n" {
			t.Errorf("%T: wire\n%s\nwant\n%s", tc.m, got, tc.wire)
		}
	}
	// Over a socket, the request with the command's three descriptors.
	a, b := socketPair(t)
	want := Request{Version: PoolVersion, Run: &RunRequest{Args: []string{"true"}}}
	if err := Send(a, want, devNull(t, 3)); err != nil {
		t.Fatal(err)
	}
	r := NewReader(FDRecv(b), nil)
	line, err := r.Line()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(line, []byte(`"args":["true"]`)) {
		t.Errorf("request %s", line)
	}
	fds := r.TakeAll()
	if len(fds) != 3 {
		t.Errorf("%d descriptors, want 3", len(fds))
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// TestReaderRefuses: a stream that ends inside a message, a message over
// the bound and a message without the descriptors it names are errors,
// never a short or partial message.
func TestReaderRefuses(t *testing.T) {
	t.Run("truncated", func(t *testing.T) {
		a, b := socketPair(t)
		unix.Write(a, []byte(`{"ready":true}`+"\n"+`{"exit":{"pid":2,"co`))
		unix.Shutdown(a, unix.SHUT_WR)
		r := NewReader(FDRecv(b), nil)
		if m, _, err := r.Next(); err != nil || !m.Ready {
			t.Fatalf("the whole message: %+v, %v", m, err)
		}
		_, _, err := r.Next()
		var te *TruncatedError
		if !errors.As(err, &te) || te.Len != len(`{"exit":{"pid":2,"co`) {
			t.Errorf("truncated: %v, want a *TruncatedError of 20 bytes", err)
		}
	})
	t.Run("oversized", func(t *testing.T) {
		a, b := socketPair(t)
		go func() {
			big := bytes.Repeat([]byte("x"), 64<<10)
			for sent := 0; sent <= MaxMessage+len(big); sent += len(big) {
				if _, err := unix.Write(a, big); err != nil {
					return
				}
			}
			unix.Shutdown(a, unix.SHUT_WR)
		}()
		r := NewReader(FDRecv(b), nil)
		_, err := r.Line()
		var tl *TooLongError
		if !errors.As(err, &tl) || tl.Max != MaxMessage {
			t.Errorf("oversized: %v, want a *TooLongError", err)
		}
		unix.Shutdown(b, unix.SHUT_RD)
	})
	t.Run("oversized frame", func(t *testing.T) {
		if _, err := Frame(ExecRequest{Args: []string{strings.Repeat("x", MaxMessage)}}); err == nil {
			t.Error("a message over the bound was framed")
		}
	})
	t.Run("descriptors missing", func(t *testing.T) {
		a, b := socketPair(t)
		unix.Write(a, []byte(`{"console":"/dev/pts/0"}`+"\n"))
		if _, _, err := NewReader(FDRecv(b), nil).Next(); err == nil || !strings.Contains(err.Error(), "1 were expected") {
			t.Errorf("a console without its master: %v", err)
		}
	})
	t.Run("read error", func(t *testing.T) {
		// A socket closed under the reader (cell closes its end when
		// init has ended) is an error, not a short or negative read.
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(fds[0])
		unix.Close(fds[1])
		if _, err := NewReader(FDRecv(fds[0]), []byte(`{"ready":`)).Line(); !errors.Is(err, unix.EBADF) {
			t.Errorf("a closed socket: %v, want EBADF", err)
		}
	})
	t.Run("not JSON", func(t *testing.T) {
		a, b := socketPair(t)
		unix.Write(a, []byte("hello\n"))
		if _, _, err := NewReader(FDRecv(b), nil).Next(); err == nil || !strings.Contains(err.Error(), "bad message") {
			t.Errorf("not JSON: %v", err)
		}
	})
}

// TestReadStart: init takes the run-time message and the plan's bytes
// only from a cell of its own protocol version, and names both versions
// when they differ.
func TestReadStart(t *testing.T) {
	planLine := `{"version":2,"profile":"t","steps":[]}`
	for _, tc := range []struct {
		name, in, err string
	}{
		{"this version", `{"protocol":1,"runtime":{"trace":true}}` + "\n" + planLine + "\n", ""},
		{"another version", `{"protocol":2,"runtime":{}}` + "\n" + planLine + "\n",
			"parent↔init protocol version mismatch: cell-init speaks version 1, cell sent version 2"},
		{"no version", `{"runtime":{}}` + "\n" + planLine + "\n",
			"cell-init speaks version 1, cell sent no version"},
		{"the plan first", planLine + "\n", "expected cell's first message"},
		{"no run-time message", `{"protocol":1,"signal":15}` + "\n", "expected the run-time message"},
		{"truncated plan", `{"protocol":1,"runtime":{}}` + "\n" + planLine[:20], "the connection ended inside a message (20 bytes"},
		{"nothing", "", "read the run-time message: EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := bufio.NewReaderSize(strings.NewReader(tc.in), 16)
			rt, b, err := ReadStart(in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !rt.Trace || string(b) != planLine {
				t.Errorf("runtime %+v, plan %q", rt, b)
			}
		})
	}
	var ve *VersionError
	if _, _, err := ReadStart(bufio.NewReader(strings.NewReader(`{"protocol":7,"runtime":{}}` + "\n"))); !errors.As(err, &ve) || ve.Ours != InitVersion || ve.Theirs != 7 {
		t.Errorf("another version is %v, want a *VersionError with both", err)
	}
}

// TestReadStartBound: a plan over MaxPlan is refused, not read without
// end.
func TestReadStartBound(t *testing.T) {
	r := io.MultiReader(strings.NewReader(`{"protocol":1,"runtime":{}}`+"\n"), &endless{})
	_, _, err := ReadStart(bufio.NewReader(r))
	var tl *TooLongError
	if !errors.As(err, &tl) || tl.Max != MaxPlan {
		t.Errorf("an endless plan: %v, want a *TooLongError", err)
	}
}

type endless struct{}

func (*endless) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = 'x'
	}
	return len(b), nil
}

// TestCheckMapped: init's first life takes the ID maps' word only of its
// own version.
func TestCheckMapped(t *testing.T) {
	if err := CheckMapped([]byte(`{"protocol":1,"mapped":true}`)); err != nil {
		t.Errorf("this version: %v", err)
	}
	if err := CheckMapped([]byte(`{"mapped":true}`)); err == nil || !strings.Contains(err.Error(), "sent no version") {
		t.Errorf("no version: %v", err)
	}
	if err := CheckMapped([]byte(`{"protocol":1,"signal":1}`)); err == nil || !strings.Contains(err.Error(), "expected the ID maps") {
		t.Errorf("another message: %v", err)
	}
}
