package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/sandbox"
	"github.com/cellsandbox/cell/internal/state"
	"github.com/cellsandbox/cell/launcher/pool"
)

// dialPool returns a client of the pool name in this user's state
// directory.
func dialPool(t testing.TB, name string) *pool.Client {
	t.Helper()
	dir, err := state.Dir(os.Geteuid(), os.Getenv("XDG_RUNTIME_DIR"))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := pool.Dial(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// TestPoolAPI drives a real pool through the Go API: stdio handed over
// as files and as pipes, exit statuses, signals, statistics, a missing
// command, a cancelled context, and one sandbox per request.
func TestPoolAPI(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	parent := cgroupParent(t)
	name, _ := startPool(t, "resources.parent="+parent, "resources.pids.max=64", "process.passEnv=[CELL_T_A, CELL_T_B]", "process.env.CELL_T_B=profile's")
	cl := dialPool(t, name)
	ctx := context.Background()

	t.Run("env and dir", func(t *testing.T) {
		// The request's values of passEnv come in, unless the profile
		// sets the variable; nothing else does.
		var out bytes.Buffer
		res, err := cl.Run(ctx, pool.Request{
			Args: []string{"sh", "-c", `echo "$CELL_T_A|$CELL_T_B|${CELL_T_C-unset}"; pwd`},
			Env:  []string{"CELL_T_A=client's", "CELL_T_B=client's", "CELL_T_C=client's"}, Dir: "/proc", Stdout: &out,
		})
		if err != nil || res.ExitCode() != 0 || out.String() != "client's|profile's|unset\n/proc\n" {
			t.Errorf("exit %d, stdout %q, %v", res.ExitCode(), out.String(), err)
		}
		_, err = cl.Run(ctx, pool.Request{Args: []string{"true"}, Dir: "/no/such/dir"})
		if err == nil || !strings.Contains(err.Error(), `working directory "/no/such/dir"`) {
			t.Errorf("a missing working directory: %v", err)
		}
	})

	t.Run("pipes", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		res, err := cl.Run(ctx, pool.Request{
			Args:  []string{"sh", "-c", "cat; echo oops >&2; exit 3"},
			Stdin: strings.NewReader("hello from stdin\n"), Stdout: &stdout, Stderr: &stderr,
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode() != 3 || stdout.String() != "hello from stdin\n" || stderr.String() != "oops\n" {
			t.Errorf("exit %d, stdout %q, stderr %q", res.ExitCode(), stdout.String(), stderr.String())
		}
		if res.Stats != nil {
			t.Errorf("statistics that were not asked for: %+v", res.Stats)
		}
		if !strings.HasPrefix(res.Sandbox, name+"-") {
			t.Errorf("sandbox %q is not one of pool %s", res.Sandbox, name)
		}
	})

	t.Run("files", func(t *testing.T) {
		dir := t.TempDir()
		in := filepath.Join(dir, "in")
		if err := os.WriteFile(in, []byte("through a file"), 0o644); err != nil {
			t.Fatal(err)
		}
		stdin, err := os.Open(in)
		if err != nil {
			t.Fatal(err)
		}
		defer stdin.Close()
		stdout, err := os.Create(filepath.Join(dir, "out"))
		if err != nil {
			t.Fatal(err)
		}
		defer stdout.Close()
		res, err := cl.Run(ctx, pool.Request{Args: []string{"cat"}, Stdin: stdin, Stdout: stdout})
		if err != nil || res.ExitCode() != 0 {
			t.Fatalf("cat: %+v, %v", res, err)
		}
		if b, _ := os.ReadFile(stdout.Name()); string(b) != "through a file" {
			t.Errorf("stdout file holds %q", b)
		}
	})

	t.Run("stats", func(t *testing.T) {
		res, err := cl.Run(ctx, pool.Request{Args: []string{"sh", "-c", "exit 4"}, Stats: true})
		if err != nil {
			t.Fatal(err)
		}
		s := res.Stats
		switch {
		case s == nil:
			t.Fatal("no statistics")
		case s.Name != res.Sandbox || s.Profile != "test" || s.Exit != 4 || s.Source != "cgroup":
			t.Errorf("statistics: %+v (sandbox %s)", s, res.Sandbox)
		case s.WallTimeUs <= 0 || s.CPUUserUs == nil || s.MemoryPeakBytes == nil || *s.MemoryPeakBytes == 0:
			t.Errorf("counters missing: %+v", s)
		}
	})

	t.Run("one sandbox per request", func(t *testing.T) {
		seen := map[string]string{}
		for range 2 {
			var out bytes.Buffer
			res, err := cl.Run(ctx, pool.Request{Args: []string{"readlink", "/proc/self/ns/pid"}, Stdout: &out})
			if err != nil || res.ExitCode() != 0 {
				t.Fatalf("readlink: %+v, %v", res, err)
			}
			ns := strings.TrimSpace(out.String())
			for sb, other := range seen {
				if sb == res.Sandbox || other == ns {
					t.Errorf("two requests ran in one sandbox: %s (%s) and %s (%s)", sb, other, res.Sandbox, ns)
				}
			}
			seen[res.Sandbox] = ns
		}
	})

	t.Run("signal", func(t *testing.T) {
		p, err := cl.Start(ctx, pool.Request{Args: []string{"sleep", "30"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Signal(unix.SIGTERM); err != nil {
			t.Fatal(err)
		}
		res, err := p.Wait()
		if err != nil || res.Status.Signal != int(unix.SIGTERM) || res.ExitCode() != 128+int(unix.SIGTERM) {
			t.Errorf("after SIGTERM: %+v, %v", res, err)
		}
	})

	t.Run("context", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		res, err := cl.Run(cctx, pool.Request{Args: []string{"sleep", "30"}})
		if !errors.Is(err, context.DeadlineExceeded) || res.Status.Signal != int(unix.SIGKILL) {
			t.Errorf("cancelled: %+v, %v", res, err)
		}
	})

	t.Run("not found", func(t *testing.T) {
		_, err := cl.Run(ctx, pool.Request{Args: []string{"no-such-command"}})
		var se *sandbox.StartError
		if !errors.As(err, &se) || !errors.Is(err, unix.ENOENT) {
			t.Errorf("missing command: %v", err)
		}
	})
}

// TestPoolStatsCLI checks that cell run --pool --stats writes the same
// statistics as cell run --stats.
func TestPoolStatsCLI(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	parent := cgroupParent(t)
	name, _ := startPool(t, "resources.parent="+parent, "resources.pids.max=64")
	file := filepath.Join(t.TempDir(), "stats.json")
	r := cell(t, "run", "--pool", name, "--stats", file, "--", "sh", "-c", "exit 7")
	if r.code != 7 {
		t.Fatalf("pooled run: %s", r)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"name": "` + name + `-`, `"profile": "test"`, `"exit": 7`, `"wallTimeUs": `, `"cpuUserUs": `, `"memoryPeakBytes": `, `"source": "cgroup"`} {
		if !bytes.Contains(b, []byte(field)) {
			t.Errorf("statistics lack %s:\n%s", field, b)
		}
	}
}

// TestPoolVersion checks both sides of the version handshake: a request
// of another version is refused by a real pool with both versions named
// (and takes no sandbox: the pool serves the next request), and the
// client refuses a server of another version.
func TestPoolVersion(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	name, _ := startPool(t)
	dir, err := state.Dir(os.Geteuid(), os.Getenv("XDG_RUNTIME_DIR"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("server", func(t *testing.T) {
		// A client written from the package documentation alone.
		c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: pool.SocketPath(dir, name), Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		null, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer null.Close()
		fd := int(null.Fd())
		if _, _, err := c.WriteMsgUnix([]byte(`{"version":99,"run":{"args":["true"]}}`+"\n"), unix.UnixRights(fd, fd, fd), nil); err != nil {
			t.Fatal(err)
		}
		answer, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		want := `{"version":2,"error":{"msg":"protocol version 99 is not served here: this server speaks version 2"}}` + "\n"
		if answer != want {
			t.Errorf("answer to a version 99 request:\n%s\nwant:\n%s", answer, want)
		}
		res, err := dialPool(t, name).Run(context.Background(), pool.Request{Args: []string{"true"}})
		if err != nil || res.ExitCode() != 0 {
			t.Errorf("the pool after a refused request: %+v, %v", res, err)
		}
	})

	t.Run("client", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "v3.sock")
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			defer c.Close()
			if _, err := bufio.NewReader(c).ReadString('\n'); err == nil {
				c.Write([]byte(`{"version":3,"sandbox":"future"}` + "\n"))
			}
		}()
		_, err = pool.DialSocket(sock).Run(context.Background(), pool.Request{Args: []string{"true"}})
		var ve *pool.VersionError
		if !errors.As(err, &ve) || ve.Client != 2 || ve.Server != 3 {
			t.Fatalf("a version 3 server: %v", err)
		}
		if msg := err.Error(); !strings.Contains(msg, "client speaks version 2") || !strings.Contains(msg, "speaks version 3") {
			t.Errorf("error does not name both versions: %s", msg)
		}
	})
}

// BenchmarkPool measures a request on a warm pool of the test profile,
// from the Go API (Client.Run of /bin/true, with and without statistics)
// and from the CLI (cell run --pool, which adds a cell process's start;
// CELL_BENCH_CELL names a cell binary to use instead of this test binary,
// as make bench-pool does). Between requests it pauses, outside the timer,
// long enough for the pool to replace the sandbox used, so that each
// request finds a ready one: the figure is the hand-over's latency, not
// the refill's throughput. It reports the median as ms/median.
func BenchmarkPool(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	name, _ := startPool(b)
	cl := dialPool(b, name)
	const refill = 60 * time.Millisecond
	median := func(b *testing.B, once func() error) {
		var samples []time.Duration
		for b.Loop() {
			b.StopTimer()
			time.Sleep(refill)
			b.StartTimer()
			t0 := time.Now()
			if err := once(); err != nil {
				b.Fatal(err)
			}
			samples = append(samples, time.Since(t0))
		}
		slices.Sort(samples)
		b.ReportMetric(float64(samples[len(samples)/2])/1e6, "ms/median")
	}
	run := func(stats bool) func() error {
		return func() error {
			res, err := cl.Run(context.Background(), pool.Request{Args: []string{"/bin/true"}, Stats: stats})
			if err == nil && res.ExitCode() != 0 {
				err = errors.New(res.Status.String())
			}
			return err
		}
	}
	b.Run("api", func(b *testing.B) { median(b, run(false)) })
	b.Run("api-stats", func(b *testing.B) { median(b, run(true)) })
	b.Run("cli", func(b *testing.B) {
		bin, env := os.Getenv("CELL_BENCH_CELL"), []string{}
		if bin == "" {
			self, err := os.Executable()
			if err != nil {
				b.Fatal(err)
			}
			bin, env = self, []string{"CELL_TEST_MAIN=1"}
		}
		median(b, func() error {
			cmd := exec.Command(bin, "run", "--pool", name, "--", "/bin/true")
			cmd.Args[0] = "cell"
			cmd.Env = append(os.Environ(), env...)
			return cmd.Run()
		})
	})
}
