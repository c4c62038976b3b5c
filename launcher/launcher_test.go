package launcher_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cellsandbox/cell/internal/testenv"
	"github.com/cellsandbox/cell/launcher"
	"github.com/cellsandbox/cell/launcher/plan"
)

// noInitEnv makes the test binary try a launch without calling
// launcher.Init, as a program that forgot it would.
const noInitEnv = "LAUNCHER_TEST_NO_INIT"

func TestMain(m *testing.M) {
	if os.Getenv(noInitEnv) == "1" {
		os.Exit(launchWithoutInit())
	}
	launcher.Init()
	os.Exit(m.Run())
}

// launchWithoutInit prints the error of a launch whose init would be this
// executable, from a main that did not call launcher.Init.
func launchWithoutInit() int {
	src, err := launcher.Open("default")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	p, err := launcher.Prepare(src, nil, launcher.Invocation{Args: []string{"true"}, Init: ""})
	if err != nil {
		fmt.Println(err)
		return 1
	}
	_, err = launcher.Run(context.Background(), p, launcher.Options{})
	fmt.Println(err)
	return 0
}

// TestInitNotCalled: a program that would re-execute itself as the
// sandbox's init without calling launcher.Init is refused before
// anything starts (its own main would run in the sandbox instead).
func TestInitNotCalled(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), noInitEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(string(out), "does not call launcher.Init") {
		t.Errorf("a launch without launcher.Init: want a refusal, got %q", out)
	}
}

// TestCellInitPath launches a sandbox whose init is a cell-init built
// from cmd/cell-init, as a program that does not re-execute itself names
// it in Invocation.Init: the plan names it, and the command runs.
func TestCellInitPath(t *testing.T) {
	testenv.Root(t)
	if testing.Short() {
		t.Skip("builds cell-init")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	init := filepath.Join(dir, "cell-init")
	build := exec.Command("go", "build", "-o", init, "../cmd/cell-init")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build cell-init: %v\n%s", err, out)
	}
	src, err := launcher.Open("default")
	if err != nil {
		t.Fatal(err)
	}
	p, err := launcher.Prepare(src, nil, launcher.Invocation{Args: []string{"sh", "-c", "exit 7"}, Init: init})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range p.Plan.Steps {
		if x, ok := s.Do.(*plan.ExecInit); ok {
			found = x.Path == init
		}
	}
	if !found {
		t.Fatalf("the plan does not execute %s as init:\n%s", init, p.Plan)
	}
	st, err := launcher.Run(context.Background(), p, launcher.Options{Stderr: os.Stderr})
	if err != nil || st.Code != 7 || !st.Exited() || st.Stats == nil {
		t.Errorf("run with cell-init: status %+v, err %v", st, err)
	}
}

// TestOutcomes checks Run's typed outcomes against real sandboxes.
func TestOutcomes(t *testing.T) {
	testenv.Root(t)
	src, err := launcher.Open("default")
	if err != nil {
		t.Fatal(err)
	}
	prepare := func(t *testing.T, sets []string, args ...string) *launcher.Prepared {
		t.Helper()
		p, err := launcher.Prepare(src, sets, launcher.Invocation{Args: args})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("signaled", func(t *testing.T) {
		st, err := launcher.Run(context.Background(), prepare(t, nil, "sh", "-c", "kill -USR1 $$"), launcher.Options{})
		if err != nil || st.Signal != syscall.SIGUSR1 || st.Code != 128+int(syscall.SIGUSR1) || st.Exited() {
			t.Errorf("got %+v, %v", st, err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		st, err := launcher.Run(context.Background(), prepare(t, nil, "sleep", "30"), launcher.Options{Timeout: 100 * time.Millisecond, KillAfter: time.Second})
		if err != nil || !st.TimedOut {
			t.Errorf("got %+v, %v", st, err)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		st, err := launcher.Run(ctx, prepare(t, nil, "sleep", "30"), launcher.Options{})
		if !errors.Is(err, context.DeadlineExceeded) || st.Signal != syscall.SIGKILL {
			t.Errorf("got %+v, %v", st, err)
		}
	})
	t.Run("not found", func(t *testing.T) {
		_, err := launcher.Run(context.Background(), prepare(t, nil, "no-such-command-here"), launcher.Options{})
		var ce *launcher.CommandError
		if !errors.As(err, &ce) || !ce.NotFound || ce.ExitCode() != 127 {
			t.Errorf("got %v", err)
		}
	})
	t.Run("setup", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "missing")
		p := prepare(t, []string{"filesystem.mounts[+]={type: bind, source: " + missing + ", target: /x}"}, "true")
		_, err := launcher.Run(context.Background(), p, launcher.Options{})
		var se *launcher.SetupError
		if !errors.As(err, &se) || !errors.Is(err, syscall.ENOENT) || strings.Contains(err.Error(), "/oldroot") || !strings.Contains(err.Error(), missing) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		_, err := launcher.Prepare(src, []string{"namespaces.nosuch=new"}, launcher.Invocation{})
		var pe *launcher.ProfileError
		if !errors.As(err, &pe) {
			t.Errorf("got %T %v", err, err)
		}
	})
}

// TestIsOCIConfig: a bundle's config is known by its name or, under
// another name, by its ociVersion; a profile written as JSON is not one.
func TestIsOCIConfig(t *testing.T) {
	for _, tc := range []struct {
		file, data string
		want       bool
	}{
		{"b/config.json", "not even JSON", true},
		{"old.json", `{"ociVersion": "1.0.2", "process": {"args": ["sh"]}}`, true},
		{"p.json", `{"apiVersion": "cell/v1", "name": "p"}`, false},
		{"p.yaml", "apiVersion: cell/v1\nname: p\nociVersion: 1\n", false},
		{"x.json", `["ociVersion"]`, false},
	} {
		if got := launcher.IsOCIConfig(tc.file, []byte(tc.data)); got != tc.want {
			t.Errorf("IsOCIConfig(%s) = %v, want %v", tc.file, got, tc.want)
		}
	}
	if launcher.IsBuiltin("old.json") {
		t.Error("old.json is taken for a built-in's name")
	}
}
