package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cellsandbox/cell/internal/testenv"
)

// runInside runs the bundle b to its end with cell-oci run and returns
// what its process wrote; the process's failure is the test's.
func (r *rt) runInside(b, id string) string {
	r.t.Helper()
	r.t.Cleanup(func() { exec.Command(r.bin, "--root", r.root, "delete", "--force", id).Run() })
	cmd := exec.Command(r.bin, "--root", r.root, "run", "--bundle", b, id)
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("cell-oci run: %v\n%s", err, out)
	}
	return string(out)
}

// linux returns the config's linux object.
func linux(c map[string]any) map[string]any { return c["linux"].(map[string]any) }

// bindCgroupfs binds the host's /sys/fs/cgroup read-only into the
// container, where its process reads its own cgroups' files.
func bindCgroupfs(c map[string]any) {
	c["mounts"] = append(c["mounts"].([]any), map[string]any{
		"destination": "/sys/fs/cgroup", "type": "bind", "source": "/sys/fs/cgroup", "options": []string{"rbind", "ro"},
	})
}

// v1Hierarchy skips where the host has no v1 hierarchy of controller.
func v1Hierarchy(t *testing.T, controller string) {
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", controller, "cgroup.procs")); err != nil {
		testenv.Skip(t, "no cgroup v1 "+controller+" hierarchy here (the v1 values are checked on a v1 or hybrid host)")
	}
}

// TestCPUv1Exact: linux.resources.cpu's shares, quota and period reach
// the v1 cpu hierarchy as written (the runtime-tools cpus tests read them
// back), where a weight could give 1000 shares only as 1024 or 1003.
func TestCPUv1Exact(t *testing.T) {
	r := newRT(t)
	v1Hierarchy(t, "cpu")
	b := bundle(t, []string{"sh", "-c", `d=/sys/fs/cgroup/cpu$(busybox grep -E '^[0-9]+:[^:]*cpu[,:]' /proc/self/cgroup | busybox cut -d: -f3); cat $d/cpu.shares $d/cpu.cfs_quota_us $d/cpu.cfs_period_us`}, func(c map[string]any) {
		bindCgroupfs(c)
		linux(c)["cgroupsPath"] = fmt.Sprintf("/cell-test-%d/cpu", os.Getpid())
		linux(c)["resources"] = map[string]any{"cpu": map[string]any{"shares": 1000, "quota": 50000, "period": 500000}}
	})
	t.Cleanup(func() { removeTestCgroups(fmt.Sprintf("cell-test-%d", os.Getpid())) })
	got := strings.Fields(r.runInside(b, "cpu1"))
	if want := []string{"1000", "50000", "500000"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("cpu.shares, cfs_quota_us, cfs_period_us inside: %q, want %q", got, want)
	}
}

// removeTestCgroups removes the directory name (and what is below it)
// from every v1 hierarchy and the unified one.
func removeTestCgroups(name string) {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", name))
	dirs = append(dirs, filepath.Join("/sys/fs/cgroup", name))
	for _, d := range dirs {
		exec.Command("find", d, "-depth", "-type", "d", "-exec", "rmdir", "{}", ";").Run()
	}
}
