package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/cellsandbox/cell/internal/testenv"
)

// criNode is a containerd (Debian's 1.6) with its CRI plugin on, as a
// kubelet's node would run it, but all of it the test's: root, state,
// socket and CNI directories in a directory of the test's; a mount
// namespace of its own with a tmpfs on /run/containerd (where the runc
// shim keeps its sockets and its runtime's root, so the host's stays
// untouched); a network namespace of its own with only loopback, which is
// the "node's" network a host-network pod shares.
type criNode struct {
	t       *testing.T
	dir     string
	addr    string
	daemon  *exec.Cmd
	rt      cri.RuntimeServiceClient
	img     cri.ImageServiceClient
	handler string
	mntNS   string // the daemon's mount namespace, once it answers
}

// criPause is the image the CRI plugin runs as each pod's sandbox
// container: the test's busybox, whose command sleeps until it is killed.
const criPause = "localhost/cell-pause:3"

// criImage is the image of the pod's containers.
const criImage = "localhost/cell-busybox:latest"

// criConfig returns containerd's configuration: the test's directories,
// the CRI plugin's sandbox image and CNI directories, then README's
// example with the BinaryName of the cell-oci this test built.
func criConfig(t *testing.T, dir, addr, bin string) (config, handler string) {
	t.Helper()
	example, _, _ := readContainerdExample(t)
	m := regexp.MustCompile(`(?m)^\[plugins\."io\.containerd\.grpc\.v1\.cri"\.containerd\.runtimes\.([A-Za-z0-9_-]+)\]$`).FindStringSubmatch(example)
	if m == nil {
		t.Fatalf("%s names no CRI runtime", containerdExample)
	}
	if h := runtimeClassHandler(t); h != m[1] {
		t.Fatalf("README's RuntimeClass has handler %q, its containerd example names the runtime %q", h, m[1])
	}
	example = regexp.MustCompile(`(?m)^(\s*BinaryName = )"[^"]+"$`).ReplaceAllString(example, fmt.Sprintf("${1}%q", bin))
	// CNI's configuration directory is the test's (the host's is never
	// read), its plugins Debian's. The streaming
	// server (which ExecSync does not use) listens on the loopback of
	// the daemon's own network namespace.
	return fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[ttrpc]
  address = %q
[plugins."io.containerd.internal.v1.opt"]
  path = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = %t
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
  # A node's default runtime stays runc: the pod is cell's because its
  # RuntimeHandler names the example's runtime.
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), addr, addr+".ttrpc", filepath.Join(dir, "opt"),
		criPause, !hasCapSysResource(t), criCNIBin, filepath.Join(dir, "cni", "conf")) + example, m[1]
}

// runtimeClassHandler returns the handler of README's RuntimeClass.
func runtimeClassHandler(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?m)^```yaml\napiVersion: node.k8s.io/v1\nkind: RuntimeClass\n(?:.*\n)*?handler: ([A-Za-z0-9_-]+)").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md shows no RuntimeClass with a handler")
	}
	return string(m[1])
}

// hasCapSysResource reports whether the test holds CAP_SYS_RESOURCE,
// without which no process may lower its oom_score_adj: containerd gives
// each pod's sandbox container -998, which cell-oci refuses to pretend it
// set; a node without the capability runs containerd with
// restrict_oom_score_adj, which keeps the score at containerd's own.
func hasCapSysResource(t *testing.T) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^CapEff:\s*([0-9a-f]+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("/proc/self/status has no CapEff")
	}
	v, err := strconv.ParseUint(string(m[1]), 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v&(1<<unix.CAP_SYS_RESOURCE) != 0
}

func newCRINode(t *testing.T, bin string) *criNode {
	t.Helper()
	for _, p := range []string{"containerd", "ctr", "containerd-shim-runc-v2", "unshare", "mount", "ip"} {
		if _, err := exec.LookPath(p); err != nil {
			testenv.Skip(t, p+" is not installed (apt-get install containerd util-linux iproute2)")
		}
	}
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(criCNIBin, p)); err != nil {
			testenv.Skip(t, "no CNI plugin "+p+" (apt-get install containernetworking-plugins)")
		}
	}
	// Unix socket paths are short: the directory is under /tmp.
	dir, err := os.MkdirTemp("", "cell-cri-")
	if err != nil {
		t.Fatal(err)
	}
	n := &criNode{t: t, dir: dir, addr: filepath.Join(dir, "containerd.sock")}
	// containerd's (and CNI's) fixed places on the host get a tmpfs of
	// the daemon's own, in its mount namespace only: the shims'
	// sockets and the runtime's root, the pods' network namespaces
	// (bind-mounted files), CNI's cache. A directory the host lacks is
	// made for it (and removed).
	var made []string
	for _, d := range criPrivateDirs {
		if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
			made = append(made, d)
		}
	}
	var conn *grpc.ClientConn
	t.Cleanup(func() {
		if conn != nil {
			_ = conn.Close()
		}
		if n.daemon != nil {
			// End every process of the daemon's mount namespace
			// (shims, cell-oci's inits and monitors), the daemon
			// last.
			for _, pid := range inMountNS(n.mntNS) {
				if pid != n.daemon.Process.Pid {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			_ = n.daemon.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = n.daemon.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = n.daemon.Process.Kill()
				<-done
			}
		}
		removeCgroupParent(t, criCgroupParent())
		for _, d := range made {
			if err := os.Remove(d); err != nil {
				t.Errorf("remove %s: %v", d, err)
			}
		}
		removeDaemonDir(t, dir, filepath.Join(dir, "containerd.log"))
	})
	config, handler := criConfig(t, dir, n.addr, bin)
	n.handler = handler
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(dir, "cni", "conf"), filepath.Join(dir, "logs", "true"), filepath.Join(dir, "logs", "false")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cniConf := fmt.Sprintf(`{"cniVersion": "0.4.0", "name": "cell-cri", "type": "bridge", "bridge": "cellcri0", "isGateway": false, "ipMasq": false,
  "ipam": {"type": "host-local", "ranges": [[{"subnet": "%s0/24"}]], "dataDir": %q}}`, criSubnetPrefix, filepath.Join(dir, "cni", "ipam"))
	if err := os.WriteFile(filepath.Join(dir, "cni", "conf", "10-cell-cri.conf"), []byte(cniConf), 0o644); err != nil {
		t.Fatal(err)
	}
	script := "set -e\n"
	for _, d := range criPrivateDirs {
		script += fmt.Sprintf("mount -t tmpfs -o mode=0755 cell-cri %s\n", d)
	}
	n.daemon = exec.Command("unshare", "--mount", "--net", "--propagation", "private", "sh", "-c",
		script+`ip link set lo up; exec containerd --config "$1"`, "sh", cfg)
	n.daemon.Stdout, n.daemon.Stderr = logf, logf
	if err := n.daemon.Start(); err != nil {
		t.Fatal(err)
	}
	conn, err = grpc.NewClient("unix://"+n.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	n.rt, n.img = cri.NewRuntimeServiceClient(conn), cri.NewImageServiceClient(conn)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := n.rt.Version(ctx, &cri.VersionRequest{})
		cancel()
		if err == nil {
			// Shims and containers outlive a daemon that dies: the
			// cleanup finds them by its mount namespace.
			if n.mntNS, err = os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", n.daemon.Process.Pid)); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd's CRI plugin did not answer in 30 s: %v", err)
		}
	}
	return n
}

// criPrivateDirs are where containerd 1.6 and CNI keep state at fixed
// places: the daemon has its own tmpfs on each.
var criPrivateDirs = []string{"/run/containerd", "/run/netns", "/var/lib/cni"}

// criCNIBin is where Debian's containernetworking-plugins are.
const criCNIBin = "/usr/lib/cni"

// criSubnetPrefix is the pod network's /24, on a bridge in the node's
// (the daemon's) network namespace.
const criSubnetPrefix = "10.88.77."

// criCgroupParent is the cgroup parent of the test's pods, named after
// the test's pid.
func criCgroupParent() string { return fmt.Sprintf("cell-cri-%d", os.Getpid()) }

// inMountNS returns the pids of the processes in the mount namespace
// want (as /proc/PID/ns/mnt reads).
func inMountNS(want string) []int {
	if want == "" {
		return nil
	}
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var p int
		if _, err := fmt.Sscanf(e.Name(), "%d", &p); err != nil {
			continue
		}
		if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", p)); err == nil && ns == want {
			pids = append(pids, p)
		}
	}
	return pids
}

// inNode returns path as seen in the daemon's mount namespace.
func (n *criNode) inNode(path string) string {
	return fmt.Sprintf("/proc/%d/root%s", n.daemon.Process.Pid, path)
}

// ctx is a context for one CRI call.
func (n *criNode) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	n.t.Cleanup(cancel)
	return ctx
}

// importImage imports an OCI archive of the test's busybox into the CRI
// plugin's namespace (k8s.io) with ctr, which containerd's CRI plugin
// then lists.
func (n *criNode) importImage(name string, cmd []string) {
	n.t.Helper()
	archive := filepath.Join(n.dir, strings.NewReplacer("/", "_", ":", "_").Replace(name)+".tar")
	if err := os.WriteFile(archive, ociArchiveCmd(n.t, name, busyboxRootfs(n.t), cmd), 0o644); err != nil {
		n.t.Fatal(err)
	}
	if out, err := exec.Command("ctr", "--address", n.addr, "--namespace", "k8s.io", "images", "import", archive).CombinedOutput(); err != nil {
		n.t.Fatalf("ctr images import %s: %v\n%s", name, err, out)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		st, err := n.img.ImageStatus(n.ctx(), &cri.ImageStatusRequest{Image: &cri.ImageSpec{Image: name}})
		if err == nil && st.Image != nil {
			return
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("the CRI plugin does not list %s: %v", name, err)
		}
	}
}

// nsOf returns the namespaces of a process, by kind.
func nsOf(t *testing.T, pid int) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, k := range []string{"mnt", "pid", "ipc", "uts", "net", "cgroup"} {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, k))
		if err != nil {
			t.Fatalf("namespaces of %d: %v", pid, err)
		}
		m[k] = l
	}
	return m
}

// containerPid returns the pid containerd's CRI plugin reports for a
// container (its verbose status's info).
func (n *criNode) containerPid(id string) int {
	n.t.Helper()
	st, err := n.rt.ContainerStatus(n.ctx(), &cri.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if err != nil {
		n.t.Fatal(err)
	}
	var info struct {
		Pid int `json:"pid"`
	}
	if err := json.Unmarshal([]byte(st.Info["info"]), &info); err != nil || info.Pid <= 1 {
		n.t.Fatalf("container %s's status info: %q, %v", id, st.Info["info"], err)
	}
	return info.Pid
}

// procTreeHasCellInit reports whether pid or one of its ancestors up to
// the shim is cell's init.
func procTreeHasCellInit(pid int) (string, bool) {
	var seen []string
	for p := pid; p > 1; {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", p))
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		seen = append(seen, fmt.Sprintf("%d %s %q", p, exe, cmdline))
		if strings.HasPrefix(filepath.Base(strings.TrimSuffix(exe, " (deleted)")), "cell-init") ||
			strings.HasPrefix(filepath.Base(strings.SplitN(string(cmdline), "\x00", 2)[0]), "cell-init") {
			return strings.Join(seen, "; "), true
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			break
		}
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if _, err := fmt.Sscanf(f[1], "%d", &p); err != nil {
			break
		}
	}
	return strings.Join(seen, "; "), false
}

// TestCRI drives containerd's CRI plugin the way a kubelet does, over its
// gRPC socket (k8s.io/cri-api's runtime v1), with README's containerd
// example: pods whose RuntimeHandler is the example's runtime, whose
// sandbox (pause) container and containers are cell-oci's, one on the
// node's network and one on a pod network of the node's bridge (CNI).
func TestCRI(t *testing.T) {
	testenv.Root(t)
	bin := buildRuntime(t)
	hostMounts := mountPoints(t, "/proc/self/mountinfo")
	n := newCRINode(t, bin)
	nodeMounts := mountPoints(t, fmt.Sprintf("/proc/%d/mountinfo", n.daemon.Process.Pid))
	n.importImage(criPause, []string{"sleep", "2147483647"})
	n.importImage(criImage, []string{"sh"})
	for _, hostNet := range []bool{true, false} {
		name := map[bool]string{true: "host network", false: "pod network"}[hostNet]
		t.Run(name, func(t *testing.T) {
			criPod(t, n, bin, hostNet)
			// The pod's removal leaves the node's mounts and the
			// host's as they were.
			if got := mountPoints(t, fmt.Sprintf("/proc/%d/mountinfo", n.daemon.Process.Pid)); !sameStrings(got, nodeMounts) {
				t.Errorf("the node's mounts after RemovePodSandbox differ:\nbefore %v\nafter  %v", nodeMounts, got)
			}
			if got := mountPoints(t, "/proc/self/mountinfo"); !sameStrings(got, hostMounts) {
				t.Errorf("the host's mounts changed:\nbefore %v\nafter  %v", hostMounts, got)
			}
		})
	}
	for _, line := range strings.Split(readLog(t, n), "\n") {
		if strings.Contains(line, "cell-oci: error") {
			t.Errorf("the shim ran cell-oci and it failed: %s", line)
		}
	}
}

// criPod runs a pod on the node: its sandbox, a long-running container
// that ExecSync runs commands in, and one that exits 7; then stops and
// removes it and checks that nothing of it is left.
func criPod(t *testing.T, n *criNode, bin string, hostNet bool) {
	parent := "/" + criCgroupParent()
	ns := &cri.NamespaceOption{Network: cri.NamespaceMode_POD, Pid: cri.NamespaceMode_CONTAINER, Ipc: cri.NamespaceMode_POD}
	hostname := "cell-pod"
	if hostNet {
		// A kubelet gives a host-network pod no hostname.
		ns.Network, hostname = cri.NamespaceMode_NODE, ""
	}
	podCfg := &cri.PodSandboxConfig{
		Metadata:     &cri.PodSandboxMetadata{Name: "cell-pod", Uid: fmt.Sprintf("cell-pod-%d-%t", os.Getpid(), hostNet), Namespace: "default"},
		Hostname:     hostname,
		LogDirectory: filepath.Join(n.dir, "logs", fmt.Sprint(hostNet)),
		Labels:       map[string]string{"app": "cell"},
		Linux: &cri.LinuxPodSandboxConfig{
			CgroupParent:    parent,
			SecurityContext: &cri.LinuxSandboxSecurityContext{NamespaceOptions: ns},
		},
	}
	pod, err := n.rt.RunPodSandbox(n.ctx(), &cri.RunPodSandboxRequest{Config: podCfg, RuntimeHandler: n.handler})
	if err != nil {
		t.Fatalf("RunPodSandbox with handler %q: %v", n.handler, err)
	}
	podID := pod.PodSandboxId
	t.Cleanup(func() {
		// A failure's leftovers: the sandbox and its containers.
		_, _ = n.rt.StopPodSandbox(context.Background(), &cri.StopPodSandboxRequest{PodSandboxId: podID})
		_, _ = n.rt.RemovePodSandbox(context.Background(), &cri.RemovePodSandboxRequest{PodSandboxId: podID})
	})
	pst, err := n.rt.PodSandboxStatus(n.ctx(), &cri.PodSandboxStatusRequest{PodSandboxId: podID, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	if pst.Status.State != cri.PodSandboxState_SANDBOX_READY || pst.Status.RuntimeHandler != n.handler {
		t.Errorf("PodSandboxStatus: %v, handler %q; want ready, %q", pst.Status.State, pst.Status.RuntimeHandler, n.handler)
	}
	podIP := pst.Status.GetNetwork().GetIp()
	if !hostNet && !strings.HasPrefix(podIP, criSubnetPrefix) {
		t.Errorf("PodSandboxStatus: pod IP %q, want one of %s0/24", podIP, criSubnetPrefix)
	}
	var podInfo struct {
		Pid int `json:"pid"`
	}
	if err := json.Unmarshal([]byte(pst.Info["info"]), &podInfo); err != nil || podInfo.Pid <= 1 {
		t.Fatalf("PodSandboxStatus info: %q, %v", pst.Info["info"], err)
	}

	create := func(name string, cmd []string) string {
		t.Helper()
		c, err := n.rt.CreateContainer(n.ctx(), &cri.CreateContainerRequest{
			PodSandboxId: podID, SandboxConfig: podCfg,
			Config: &cri.ContainerConfig{
				Metadata: &cri.ContainerMetadata{Name: name},
				Image:    &cri.ImageSpec{Image: criImage},
				Command:  cmd,
				Envs:     []*cri.KeyValue{{Key: "CELL_CRI", Value: []byte(name)}},
				LogPath:  name + ".log",
				// As a kubelet does, the container's namespace
				// options are its pod's.
				Linux: &cri.LinuxContainerConfig{
					Resources:       &cri.LinuxContainerResources{OomScoreAdj: 500},
					SecurityContext: &cri.LinuxContainerSecurityContext{NamespaceOptions: podCfg.Linux.SecurityContext.NamespaceOptions},
				},
			},
		})
		if err != nil {
			t.Fatalf("CreateContainer %s: %v", name, err)
		}
		if _, err := n.rt.StartContainer(n.ctx(), &cri.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
			t.Fatalf("StartContainer %s: %v", name, err)
		}
		return c.ContainerId
	}

	// A long-running container, and ExecSync in it: output and status.
	mainID := create("main", []string{"sleep", "300"})
	ex, err := n.rt.ExecSync(n.ctx(), &cri.ExecSyncRequest{ContainerId: mainID, Cmd: []string{"sh", "-c", "echo out $CELL_CRI; echo err >&2; exit 5"}, Timeout: 30})
	if err != nil {
		t.Fatalf("ExecSync: %v", err)
	}
	if ex.ExitCode != 5 || string(ex.Stdout) != "out main\n" || string(ex.Stderr) != "err\n" {
		t.Errorf("ExecSync: status %d, stdout %q, stderr %q; want 5, \"out main\\n\", \"err\\n\"", ex.ExitCode, ex.Stdout, ex.Stderr)
	}
	// The network is the node's (the daemon's namespace: only lo), or
	// the pod's: lo and the bridge's eth0 with the pod's IP; the
	// hostname the pod's.
	want := "lo\n500\n"
	if !hostNet {
		want = fmt.Sprintf("eth0\nlo\n500\ninet %s/24\n%s\n", podIP, hostname)
	}
	ex, err = n.rt.ExecSync(n.ctx(), &cri.ExecSyncRequest{ContainerId: mainID, Timeout: 30,
		Cmd: []string{"sh", "-c", "ls /sys/class/net; cat /proc/self/oom_score_adj; [ -e /sys/class/net/eth0 ] || exit 0; ip -4 -o addr show eth0 | grep -o 'inet [0-9./]*'; hostname"}})
	if err != nil || ex.ExitCode != 0 || string(ex.Stdout) != want {
		t.Errorf("ExecSync (network, oom_score_adj): %v, status %d, %q, %q; want %q", err, ex.GetExitCode(), ex.GetStdout(), ex.GetStderr(), want)
	}

	// /dev/shm is the pod's: containerd's shm directory of the sandbox,
	// bound over the default spec's tmpfs.
	ex, err = n.rt.ExecSync(n.ctx(), &cri.ExecSyncRequest{ContainerId: mainID, Cmd: []string{"sh", "-c", "echo shared > /dev/shm/cell"}, Timeout: 30})
	if err != nil || ex.ExitCode != 0 {
		t.Errorf("ExecSync (write /dev/shm): %v, status %d, %q", err, ex.GetExitCode(), ex.GetStderr())
	}
	shm := n.inNode(filepath.Join(n.dir, "state", "io.containerd.grpc.v1.cri", "sandboxes", podID, "shm", "cell"))
	if b, err := os.ReadFile(shm); err != nil || string(b) != "shared\n" {
		t.Errorf("the pod's shm: %q, %v; want what the container wrote in /dev/shm", b, err)
	}

	// The container's and the sandbox's processes are cell's, in cell's
	// sandboxes: namespaces of their own (the pod's IPC shared, the
	// node's network), cgroups under the pod's parent.
	pid := n.containerPid(mainID)
	self, ctr, sbx, node := nsOf(t, os.Getpid()), nsOf(t, pid), nsOf(t, podInfo.Pid), nsOf(t, n.daemon.Process.Pid)
	// A host-network pod has the node's hostname too: containerd leaves
	// the uts namespace out of the sandbox's config and gives the
	// containers the sandbox's, the node's. Another pod's network and
	// uts namespaces are its own, which the containers join.
	kinds := []string{"mnt", "pid", "ipc"}
	if !hostNet {
		kinds = append(kinds, "net", "uts")
	}
	for _, k := range kinds {
		if ctr[k] == self[k] || ctr[k] == node[k] {
			t.Errorf("the container's %s namespace is the host's or the node's (%s)", k, ctr[k])
		}
		if sbx[k] == self[k] || sbx[k] == node[k] {
			t.Errorf("the sandbox's %s namespace is the host's or the node's (%s)", k, sbx[k])
		}
	}
	for _, k := range kinds[2:] {
		if ctr[k] != sbx[k] {
			t.Errorf("the container's %s namespace %s is not its pod's %s", k, ctr[k], sbx[k])
		}
	}
	if ctr["pid"] == sbx["pid"] || ctr["mnt"] == sbx["mnt"] {
		t.Errorf("the container shares its sandbox's pid or mount namespace: %v %v", ctr, sbx)
	}
	for _, k := range []string{"net", "uts"} {
		if hostNet && (ctr[k] != node[k] || sbx[k] != node[k]) {
			t.Errorf("host network: the container's %s namespace %s, the sandbox's %s; want the node's %s", k, ctr[k], sbx[k], node[k])
		}
	}
	for _, p := range []int{pid, podInfo.Pid} {
		if tree, ok := procTreeHasCellInit(p); !ok {
			t.Errorf("process %d is not under cell's init: %s", p, tree)
		}
		if cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", p)); err != nil || !strings.Contains(string(cg), parent+"/") {
			t.Errorf("process %d's cgroups: %q, %v; want under %s", p, cg, err, parent)
		}
	}
	stateDir := n.inNode("/run/containerd/runc/k8s.io")
	if got := dirNames(stateDir); !contains(got, podID) || !contains(got, mainID) {
		t.Errorf("cell-oci's state (%s) holds %v; want the sandbox %s and the container %s", stateDir, got, podID, mainID)
	}
	// containerd passes its own annotations through (a pod's or a
	// container's reach the runtime only if the runtime's
	// pod_annotations or container_annotations name them).
	b, err := exec.Command(bin, "--root", stateDir, "state", mainID).Output()
	var state struct {
		Status      string            `json:"status"`
		Annotations map[string]string `json:"annotations"`
	}
	if err == nil {
		err = json.Unmarshal(b, &state)
	}
	if err != nil || state.Status != "running" || state.Annotations["io.kubernetes.cri.container-name"] != "main" || state.Annotations["io.kubernetes.cri.sandbox-id"] != podID {
		t.Errorf("cell-oci state %s: %s, %v; want it running with CRI's annotations", mainID, b, err)
	}
	// A container that exits with a known status: ContainerStatus shows it.
	exitID := create("exiter", []string{"sh", "-c", "echo bye; exit 7"})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		st, err := n.rt.ContainerStatus(n.ctx(), &cri.ContainerStatusRequest{ContainerId: exitID})
		if err != nil {
			t.Fatal(err)
		}
		if st.Status.State == cri.ContainerState_CONTAINER_EXITED {
			if st.Status.ExitCode != 7 {
				t.Errorf("ContainerStatus of exiter: exit code %d, want 7", st.Status.ExitCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("exiter did not exit in 30 s: %v", st.Status)
		}
	}
	if b, err := os.ReadFile(filepath.Join(podCfg.LogDirectory, "exiter.log")); err != nil || !strings.Contains(string(b), " stdout F bye\n") {
		t.Errorf("exiter's log: %q, %v; want its output", b, err)
	}

	// StopContainer, as a kubelet stops a container: SIGTERM, which
	// cell's init relays to the command (sleep, not its sandbox's pid 1,
	// so the signal is not ignored), then SIGKILL after the grace period.
	// 143, not 137: SIGTERM ended it, not the grace period's SIGKILL.
	if _, err := n.rt.StopContainer(n.ctx(), &cri.StopContainerRequest{ContainerId: mainID, Timeout: 20}); err != nil {
		t.Fatalf("StopContainer: %v", err)
	}
	if st, err := n.rt.ContainerStatus(n.ctx(), &cri.ContainerStatusRequest{ContainerId: mainID}); err != nil || st.Status.State != cri.ContainerState_CONTAINER_EXITED || st.Status.ExitCode != 143 {
		t.Errorf("ContainerStatus after StopContainer: %v, %v; want exited with 143 (SIGTERM)", st.GetStatus(), err)
	}

	// Stop and remove the pod: cell-oci's state, the containers' cgroups
	// and the node's mounts go with it.
	if _, err := n.rt.StopPodSandbox(n.ctx(), &cri.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatalf("StopPodSandbox: %v", err)
	}
	if _, err := n.rt.RemovePodSandbox(n.ctx(), &cri.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatalf("RemovePodSandbox: %v", err)
	}
	if got := dirNames(stateDir); len(got) != 0 {
		t.Errorf("cell-oci's state left after RemovePodSandbox: %v", got)
	}
	left := dirsOnly(append(globAll(filepath.Join("/sys/fs/cgroup", "*", criCgroupParent(), "*")), globAll(filepath.Join("/sys/fs/cgroup", criCgroupParent(), "*"))...))
	if len(left) > 0 {
		t.Errorf("cgroups left under the pods' parent after RemovePodSandbox: %v", left)
	}
}

func readLog(t *testing.T, n *criNode) string {
	b, err := os.ReadFile(filepath.Join(n.dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// mountPoints returns the mount points of a mountinfo file, sorted.
func mountPoints(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var mps []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if f := strings.Fields(line); len(f) > 4 {
			mps = append(mps, f[4])
		}
	}
	sort.Strings(mps)
	return mps
}

func sameStrings(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}

func dirNames(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func globAll(pattern string) []string {
	m, _ := filepath.Glob(pattern)
	return m
}

func dirsOnly(paths []string) []string {
	var dirs []string
	for _, p := range paths {
		if isDir(p) {
			dirs = append(dirs, p)
		}
	}
	return dirs
}
