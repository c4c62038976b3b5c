package main

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cellsandbox/cell/internal/testenv"
)

// slurmExample is the oci.conf README shows (in a ```conf block).
const slurmExample = "testdata/oci.conf"

// exampleInREADME returns the file example, after checking that README
// shows it as it is in a block fenced with ```lang.
func exampleInREADME(t *testing.T, example, lang string) string {
	t.Helper()
	b, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```"+lang+"\n"+string(b)+"```\n") {
		t.Fatalf("README.md does not show %s as it is (in a ```%s block): the example is what the engine test runs", example, lang)
	}
	return string(b)
}

// TestSlurmExampleInREADME checks, without root, that README shows the
// oci.conf TestSlurm runs.
func TestSlurmExampleInREADME(t *testing.T) {
	conf := exampleInREADME(t, slurmExample, "conf")
	for _, key := range []string{"RunTimeQuery=", "RunTimeRun=", "RunTimeKill=", "RunTimeDelete="} {
		if !strings.Contains(conf, "\n"+key) {
			t.Errorf("%s has no %s", slurmExample, key)
		}
	}
}

// slurm is a one-node Slurm 22.05 of the test's own: munged with its
// own key and socket, slurmctld and slurmd with a slurm.conf and oci.conf
// of the test's, state, spool, logs and pid files all in one directory,
// everything in a network namespace the test makes (loopback and a veth
// pair inside it: glibc's getaddrinfo wants an address besides
// loopback's), so that their ports are the namespace's.
type slurm struct {
	t        *testing.T
	dir      string
	netns    string // /proc/PID/ns/net of the namespace's holder
	conf     string
	ociRoot  string // cell-oci's --root for the user celltest
	uid, gid uint32
}

// cmd runs a Slurm command in the namespace, as root or (user) as
// celltest.
func (s *slurm) cmd(user bool, args ...string) *exec.Cmd {
	pre := []string{"--net=" + s.netns}
	if user {
		pre = append(pre, "setpriv", "--reuid", strconv.Itoa(int(s.uid)), "--regid", strconv.Itoa(int(s.gid)), "--clear-groups")
	}
	c := exec.Command("nsenter", append(append(pre, "env", "SLURM_CONF="+s.conf), args...)...)
	c.Dir = s.dir
	return c
}

func (s *slurm) must(user bool, args ...string) string {
	s.t.Helper()
	out, err := s.cmd(user, args...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// start starts a daemon in the namespace; cleanup ends it.
func (s *slurm) start(name string, args ...string) {
	s.t.Helper()
	logf, err := os.Create(filepath.Join(s.dir, name+".out"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer logf.Close()
	c := exec.Command("nsenter", append([]string{"--net=" + s.netns}, args...)...)
	c.Stdout, c.Stderr = logf, logf
	c.Env = append(os.Environ(), "SLURM_CONF="+s.conf)
	if err := c.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() { _ = c.Wait() }()
}

func newSlurm(t *testing.T, bin string) *slurm {
	t.Helper()
	testenv.Root(t)
	uid, gid := testenv.Other(t)
	for _, p := range []string{"munged", "slurmctld", "slurmd", "slurmstepd", "srun", "scancel", "sinfo", "squeue"} {
		if _, err := exec.LookPath(p); err != nil {
			testenv.Skip(t, p+" is not installed (apt-get install slurm-wlm munge)")
		}
	}
	for _, p := range []string{"nsenter", "setpriv", "unshare", "ip"} {
		if _, err := exec.LookPath(p); err != nil {
			testenv.Skip(t, p+" is not installed")
		}
	}
	example := exampleInREADME(t, slurmExample, "conf")
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ = strings.Cut(host, ".")
	// The job's user reaches the directory: it holds the bundle, the
	// runtime and munge's socket.
	dir, err := os.MkdirTemp("", "cell-slurm-")
	if err != nil {
		t.Fatal(err)
	}
	s := &slurm{t: t, dir: dir, conf: filepath.Join(dir, "slurm.conf"), ociRoot: filepath.Join(dir, "oci", "celltest"), uid: uid, gid: gid}
	holder := exec.Command("unshare", "--net", "--", "sleep", "1000000")
	t.Cleanup(func() {
		// Containers first (as root, which may end the user's), then
		// every process in the namespace: the daemons, the steps'
		// slurmstepd and runtimes, and srun.
		if ents, err := os.ReadDir(s.ociRoot); err == nil {
			for _, e := range ents {
				_ = exec.Command(bin, "--root", s.ociRoot, "delete", "--force", e.Name()).Run()
			}
		}
		if holder.Process != nil {
			killNetns(t, s.netns)
			_ = holder.Process.Kill()
			_ = holder.Wait()
		}
		if t.Failed() {
			for _, f := range []string{"slurmctld.log", "slurmd.log", "munged.out"} {
				if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
					t.Logf("%s (last 4 kB):\n%s", f, b[max(0, len(b)-4096):])
				}
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	s.netns = fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		self, _ := os.Readlink("/proc/self/ns/net")
		if ns, err := os.Readlink(s.netns); err == nil && ns != self {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("unshare --net made no namespace in 5 s")
		}
	}
	for _, args := range [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"ip", "link", "add", "cell0", "type", "veth", "peer", "name", "cell1"},
		{"ip", "addr", "add", "10.254.0.1/24", "dev", "cell0"},
		{"ip", "link", "set", "cell0", "up"},
		{"ip", "link", "set", "cell1", "up"},
	} {
		if out, err := exec.Command("nsenter", append([]string{"--net=" + s.netns}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	// The runtime, where the job's user may run it.
	rt := filepath.Join(dir, "bin", "cell-oci")
	if err := os.MkdirAll(filepath.Dir(rt), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(bin, rt, 0o755); err != nil {
		t.Fatal(err)
	}
	// cell-oci's state directory for celltest, as README says an admin
	// makes it.
	if err := os.MkdirAll(s.ociRoot, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Dir(s.ociRoot), s.ociRoot} {
		_ = os.Chmod(d, 0o755)
	}
	if err := os.Chown(s.ociRoot, int(uid), int(gid)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(s.ociRoot, 0o700); err != nil {
		t.Fatal(err)
	}

	key := make([]byte, 128)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "munge.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "munge.sock")
	s.start("munged", "munged", "--foreground", "--key-file", filepath.Join(dir, "munge.key"), "--socket", sock,
		"--pid-file", filepath.Join(dir, "munged.pid"), "--log-file", filepath.Join(dir, "munged.log"), "--seed-file", filepath.Join(dir, "munged.seed"))
	for _, d := range []string{"ctld", "slurmd"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// proctrack/linuxproc and task/none: slurmd makes no cgroup, so
	// nothing of the host's cgroups is touched (proctrack/cgroup would
	// make a slurm hierarchy in every v1 controller); the steps are
	// tracked as slurmstepd's descendants in /proc.
	conf := fmt.Sprintf(`ClusterName=cell
SlurmctldHost=%[1]s(127.0.0.1)
SlurmctldPort=6817
SlurmdPort=6818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=%[2]s
CredType=cred/munge
StateSaveLocation=%[3]s/ctld
SlurmdSpoolDir=%[3]s/slurmd
SlurmctldPidFile=%[3]s/slurmctld.pid
SlurmdPidFile=%[3]s/slurmd.pid
SlurmctldLogFile=%[3]s/slurmctld.log
SlurmdLogFile=%[3]s/slurmd.log
SlurmdDebug=debug
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SchedulerType=sched/builtin
SelectType=select/linear
NodeName=%[1]s NodeAddr=127.0.0.1 CPUs=1 State=UNKNOWN
PartitionName=cell Nodes=ALL Default=YES MaxTime=INFINITE State=UP
`, host, sock, dir)
	oci := strings.NewReplacer("/usr/local/bin/cell-oci", rt, "/var/lib/cell-oci", filepath.Dir(s.ociRoot)).Replace(example)
	for name, data := range map[string]string{"slurm.conf": conf, "oci.conf": oci} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("munged made no socket in 10 s")
		}
	}
	s.start("slurmctld", "slurmctld", "-D", "-f", s.conf)
	s.start("slurmd", "slurmd", "-D", "-f", s.conf)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, _ := s.cmd(false, "sinfo", "-h", "-o", "%T").Output()
		if strings.TrimSpace(string(out)) == "idle" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node is not idle after 60 s: %q", out)
		}
	}
	return s
}

// killNetns SIGKILLs every process in the network namespace ns (all of
// them the test's), until none is left.
func killNetns(t *testing.T, ns string) {
	target, err := os.Readlink(ns)
	if err != nil {
		return
	}
	self := os.Getpid()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ents, _ := os.ReadDir("/proc")
		left := 0
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == self || "/proc/"+e.Name()+"/ns/net" == ns {
				continue
			}
			if l, err := os.Readlink("/proc/" + e.Name() + "/ns/net"); err == nil && l == target {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				left++
			}
		}
		if left == 0 {
			return
		}
	}
	t.Errorf("processes left in the test's network namespace %s", target)
}

func copyFile(from, to string, mode os.FileMode) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, mode)
}

// untar writes a tar of directories, files and symbolic links under dir.
func untar(data []byte, dir string) error {
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		p := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, os.FileMode(h.Mode)&os.ModePerm); err != nil {
				return err
			}
			if h.Mode&0o1000 != 0 {
				if err := os.Chmod(p, os.ModeSticky|os.FileMode(h.Mode)&os.ModePerm); err != nil {
					return err
				}
			}
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				return err
			}
			if err := os.WriteFile(p, b, os.FileMode(h.Mode)&os.ModePerm); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, p); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: type %c", h.Name, h.Typeflag)
		}
	}
}

// TestSlurm runs job steps in cell-oci through Slurm 22.05's oci.conf
// (README's), as the unprivileged user celltest, so rootless: srun
// --container=BUNDLE gives back the step's output and exit status, and
// scancel ends a running step, whose container is killed and deleted.
func TestSlurm(t *testing.T) {
	testenv.Root(t)
	bin := buildRuntime(t)
	s := newSlurm(t, bin)

	// A rootless bundle: the user's uid and gid are root inside.
	b := filepath.Join(s.dir, "bundle")
	if err := untar(busyboxRootfs(t), filepath.Join(b, "rootfs")); err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{
		"ociVersion": "1.0.2",
		"root":       map[string]any{"path": "rootfs"},
		"hostname":   "slurm-box",
		"process":    map[string]any{"args": []string{"sh"}, "cwd": "/", "env": []string{"PATH=/bin"}, "user": map[string]any{"uid": 0, "gid": 0}},
		"mounts": []any{
			map[string]any{"destination": "/proc", "type": "proc", "source": "proc"},
			map[string]any{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": []string{"nosuid", "mode=755"}},
			map[string]any{"destination": "/dev/pts", "type": "devpts", "source": "devpts"},
		},
		"linux": map[string]any{
			"namespaces": []any{
				map[string]any{"type": "user"}, map[string]any{"type": "pid"}, map[string]any{"type": "mount"},
				map[string]any{"type": "uts"}, map[string]any{"type": "ipc"}, map[string]any{"type": "network"},
			},
			"uidMappings": []any{map[string]any{"containerID": 0, "hostID": s.uid, "size": 1}},
			"gidMappings": []any{map[string]any{"containerID": 0, "hostID": s.gid, "size": 1}},
		},
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}

	// srun: the step's output and exit status come back; it ran in the
	// bundle's namespaces as the job's user mapped to root.
	c := s.cmd(true, "srun", "--container="+b, "sh", "-c", "echo in-slurm $(id -u) $(hostname); cat /proc/self/uid_map; exit 5")
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	err = c.Run()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("in-slurm 0 slurm-box\n%10d%11d%11d\n", 0, s.uid, 1)
	if code != 5 || !strings.HasPrefix(stdout.String(), want) {
		t.Errorf("srun --container: status %d, stdout %q (stderr %q); want 5 and %q", code, stdout.String(), stderr.String(), want)
	}

	// What cell cannot honour fails the step, and the user reads why,
	// placed in the config.json Slurm wrote.
	refused := filepath.Join(s.dir, "refused")
	if err := os.MkdirAll(refused, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(b, "rootfs"), filepath.Join(refused, "rootfs")); err != nil {
		t.Fatal(err)
	}
	linux := cfg["linux"].(map[string]any)
	res, _ := linux["resources"].(map[string]any)
	if res == nil {
		res = map[string]any{}
		linux["resources"] = res
	}
	res["rdma"] = map[string]any{"mlx5_1": map[string]any{"hcaHandles": 3}}
	if data, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(refused, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	msg, err := s.cmd(true, "srun", "--container="+refused, "true").CombinedOutput()
	if err == nil || !regexp.MustCompile(`config\.json:\d+:\d+: linux\.resources\.rdma`).Match(msg) {
		t.Errorf("srun --container of a bundle with linux.resources.rdma: %v, %q; want it refused at its position", err, msg)
	}

	// scancel of a running step: srun ends, the container is killed
	// and deleted.
	c = s.cmd(true, "srun", "--container="+b, "sleep", "300")
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	t.Cleanup(func() {
		_ = c.Process.Kill()
	})
	var initPid int
	for deadline := time.Now().Add(60 * time.Second); initPid == 0; time.Sleep(100 * time.Millisecond) {
		listing, _ := exec.Command(bin, "--root", s.ociRoot, "list", "--format", "json").Output()
		var states []struct {
			Status string `json:"status"`
			Pid    int    `json:"pid"`
		}
		_ = json.Unmarshal(listing, &states)
		if len(states) == 1 && states[0].Status == "running" {
			initPid = states[0].Pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no running container after 60 s: %s\nsrun: %s", listing, out.String())
		}
	}
	job := strings.TrimSpace(s.must(false, "squeue", "-h", "-o", "%i"))
	s.must(true, "scancel", job)
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("srun of a cancelled step succeeded: %s", out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("srun did not end 60 s after scancel: %s", out.String())
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		ents, _ := os.ReadDir(s.ociRoot)
		_, statErr := os.Stat(fmt.Sprintf("/proc/%d", initPid))
		if len(ents) == 0 && errors.Is(statErr, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after scancel: containers %v, init (pid %d): %v", ents, initPid, statErr)
		}
	}
}
