package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/checkpoint-restore/go-criu/v7/rpc"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/cellsandbox/cell/internal/network/link"
	"github.com/cellsandbox/cell/launcher/plan"
)

// Restore brings a checkpoint's processes back.
type Restore struct {
	// Dir is the checkpoint, read and checked by Read into Manifest.
	Dir      string
	Manifest *Manifest
	// Plan is the checkpoint's plan (renamed): its root tmpfs is made
	// again as its step made it.
	Plan *plan.Plan
	// InitConn is the end of a new socket that replaces init's socket to
	// the cell that launched it; cell keeps the other end.
	InitConn *os.File
	// Stdio replace init's standard descriptors (pipes, sockets or a
	// terminal of the caller's); nil entries are /dev/null.
	Stdio [3]*os.File
	// Init is cell's init, the same file the checkpointed init ran
	// (its hash is checked against the manifest's).
	Init string
	// CgroupFD is the sandbox's cgroup leaf, -1 without one: criu starts
	// there, and the processes it restores with it.
	CgroupFD int
	// Root is an empty directory for CRIU to build the sandbox's mount
	// tree from.
	Root string
	CRIU *CRIU
}

// Restored is what a restore brought back.
type Restored struct {
	// Pid is the restored init's, a child of the caller.
	Pid int
	// Console is the new master of the command's pty, nil without one.
	Console *os.File
	// Micros is the restore's wall time, from the request to resumed
	// processes.
	Micros int64
}

// Run restores the processes. They start in CgroupFD's cgroup, in a new
// session keyring (not the caller's), as children of the calling
// process: the caller must lock its goroutine to its thread first and
// keep it until the sandbox ends (init's parent-death signal is that
// thread's).
func (r *Restore) Run() (*Restored, error) {
	m := r.Manifest
	init, err := os.Open(r.Init)
	if err != nil {
		return nil, fmt.Errorf("restore: cell's init: %w", err)
	}
	defer init.Close()
	if h, err := fileSHA(init); err != nil || h != m.External.InitSHA256 {
		return nil, fmt.Errorf("restore: %s is not the init the checkpoint ran (SHA-256 %s, want %s): restore with the cell that checkpointed it", r.Init, h, m.External.InitSHA256)
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer null.Close()
	img, err := os.Open(filepath.Join(r.Dir, m.Images))
	if err != nil {
		return nil, err
	}
	defer img.Close()
	work, err := os.MkdirTemp("", "cell-restore-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	wd, err := os.Open(work)
	if err != nil {
		return nil, err
	}
	defer wd.Close()

	// criu's descriptors: 3 is the RPC socket, Files from 4 on.
	var files []*os.File
	var inherit []*rpc.InheritFd
	give := func(key string, f *os.File) {
		inherit = append(inherit, &rpc.InheritFd{Key: proto.String(key), Fd: proto.Int32(int32(4 + len(files)))})
		files = append(files, f)
	}
	give(m.External.InitSocket, r.InitConn)
	give(m.External.Init, init)
	seen := map[string]bool{}
	for fd, key := range m.External.Stdio {
		if key == "" || seen[key] {
			continue
		}
		seen[key] = true
		f := r.Stdio[fd]
		if k, ok := strings.CutPrefix(key, "null:"); ok {
			key, f = k, null
		}
		if f == nil {
			f = null
		}
		give(key, f)
	}
	opts := &rpc.CriuOpts{
		ImagesDirFd:    proto.Int32(int32(img.Fd())),
		WorkDirFd:      proto.Int32(int32(wd.Fd())),
		LogFile:        proto.String("restore.log"),
		LogLevel:       proto.Int32(4),
		ShellJob:       proto.Bool(true),
		RstSibling:     proto.Bool(true),
		EmptyNs:        proto.Uint32(unix.CLONE_NEWNET),
		TcpEstablished: proto.Bool(true),
		// CRIU locks the network with nftables (the cell's own namespace
		// only), not iptables, which a host may not have.
		NetworkLock:       rpc.CriuNetworkLockMethod_NFTABLES.Enum(),
		FileLocks:         proto.Bool(true),
		AutoExtMnt:        proto.Bool(true),
		ExtSharing:        proto.Bool(true),
		ExtMasters:        proto.Bool(true),
		ManageCgroupsMode: rpc.CriuCgMode_IGNORE.Enum(),
		OrphanPtsMaster:   proto.Bool(m.External.Console),
		InheritFd:         inherit,
		Root:              proto.String(r.Root),
		// CRIU 3.17's new mount engine (mount-v2) fails to clone the
		// host's directories that hold mounts of their own (open_tree:
		// EINVAL); the first engine binds them.
		MntnsCompatMode: proto.Bool(true),
	}
	out := &Restored{}
	veth := "" // the host end of a veth made here
	notify := func(n *rpc.CriuNotify, fds []int) error {
		switch n.GetScript() {
		case "setup-namespaces":
			// The network namespace is new and empty: the veth and the
			// plan's network steps in it, as the launch made them.
			closeAll(fds)
			var err error
			veth, err = setupNetwork(int(n.GetPid()), r.Plan, m.Network)
			return err
		case "orphan-pts-master":
			if len(fds) != 1 {
				closeAll(fds)
				return fmt.Errorf("criu sent %d descriptors for the pty's master, want 1", len(fds))
			}
			out.Console = os.NewFile(uintptr(fds[0]), "console")
			return nil
		}
		closeAll(fds)
		return nil
	}
	// The restored processes would otherwise share this process's
	// session keyring (the plan gives init a new one).
	if _, _, errno := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0); errno != 0 {
		return nil, fmt.Errorf("restore: keyctl(KEYCTL_JOIN_SESSION_KEYRING): %w", errno)
	}
	if err := MountRoot(r.Plan, r.Root, filepath.Join(r.Dir, RootFile)); err != nil {
		return nil, fmt.Errorf("restore: the sandbox's root: %w", err)
	}
	// CRIU has bound it into the sandbox's mount namespace (or failed):
	// this namespace's mount goes, the sandbox's stays.
	defer unix.Unmount(r.Root, unix.MNT_DETACH)
	start := time.Now()
	resp, err := r.CRIU.Do(Call{Type: rpc.CriuReqType_RESTORE, Opts: opts, Files: files, CgroupFD: r.CgroupFD, Notify: notify})
	out.Micros = time.Since(start).Microseconds()
	if err != nil {
		if out.Console != nil {
			out.Console.Close()
		}
		if veth != "" {
			// It goes with the namespace CRIU made, whose processes
			// CRIU killed; the kernel may not have torn it down yet.
			if derr := link.Delete(veth); derr != nil {
				err = errors.Join(err, derr)
			}
		}
		if log := ErrorLines(filepath.Join(work, "restore.log")); log != "" && !strings.Contains(err.Error(), log) {
			err = fmt.Errorf("%w: %s", err, log)
		}
		return nil, fmt.Errorf("restore %s: %w", r.Dir, err)
	}
	out.Pid = int(resp.GetRestore().GetPid())
	if out.Pid <= 0 {
		return nil, errors.New("restore: criu named no restored process")
	}
	return out, nil
}

// Rename returns p as the plan of a sandbox named name: its cgroup
// directories follow, and a bridged network's lease, host rules (their
// owner, the comment cleanup deletes them by) and veth, which are the
// sandbox's by name.
func Rename(p *plan.Plan, name string) *plan.Plan {
	q := *p
	if name == "" || name == p.Name {
		return &q
	}
	old := p.Name
	sub := func(s string) string {
		return replaceLeaf(s, old, name)
	}
	q.Name = name
	q.Steps = append([]plan.Step(nil), p.Steps...)
	q.Cleanup = append([]plan.Step(nil), p.Cleanup...)
	// The actions are pointers: a renamed one is a new value, so that p
	// stays as Read returned it.
	for _, ss := range [][]plan.Step{q.Steps, q.Cleanup} {
		for i := range ss {
			switch a := ss[i].Do.(type) {
			case *plan.CgroupMkdir:
				ss[i].Do = &plan.CgroupMkdir{Dir: sub(a.Dir)}
			case *plan.CgroupWrite:
				b := *a
				b.File = sub(a.File)
				ss[i].Do = &b
			case *plan.CgroupDevices:
				b := *a
				b.Dir = sub(a.Dir)
				ss[i].Do = &b
			case *plan.CgroupJoin:
				b := *a
				b.Dir = sub(a.Dir)
				ss[i].Do = &b
			case *plan.CgroupKill:
				ss[i].Do = &plan.CgroupKill{Dir: sub(a.Dir)}
			case *plan.CgroupRemove:
				ss[i].Do = &plan.CgroupRemove{Dir: sub(a.Dir)}
			case *plan.Clone:
				b := *a
				b.Cgroup = sub(a.Cgroup)
				ss[i].Do = &b
			case *plan.NetLease:
				b := *a
				b.Sandbox = name
				ss[i].Do = &b
			case *plan.LeaseRelease:
				b := *a
				b.Sandbox = name
				ss[i].Do = &b
			case *plan.Nft:
				if a.Rule.Owner == old {
					b := *a
					b.Rule.Owner = name
					ss[i].Do = &b
				}
			case *plan.NftDelete:
				if a.Owner == old {
					b := *a
					b.Owner = name
					ss[i].Do = &b
				}
			case *plan.Veth:
				b := *a
				b.Host = vethOf(a, old, name)
				ss[i].Do = &b
			}
		}
	}
	if p.Cgroup != nil {
		g := *p.Cgroup
		g.Unified = sub(g.Unified)
		if g.V1 != nil {
			g.V1 = map[string]string{}
			for k, v := range p.Cgroup.V1 {
				g.V1[k] = sub(v)
			}
		}
		q.Cgroup = &g
	}
	return &q
}

// replaceLeaf replaces the path element old (the sandbox's name) with
// name; a path without it is returned as it is.
func replaceLeaf(p, old, name string) string {
	parts := strings.Split(p, "/")
	for i, e := range parts {
		if e == old {
			parts[i] = name
		}
	}
	return strings.Join(parts, "/")
}
