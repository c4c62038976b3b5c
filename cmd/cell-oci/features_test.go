package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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

// TestSysctl: linux.sysctl sets the parameters of the container's own
// network and IPC namespaces, read back inside, and the host's stay.
func TestSysctl(t *testing.T) {
	r := newRT(t)
	host, err := os.ReadFile("/proc/sys/kernel/shmmni")
	if err != nil {
		t.Fatal(err)
	}
	b := bundle(t, []string{"cat", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/kernel/shmmni"}, func(c map[string]any) {
		linux(c)["sysctl"] = map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"}
	})
	if got := strings.Fields(r.runInside(b, "sysctl1")); strings.Join(got, " ") != "1 1234" {
		t.Errorf("ip_forward and shmmni inside: %q, want 1 and 1234", got)
	}
	if after, _ := os.ReadFile("/proc/sys/kernel/shmmni"); string(after) != string(host) {
		t.Errorf("the host's kernel.shmmni changed: %q, was %q", after, host)
	}
	// A parameter of the whole host is refused, at its position.
	b = bundle(t, []string{"true"}, func(c map[string]any) {
		linux(c)["sysctl"] = map[string]string{"vm.swappiness": "10"}
	})
	if msg := r.run(true, "create", "--bundle", b, "sysctl2"); !strings.Contains(msg, "config.json:") || !strings.Contains(msg, "sysctl.vm.swappiness") || !strings.Contains(msg, "whole host") {
		t.Errorf("create with vm.swappiness: %q, want it refused at its position", msg)
	}
}

// TestPropagation: rootfsPropagation and a tmpfs's and a bind's
// propagation options reach the container's mount table, and shared
// mounts share only with the container's own: a mount made inside under
// a shared bind shows at its peer (a bind of it made inside), not on the
// host.
func TestPropagation(t *testing.T) {
	r := newRT(t)
	src := t.TempDir()
	if err := os.Mkdir(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	script := `busybox grep -E ' / | /t | /a ' /proc/self/mountinfo | while read -r id parent maj root mnt opts rest; do echo "$mnt ${rest%% - *}"; done
busybox mkdir -p /t/c && busybox mount --bind /a /t/c && busybox mount -t tmpfs peer /a/sub && busybox grep -c ' /t/c/sub ' /proc/self/mountinfo`
	b := bundle(t, []string{"sh", "-c", script}, func(c map[string]any) {
		linux(c)["rootfsPropagation"] = "rshared"
		c["mounts"] = append(c["mounts"].([]any),
			map[string]any{"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": []string{"unbindable"}},
			map[string]any{"destination": "/a", "type": "bind", "source": src, "options": []string{"rbind", "ro", "shared"}},
		)
		// mount(8) inside needs CAP_SYS_ADMIN.
		c["process"].(map[string]any)["capabilities"] = map[string]any{
			"bounding": []string{"CAP_SYS_ADMIN"}, "effective": []string{"CAP_SYS_ADMIN"}, "permitted": []string{"CAP_SYS_ADMIN"},
		}
	})
	out := r.runInside(b, "prop1")
	for _, want := range []string{"\n/ shared:", "\n/t unbindable", "\n/a shared:", "\n1\n"} {
		if !strings.Contains("\n"+out, want) {
			t.Errorf("mount table inside:\n%s\nwant %q", out, want)
		}
	}
	if data, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(data), filepath.Join(src, "sub")) {
		t.Errorf("a mount made inside under the shared bind reached the host")
	}
}

// TestDevices: linux.devices makes nodes in the container's /dev with
// their type, number, mode and owner, and linux.resources.devices gives
// a v1 device cgroup that denies what it does not allow: the nodes made
// for the container and cell's /dev/null work, a node of the loop
// device, which no rule allows, cannot be made (EPERM, though the
// process holds CAP_MKNOD).
func TestDevices(t *testing.T) {
	r := newRT(t)
	v1Hierarchy(t, "devices")
	script := `busybox stat -c '%n %F %t:%T %a %u:%g' /dev/allowed /dev/fuse /dev/fifo
echo a > /dev/allowed && echo allowed-ok
echo b > /dev/null && echo null-ok
busybox mknod /dev/denied b 7 0 || echo denied-refused`
	major, minor := 1, 3
	b := bundle(t, []string{"sh", "-c", script}, func(c map[string]any) {
		mode := 0o646
		linux(c)["devices"] = []any{
			map[string]any{"path": "/dev/allowed", "type": "c", "major": 1, "minor": 3, "fileMode": mode, "uid": 5, "gid": 6},
			map[string]any{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229},
			map[string]any{"path": "/dev/fifo", "type": "p"},
		}
		linux(c)["cgroupsPath"] = fmt.Sprintf("/cell-test-%d/devices", os.Getpid())
		c["process"].(map[string]any)["capabilities"] = map[string]any{
			"bounding": []string{"CAP_MKNOD"}, "effective": []string{"CAP_MKNOD"}, "permitted": []string{"CAP_MKNOD"},
		}
		linux(c)["resources"] = map[string]any{"devices": []any{
			map[string]any{"allow": false, "access": "rwm"},
			// cell adds the nodes of its /dev after the rules.
			map[string]any{"allow": true, "type": "c", "major": major, "minor": minor, "access": "rw"},
		}}
	})
	t.Cleanup(func() { removeTestCgroups(fmt.Sprintf("cell-test-%d", os.Getpid())) })
	out := r.runInside(b, "dev1")
	for _, want := range []string{
		"/dev/allowed character special file 1:3 646 5:6",
		"/dev/fuse character special file a:e5 666 0:0",
		"/dev/fifo fifo 0:0 666 0:0",
		"allowed-ok", "null-ok", "Operation not permitted", "denied-refused",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("inside:\n%s\nwant %q", out, want)
		}
	}
}

// TestJoinNamespaces: linux.namespaces entries with a path put the
// container's process in those namespaces (here a network, UTS and pid
// namespace that the test makes with unshare): inside, its namespaces
// are the ones given, the hostname is the one set there, and its pids
// are those of the joined pid namespace, whose first process is the
// test's; the test's own namespaces (cell-oci's thread came back) stay.
func TestJoinNamespaces(t *testing.T) {
	r := newRT(t)
	holder := exec.Command("unshare", "--net", "--uts", "--pid", "--fork", "sh", "-c", "hostname joined-uts; exec sleep 600")
	holder.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-holder.Process.Pid, syscall.SIGKILL)
		_ = holder.Wait()
	})
	// The namespaces of unshare's child (sleep, pid 1 of the new pid
	// namespace) once it has set the hostname.
	var child int
	for range 100 {
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", holder.Process.Pid, holder.Process.Pid))
		if f := strings.Fields(string(data)); len(f) == 1 {
			child, _ = strconv.Atoi(f[0])
			if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", child)); strings.HasSuffix(exe, "sleep") {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if child == 0 {
		t.Fatal("unshare's child did not start")
	}
	ns := func(pid any, kind string) string {
		l, err := os.Readlink(fmt.Sprintf("/proc/%v/ns/%s", pid, kind))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	mine := ns("self", "net")
	b := bundle(t, []string{"sh", "-c", "busybox readlink /proc/self/ns/net; busybox readlink /proc/self/ns/uts; hostname; cat /proc/1/cmdline; echo"}, func(c map[string]any) {
		delete(c, "hostname")
		linux(c)["namespaces"] = []any{
			map[string]any{"type": "mount"},
			map[string]any{"type": "network", "path": fmt.Sprintf("/proc/%d/ns/net", child)},
			map[string]any{"type": "uts", "path": fmt.Sprintf("/proc/%d/ns/uts", child)},
			map[string]any{"type": "pid", "path": fmt.Sprintf("/proc/%d/ns/pid", child)},
		}
		// /proc of the joined pid namespace.
		c["mounts"] = c["mounts"].([]any)[1:]
		c["mounts"] = append([]any{map[string]any{"destination": "/proc", "type": "proc", "source": "proc"}}, c["mounts"].([]any)...)
	})
	got := strings.Split(strings.TrimSpace(r.runInside(b, "join1")), "\n")
	want := []string{ns(child, "net"), ns(child, "uts"), "joined-uts", "sleep\x00600\x00"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("inside: %q, want %q", got, want)
	}
	if now := ns("self", "net"); now != mine {
		t.Errorf("the test's network namespace is %s after the run, was %s", now, mine)
	}
	// cell's own mount namespace is refused by the step that would
	// enter it, before anything is made there (pivot_root would move
	// the host's processes).
	b = bundle(t, []string{"true"}, func(c map[string]any) {
		nss := []any{}
		for _, n := range linux(c)["namespaces"].([]any) {
			if n.(map[string]any)["type"] != "mount" {
				nss = append(nss, n)
			}
		}
		linux(c)["namespaces"] = append(nss, map[string]any{"type": "mount", "path": "/proc/self/ns/mnt"})
	})
	msg := r.run(true, "create", "--bundle", b, "joinown0")
	if !strings.Contains(msg, "is the host's own") || !strings.Contains(msg, "EPERM") && !strings.Contains(msg, "operation not permitted") {
		t.Errorf("create joining its own mount namespace: %q, want it refused as the host's own", msg)
	}
	r.run(false, "delete", "--force", "joinown0")
	// Joining the runtime's own network namespace (containerd's CRI
	// plugin's config for a host-network pod's containers) is sharing
	// the host's: the command runs in it, and what cell would set up in
	// it is refused as for any config that shares it.
	ownNet := func(sysctl map[string]string, args ...string) string {
		return bundle(t, args, func(c map[string]any) {
			for _, n := range linux(c)["namespaces"].([]any) {
				if m := n.(map[string]any); m["type"] == "network" {
					m["path"] = "/proc/self/ns/net"
				}
			}
			if sysctl != nil {
				linux(c)["sysctl"] = sysctl
			}
		})
	}
	if got := strings.TrimSpace(r.runInside(ownNet(nil, "busybox", "readlink", "/proc/self/ns/net"), "joinown1")); got != mine {
		t.Errorf("joining the runtime's own network namespace: inside %q, want the test's %s", got, mine)
	}
	msg = r.run(true, "create", "--bundle", ownNet(map[string]string{"net.ipv4.ip_forward": "1"}, "true"), "joinown2")
	if !strings.Contains(msg, "config.json:") || !strings.Contains(msg, "sysctl") {
		t.Errorf("create joining its own network namespace with a net sysctl: %q, want it refused at its position", msg)
	}
	r.run(false, "delete", "--force", "joinown2")
	if now := ns("self", "net"); now != mine {
		t.Errorf("the test's network namespace is %s after the refused joins, was %s", now, mine)
	}
	// A user namespace cannot be joined.
	b = bundle(t, []string{"true"}, func(c map[string]any) {
		linux(c)["namespaces"] = append(linux(c)["namespaces"].([]any), map[string]any{"type": "user", "path": fmt.Sprintf("/proc/%d/ns/user", child)})
	})
	if msg := r.run(true, "create", "--bundle", b, "join2"); !strings.Contains(msg, "linux.namespaces[5].path") {
		t.Errorf("create joining a user namespace: %q, want it refused at its position", msg)
	}
}

// TestSpecDefaults runs the configs that `runc spec` and `crun spec`
// write, as they are but the terminal and the command: their ambient
// capabilities outside the inheritable set cannot be raised (a warning
// with the position, as the runtime spec asks, and none raised), and
// their cgroup mount at /sys/fs/cgroup is read-only; and runc spec
// --rootless's, run by celltest (the host's /sys bound, /sys/firmware
// masked below it).
func TestSpecDefaults(t *testing.T) {
	for _, tc := range []struct {
		name, gen string
		rootless  bool
	}{{"runc", "runc", false}, {"crun", "crun", false}, {"runc rootless", "runc", true}} {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.gen
			gen, err := exec.LookPath(name)
			if err != nil {
				testenv.Skip(t, name+" is not installed")
			}
			r := newRT(t)
			b := bundle(t, []string{"true"}, nil)
			if err := os.Remove(filepath.Join(b, "config.json")); err != nil {
				t.Fatal(err)
			}
			var cred *syscall.Credential
			var env []string
			if tc.rootless {
				// runc spec --rootless, run by celltest: the host's /sys
				// bound (a user namespace mounts no sysfs) with
				// /sys/firmware masked below it. Everything it reads or
				// writes is in a directory of its own.
				uid, gid := testenv.Other(t)
				dir, err := os.MkdirTemp("/tmp", "cell-oci-rootless-")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.RemoveAll(dir) })
				if err := exec.Command("cp", "-a", r.bin, b, dir).Run(); err != nil {
					t.Fatal(err)
				}
				r.bin, r.root, b = filepath.Join(dir, "cell-oci"), filepath.Join(dir, "state"), filepath.Join(dir, filepath.Base(b))
				if err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", uid, gid), dir).Run(); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				cred = &syscall.Credential{Uid: uid, Gid: gid}
				env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "XDG_RUNTIME_DIR=" + filepath.Join(dir, "xdg")}
			}
			spec := exec.Command(gen, "spec")
			if tc.rootless {
				spec = exec.Command(gen, "spec", "--rootless")
				spec.SysProcAttr, spec.Env = &syscall.SysProcAttr{Credential: cred}, env
			}
			spec.Dir = b
			if out, err := spec.CombinedOutput(); err != nil {
				t.Fatalf("%s spec: %v\n%s", name, err, out)
			}
			cfgPath := filepath.Join(b, "config.json")
			data, err := os.ReadFile(cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			var cfg map[string]any
			if err := json.Unmarshal(data, &cfg); err != nil {
				t.Fatal(err)
			}
			proc := cfg["process"].(map[string]any)
			proc["terminal"] = false
			proc["args"] = []string{"sh", "-c", `grep CapAmb /proc/self/status
grep ' /sys/fs/cgroup ' /proc/self/mountinfo | grep -vc ' ro,' | sed 's/^/writable cgroup mounts /'
grep -q ' /sys/fs/cgroup ' /proc/self/mountinfo && echo "cgroup mounted"
exit 7`}
			if data, err = json.MarshalIndent(cfg, "", "  "); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(cfgPath, data, 0o644); err != nil {
				t.Fatal(err)
			}
			id := fmt.Sprintf("spec-%s-%d", name, os.Getpid())
			t.Cleanup(func() { exec.Command(r.bin, "--root", r.root, "delete", "--force", id).Run() })
			cmd := exec.Command(r.bin, "--root", r.root, "run", "--bundle", b, id)
			if tc.rootless {
				cmd.SysProcAttr, cmd.Env = &syscall.SysProcAttr{Credential: cred}, env
			}
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err = cmd.Run()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 {
				t.Fatalf("cell-oci run of %s spec's config: %v, want exit status 7\n%s%s", name, err, stdout.String(), stderr.String())
			}
			for _, want := range []string{"CapAmb:\t0000000000000000\n", "writable cgroup mounts 0\n", "cgroup mounted\n"} {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("missing %q in:\n%s", want, stdout.String())
				}
			}
			if !strings.Contains(stderr.String(), "cell-oci: warning: "+cfgPath+":") || !strings.Contains(stderr.String(), "process.capabilities.ambient[0]: CAP_AUDIT_WRITE is not in the inheritable and permitted sets") {
				t.Errorf("want a positioned warning for each ambient capability, got:\n%s", stderr.String())
			}
		})
	}
}
