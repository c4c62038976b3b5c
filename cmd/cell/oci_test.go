package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cellsandbox/cell/profiles"
)

// seenScript prints what the command sees: its uid, hostname,
// namespaces and mount table.
const seenScript = `id -u; hostname; for n in user mnt pid net uts ipc cgroup time; do echo "ns $n $(readlink /proc/self/ns/$n)"; done; cat /proc/self/mountinfo`

// seen is what seenScript printed, with the namespaces said as new or
// host (inode numbers differ from run to run) and each mount point outside
// /proc and /dev (whose insides runtimes build each their own way) as ro
// or rw.
type seen struct {
	UID, Hostname string
	NS            map[string]string
	Mounts        map[string]string
}

func parseSeen(t *testing.T, out string, host map[string]string) seen {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 10 {
		t.Fatalf("short output:\n%s", out)
	}
	s := seen{UID: lines[0], Hostname: lines[1], NS: map[string]string{}, Mounts: map[string]string{}}
	for _, l := range lines[2:] {
		if rest, ok := strings.CutPrefix(l, "ns "); ok {
			n, link, _ := strings.Cut(rest, " ")
			s.NS[n] = "new"
			if link == host[n] {
				s.NS[n] = "host"
			}
			continue
		}
		f := strings.Fields(l)
		if len(f) < 6 {
			continue
		}
		mp := f[4]
		if mp == "/proc" || mp == "/dev" || strings.HasPrefix(mp, "/proc/") || strings.HasPrefix(mp, "/dev/") {
			continue
		}
		opts := strings.Split(f[5], ",")
		s.Mounts[mp] = "rw"
		if slices.Contains(opts, "ro") {
			s.Mounts[mp] = "ro"
		}
	}
	return s
}

// runtimeCommand runs the OCI runtime rt (crun or runc) on bundle.
// crun 1.8 refuses a hybrid cgroup layout (cgroup2 with controllers at
// /sys/fs/cgroup/unified) even with its cgroup manager disabled; it runs
// in a mount namespace of its own (made by unshare, slave so nothing
// propagates back) in which that mount is covered by an empty tmpfs. No
// cgroup of the host is touched by crun; runc makes its container's
// cgroups under a parent of the test's own (ociCgroupParent).
func runtimeCommand(t *testing.T, rt, bin, state, bundle, id string) *exec.Cmd {
	switch rt {
	case "cell":
		return cellCmd(t, "run", "-p", bundle)
	case "runc":
		ociCgroupParent(t, bundle, id)
		return exec.Command(bin, "--root", state, "run", "--bundle", bundle, id)
	}
	run := fmt.Sprintf("exec %s --root %s --cgroup-manager=disabled run --bundle %s %s", bin, state, bundle, id)
	if _, err := os.Stat("/sys/fs/cgroup/unified/cgroup.controllers"); err == nil {
		run = "mount -t tmpfs -o ro,size=4k,mode=0555 cell-hide /sys/fs/cgroup/unified && " + run
	}
	return exec.Command("unshare", "--mount", "--propagation", "slave", "sh", "-c", run)
}

// TestExportRoundTrip exports each built-in profile (with --lossy) and
// checks that crun and runc, running the bundle, and cell run reading it
// back (its rootfs as filesystem.root.path), show the command what
// cell run of the profile shows it: uid, hostname, which namespaces are its own, and
// which mount points there are and whether each is read-only. runc 1.1
// (Debian 12) has no time namespace, so its runs share the host's, in
// cell run as in the export.
func TestExportRoundTrip(t *testing.T) {
	requirePrivilege(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("unshare (util-linux) is missing")
	}
	host := hostNamespaces(t)
	// Not under /tmp, which the profiles cover with a tmpfs, and the
	// working directory the profiles bind.
	work, err := os.MkdirTemp("/var/tmp", "cell-oci-work-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	for _, rt := range []struct {
		name string
		sets []string
	}{{"crun", nil}, {"runc", []string{"--set", "namespaces.time=host"}}, {"cell", nil}} {
		t.Run(rt.name, func(t *testing.T) {
			bin, err := exec.LookPath(rt.name)
			if rt.name == "cell" {
				bin, err = os.Executable()
			}
			if err != nil {
				if os.Getenv("CELL_TEST_STRICT") != "" {
					t.Fatalf("%s is not installed and CELL_TEST_STRICT forbids skipping", rt.name)
				}
				t.Skipf("%s is not installed", rt.name)
			}
			for _, name := range profiles.Names() {
				t.Run(name, func(t *testing.T) {
					roundTrip(t, rt.name, bin, name, rt.sets, work, host)
				})
			}
		})
	}
}

func roundTrip(t *testing.T, rt, bin, name string, sets []string, work string, host map[string]string) {
	bundle := filepath.Join(t.TempDir(), "bundle")
	exp := cellCmd(t, append(append([]string{"export", "--lossy", "--oci", bundle, "-p", name}, sets...), "--", "sh", "-c", seenScript)...)
	exp.Dir = work
	r := runCellCmd(t, exp)
	if name == "build-worker" {
		// outside: pick leases IDs when cell runs.
		if r.code == 0 || !strings.Contains(r.stderr, "pick") {
			t.Fatalf("export of build-worker: want refused for its outside: pick, got %s", r)
		}
		return
	}
	if r.code != 0 {
		t.Fatalf("export: %s", r)
	}
	if !strings.Contains(r.stderr, "cell: loss: ") {
		t.Errorf("export --lossy printed no loss (every built-in has the root's size or passEnv):\n%s", r.stderr)
	}

	run := cellCmd(t, append(append([]string{"run", "-p", name}, sets...), "--", "sh", "-c", seenScript)...)
	run.Dir = work
	want := parseSeen(t, mustSucceed(t, runCellCmd(t, run)), host)

	state := t.TempDir()
	id := fmt.Sprintf("cell-oci-test-%d-%s", os.Getpid(), name)
	t.Cleanup(func() { exec.Command(bin, "--root", state, "delete", "--force", id).Run() })
	cmd := runtimeCommand(t, rt, bin, state, bundle, id)
	cmd.Dir = work
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s: %v\n%s%s", rt, err, out, stderr)
	}
	got := parseSeen(t, string(out), host)
	if name == "agent" || strings.Contains(r.stderr, "domain rules") {
		// For the agent's user-mode network, and for a profile with
		// domain rules (whose name server is cell's proxy), cell
		// writes these files itself instead of binding the host's;
		// config.json cannot express that network (a loss the export
		// printed), so the bundle binds the profile's own.
		for _, s := range []seen{want, got} {
			delete(s.Mounts, "/etc/hosts")
			delete(s.Mounts, "/etc/resolv.conf")
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("what the command sees under %s differs from cell run (-cell +%s):\n%s", rt, rt, d)
	}
}

// TestExportRefuses checks that an export with losses writes nothing
// unless --lossy, and says every loss at its position.
func TestExportRefuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	prof := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(prof, []byte(`apiVersion: cell/v1
name: p
filesystem:
  root: {size: 1Mi, readOnly: true}
  mounts:
    - {type: dir, target: /d, mode: "0700"}
    - {type: file, target: /d/f, content: hi}
    - {type: symlink, target: /l, linkTo: /d/f}
process:
  args: ["true"]
  passEnv: [TERM]
security:
  seccomp: {mode: unconfined}
  landlock: {mode: require, readOnly: [/]}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := cell(t, "export", "--oci", dir, "-p", prof)
	for _, want := range []string{
		"p.yaml:4:16: filesystem.root.size: ",
		"p.yaml:11:12: process.passEnv: ",
		"p.yaml:14:13: security.landlock: ",
		"cell: hint: --lossy",
	} {
		if r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("export without --lossy: want failure with %q, got %s", want, r)
		}
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("export without --lossy wrote the bundle")
	}
	r = cell(t, "export", "--lossy", "--oci", dir, "-p", prof)
	if r.code != 0 || strings.Count(r.stderr, "cell: loss: ") != 3 {
		t.Fatalf("export --lossy: want 3 losses printed, got %s", r)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "rootfs/d/f")); err != nil || string(b) != "hi" {
		t.Errorf("rootfs/d/f = %q, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "rootfs/d")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("rootfs/d: %v, %v; want mode 0700", fi, err)
	}
	if l, err := os.Readlink(filepath.Join(dir, "rootfs/l")); err != nil || l != "/d/f" {
		t.Errorf("rootfs/l -> %q, %v", l, err)
	}
	// The bundle reads back as a profile.
	if r := cell(t, "validate", dir); r.code != 0 {
		t.Errorf("validate the exported bundle: %s", r)
	}
	if r := cell(t, "export", "--lossy", "--oci", dir, "-p", prof); r.code == 0 || !strings.Contains(r.stderr, "is not empty") {
		t.Errorf("export into a non-empty directory: %s", r)
	}
}

// ociCgroupParent points the runc bundle's cgroup at a parent of this
// test process's own, cell-test-PID-oci (which TestMain's sweep removes
// if the test dies), and removes that parent from every hierarchy when
// the test ends: runc removes its container's cgroup, not the parents it
// made.
func ociCgroupParent(t *testing.T, bundle, id string) {
	t.Helper()
	parent := fmt.Sprintf("cell-test-%d-oci", os.Getpid())
	t.Cleanup(func() {
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + parent)
		top, _ := filepath.Glob("/sys/fs/cgroup/" + parent)
		for _, d := range append(dirs, top...) {
			syscall.Rmdir(d)
		}
	})
	file := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var config map[string]any
	if err := json.Unmarshal(data, &config); err != nil {
		t.Fatal(err)
	}
	linux, _ := config["linux"].(map[string]any)
	if linux == nil {
		linux = map[string]any{}
		config["linux"] = linux
	}
	linux["cgroupsPath"] = "/" + parent + "/" + id
	if data, err = json.Marshal(config); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
