package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestCrunSpec(t *testing.T) {
	missing := map[string]bool{"/lib64": true, "/etc/terminfo": true}
	exists := func(p string) bool { return !missing[p] }
	s, err := crunSpec(defaultNS, 1000, 1001, "/src", exists, "/bin/true", "x")
	if err != nil {
		t.Fatal(err)
	}
	var ns []string
	for _, n := range s.Linux.Namespaces {
		ns = append(ns, string(n.Type))
	}
	if diff := cmp.Diff([]string{"user", "mount", "pid", "network", "uts", "ipc", "cgroup", "time"}, ns); diff != "" {
		t.Errorf("namespaces (-want +got):\n%s", diff)
	}
	wantMap := []specs.LinuxIDMapping{{ContainerID: 1000, HostID: 1000, Size: 1}}
	if diff := cmp.Diff(wantMap, s.Linux.UIDMappings); diff != "" {
		t.Errorf("uid mappings (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]specs.LinuxIDMapping{{ContainerID: 1001, HostID: 1001, Size: 1}}, s.Linux.GIDMappings); diff != "" {
		t.Errorf("gid mappings (-want +got):\n%s", diff)
	}
	// The same binds as bwrap's row, in its order, then the rest.
	var binds, others []string
	for _, m := range s.Mounts {
		if m.Type == "bind" {
			binds = append(binds, m.Destination)
			if m.Source != m.Destination {
				t.Errorf("bind %s: source %s, want the same path", m.Destination, m.Source)
			}
			ro := slices.Contains(m.Options, "ro")
			if ro == (m.Destination == "/src") || !slices.Contains(m.Options, "rbind") || !slices.Contains(m.Options, "nosuid") {
				t.Errorf("bind %s: options %v", m.Destination, m.Options)
			}
			continue
		}
		others = append(others, m.Type+" "+m.Destination)
	}
	var wantBinds []string
	a := bwrapArgs("bwrap", defaultNS, "/src")
	for i := 1; i < len(a); i++ {
		if (a[i-1] == "--ro-bind" || a[i-1] == "--ro-bind-try" || a[i-1] == "--bind") && !missing[a[i]] {
			wantBinds = append(wantBinds, a[i])
		}
	}
	if diff := cmp.Diff(wantBinds, binds); diff != "" {
		t.Errorf("binds, against bwrap's (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"proc /proc", "tmpfs /dev", "devpts /dev/pts", "tmpfs /dev/shm", "tmpfs /tmp"}, others); diff != "" {
		t.Errorf("other mounts (-want +got):\n%s", diff)
	}
	if s.Hostname != "cell" || s.Root.Path != "rootfs" || !s.Root.Readonly {
		t.Errorf("hostname %q, root %+v; want cell, a read-only rootfs", s.Hostname, *s.Root)
	}
	p := s.Process
	if p.User.UID != 1000 || p.User.GID != 1001 || p.Cwd != "/src" || !p.NoNewPrivileges || len(p.Env) != 0 ||
		!slices.Equal(p.Args, []string{"/bin/true", "x"}) || p.Terminal {
		t.Errorf("process %+v", *p)
	}

	// The JSON crun reads: a version it accepts, every capability set
	// empty (left out), no environment variable.
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Version string `json:"ociVersion"`
		Process struct {
			Env          []string       `json:"env"`
			Capabilities map[string]any `json:"capabilities"`
		} `json:"process"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	if raw.Version != "1.0.2" || len(raw.Process.Env) != 0 || raw.Process.Capabilities == nil || len(raw.Process.Capabilities) != 0 {
		t.Errorf("config.json: %s", data)
	}
}

func TestCrunSpecNamespaces(t *testing.T) {
	all := func(string) bool { return true }
	s, err := crunSpec(unix.CLONE_NEWNS|unix.CLONE_NEWPID, 0, 0, "/src", all, "/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Linux.Namespaces) != 2 || s.Linux.UIDMappings != nil || s.Hostname != "" {
		t.Errorf("mount and pid namespaces only: namespaces %v, uid mappings %v, hostname %q", s.Linux.Namespaces, s.Linux.UIDMappings, s.Hostname)
	}
	for _, tt := range []struct {
		name string
		ns   nsFlags
		dir  string
		argv []string
		want string
	}{
		{"no mount namespace", unix.CLONE_NEWPID, "/src", []string{"/bin/true"}, "no mount namespace"},
		{"relative command", defaultNS, "/src", []string{"true"}, "absolute path"},
		{"no command", defaultNS, "/src", nil, "absolute path"},
		{"relative directory", defaultNS, "src", []string{"/bin/true"}, "must be absolute"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := crunSpec(tt.ns, 0, 0, tt.dir, all, tt.argv...); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("crunSpec: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestLaunchID(t *testing.T) {
	argv := []string{"crun", "run", "c"}
	id := &launchID{index: 2}
	if got := id.next(argv); !slices.Equal(got, []string{"crun", "run", "c-1"}) {
		t.Errorf("first next = %v", got)
	}
	if got := id.next(argv); !slices.Equal(got, []string{"crun", "run", "c-2"}) {
		t.Errorf("second next = %v", got)
	}
	if argv[2] != "c" {
		t.Errorf("next changed its argument: %v", argv)
	}
}

// privileged skips a test that needs root, or fails it under
// CELL_TEST_STRICT, where every privileged test must run.
func privileged(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CELL_TEST_STRICT") != "" {
		t.Fatalf("%s, and CELL_TEST_STRICT forbids skipping", why)
	}
	t.Skip(why)
}

// TestViewThread hides a directory on a view thread and checks that only
// that thread sees the empty tmpfs over it: neither another thread nor
// the host's mount namespace.
func TestViewThread(t *testing.T) {
	if os.Geteuid() != 0 {
		privileged(t, "making a mount namespace needs root")
	}
	// The view thread is then another: this one stays in the test's
	// mount namespace.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	th, err := newViewThread(dir)
	if err != nil {
		t.Fatal(err)
	}
	var inside unix.Statfs_t
	var insideErr, markerErr error
	th.run(func() {
		insideErr = unix.Statfs(dir, &inside)
		_, markerErr = os.Stat(marker)
	})
	th.close()
	if insideErr != nil || inside.Type != unix.TMPFS_MAGIC || !errors.Is(markerErr, os.ErrNotExist) {
		t.Errorf("on the view thread, %s: statfs type %#x, %v, its file: %v; want an empty tmpfs", dir, inside.Type, insideErr, markerErr)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("off the view thread, the hidden directory's file: %v", err)
	}
	mi, err := os.ReadFile("/proc/thread-self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mi), " "+dir+" ") {
		t.Errorf("the mount on %s shows in the test's own mount namespace:\n%s", dir, mi)
	}
}

// TestCrunRuns runs crun's row as cellbench does, on this host's
// cgroups: a command that checks the sandbox it is in and leaves a file
// in the writable directory.
func TestCrunRuns(t *testing.T) {
	if os.Geteuid() != 0 {
		privileged(t, "the crun row runs as root")
	}
	crunPath, err := exec.LookPath("crun")
	if err != nil {
		privileged(t, "crun is not installed (apt-get install crun)")
	}
	scratch := t.TempDir()
	work := filepath.Join(scratch, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	c, skipped, err := setupCrun(tools{crun: crunPath}, scratch)
	if err != nil || skipped != nil {
		t.Fatalf("setupCrun: %v, %v", skipped, err)
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	r := runner{dir: work, stdio: devnull}
	if c.hide != "" {
		if r.view, err = newViewThread(c.hide); err != nil {
			t.Fatal(err)
		}
		defer r.view.close()
	}
	// /usr is read-only, the hostname is cell, this directory writable.
	script := `read h < /proc/sys/kernel/hostname && [ "$h" = cell ] && ! /bin/touch /usr/cellbench-x 2>/dev/null && /bin/touch ok`
	l, err := c.launcher("check", defaultNS, work, "/bin/sh", "-c", script)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.once(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(work, "ok")); err != nil {
		t.Errorf("the command did not leave its file: %v", err)
	}
	// Two at once, as throughput mode runs them: each launch has its
	// own container ID, each worker its own view thread.
	n, _, err := flood(context.Background(), r, l, 2, 300*time.Millisecond)
	if err != nil || n == 0 {
		t.Errorf("flood: %d launches, %v", n, err)
	}
}
