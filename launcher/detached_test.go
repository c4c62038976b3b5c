package launcher_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/testenv"
	"github.com/cellsandbox/cell/launcher"
	"github.com/cellsandbox/cell/launcher/plan"
)

// has reports whether pl has a step whose action is a T.
func has[T plan.Action](pl *plan.Plan) bool {
	for _, s := range pl.Steps {
		if _, ok := s.Do.(T); ok {
			return true
		}
	}
	return false
}

// TestEngineName: an engine's name for a sandbox (containerd's and
// podman's 64 hex digits with a prefix) names the plan, held to a
// cgroup name's rule, where it is refused as a sandbox name.
func TestEngineName(t *testing.T) {
	src, err := launcher.Open("default")
	if err != nil {
		t.Fatal(err)
	}
	long := "libpod-" + strings.Repeat("0123456789abcdef", 4)
	p, err := launcher.Prepare(src, nil, launcher.Invocation{Args: []string{"true"}, EngineName: long})
	if err != nil {
		t.Fatal(err)
	}
	if p.Plan.Name != long {
		t.Errorf("plan name %q, want %q", p.Plan.Name, long)
	}
	if _, err := launcher.Prepare(src, nil, launcher.Invocation{Args: []string{"true"}, Name: long}); err == nil {
		t.Errorf("%q as a sandbox name: want a refusal", long)
	}
	for _, inv := range []launcher.Invocation{
		{EngineName: "a/b"},
		{EngineName: ".."},
		{EngineName: long, Name: "x"},
	} {
		inv.Args = []string{"true"}
		if _, err := launcher.Prepare(src, nil, inv); err == nil {
			t.Errorf("name %q, engine name %q: want a refusal", inv.Name, inv.EngineName)
		}
	}
}

// TestDetachedPlan: a detached plan is pooled and has no parent-death
// signal (the sandbox outlives its starter), and a profile whose cleanup
// only the starting process could run is refused.
func TestDetachedPlan(t *testing.T) {
	src, err := launcher.Open("default")
	if err != nil {
		t.Fatal(err)
	}
	p, err := launcher.Prepare(src, nil, launcher.Invocation{Args: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	if !has[*plan.Pdeathsig](p.Plan) || p.Plan.Pooled {
		t.Fatalf("the default plan: want a parent-death signal and no pool:\n%s", p.Plan)
	}
	d, err := launcher.Prepare(src, nil, launcher.Invocation{Args: []string{"true"}, Detached: true})
	if err != nil {
		t.Fatal(err)
	}
	if has[*plan.Pdeathsig](d.Plan) || !d.Plan.Pooled {
		t.Errorf("the detached plan: want no parent-death signal, pooled:\n%s", d.Plan)
	}
	if err := d.Plan.Check(); err != nil {
		t.Error(err)
	}
	// A network's helper is stopped by the process that started it.
	_, err = launcher.Prepare(src, []string{"network.mode=user"}, launcher.Invocation{Args: []string{"true"}, Detached: true})
	if err == nil || !strings.Contains(err.Error(), "cleanup step") {
		t.Errorf("a detached sandbox with network.mode user: want its cleanup refused, got %v", err)
	}
	// Attach refuses a plan that is not detached before it uses the
	// socket.
	if _, err := launcher.Attach(p.Plan, nil); err == nil {
		t.Error("Attach of a plan that is not detached: want a refusal")
	}
}

// TestDetach starts a sandbox of each kind: one that is not detached
// cannot hand init's socket over; a detached one, once ready, can, then
// sends init nothing more itself and leaves init to be reaped by whoever
// the caller is.
func TestDetach(t *testing.T) {
	testenv.Root(t)
	src, err := launcher.Open("default")
	if err != nil {
		t.Fatal(err)
	}
	for _, detached := range []bool{false, true} {
		p, err := launcher.Prepare(src, nil, launcher.Invocation{Args: []string{"sleep", "30"}, Detached: detached})
		if err != nil {
			t.Fatal(err)
		}
		s, err := launcher.Start(p, launcher.Stdio{Stderr: os.Stderr}, nil)
		if err != nil {
			t.Fatal(err)
		}
		func() {
			defer func() { _ = s.Kill(); _, _ = s.Wait() }()
			if err := s.Ready(); err != nil {
				t.Fatalf("detached %v: %v", detached, err)
			}
			conn, err := s.Detach()
			if !detached {
				if err == nil {
					t.Error("Detach of a sandbox that is not detached: want a refusal")
				}
				return
			}
			if err != nil || conn == nil {
				t.Fatalf("Detach: %v", err)
			}
			if len(s.SentPlan()) == 0 {
				t.Error("no sent plan")
			}
			if err := s.Signal(15); err == nil {
				t.Error("Signal after Detach: want a refusal")
			}
			if _, err := s.Exec(launcher.ExecRequest{Args: []string{"true"}}, [3]*os.File{os.Stdin, os.Stdout, os.Stderr}); err == nil {
				t.Error("Exec after Detach: want a refusal")
			}
			// Init is left to this process to reap, as cell-oci run
			// reaps it: the launcher does not wait for it.
			if err := unix.Kill(s.Pid(), unix.SIGKILL); err != nil {
				t.Fatal(err)
			}
			// Time for a waiter of the launcher's to win, were there one.
			time.Sleep(200 * time.Millisecond)
			var ws unix.WaitStatus
			for {
				_, err = unix.Wait4(s.Pid(), &ws, 0, nil)
				if err != unix.EINTR {
					break
				}
			}
			if err != nil || !ws.Signaled() || ws.Signal() != unix.SIGKILL {
				t.Errorf("wait4 of the detached init: %v, status %v", err, ws)
			}
		}()
	}
}

// TestDetachedCached: the plan cache keeps a detached plan apart from
// the same profile's plan for a sandbox that dies with its starter, so
// that neither is served for the other.
func TestDetachedCached(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "plans")
	facts := cacheFacts(t)
	src, err := launcher.Open("default")
	if err != nil {
		t.Fatal(err)
	}
	prepare := func(detached bool) *launcher.Prepared {
		t.Helper()
		f := *facts
		p, err := launcher.Prepare(src, nil, launcher.Invocation{Args: []string{"true"}, Cache: dir, Facts: &f, Detached: detached})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, detached := range []bool{false, true, false, true} {
		p := prepare(detached)
		if has[*plan.Pdeathsig](p.Plan) == detached || p.Plan.Pooled != detached {
			t.Errorf("detached %v, cache %s: the plan has a parent-death signal %v, pooled %v", detached, p.Cache, has[*plan.Pdeathsig](p.Plan), p.Plan.Pooled)
		}
	}
	if p := prepare(true); p.Cache != launcher.CacheHit {
		t.Errorf("a detached plan prepared again: cache %s (%s), want a hit", p.Cache, p.CacheNote)
	}
}
