package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/checkpoint-restore/go-criu/v7/rpc"
	"github.com/checkpoint-restore/go-criu/v7/stats"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/cellsandbox/cell/internal/state"
	"github.com/cellsandbox/cell/launcher/plan"
)

// Origin is what a running sandbox was built from (state.Origin).
type Origin = state.Origin

// Dump says what to checkpoint and how.
type Dump struct {
	// Name and InitPid are the running sandbox's.
	Name    string
	InitPid int
	Origin  Origin
	// Dir is the checkpoint directory: made when missing, else it must
	// hold nothing but earlier pre-dumps of cell's.
	Dir string
	// LeaveRunning keeps the sandbox running after the dump (else CRIU
	// ends it once its images are written).
	LeaveRunning bool
	// PreDump writes only memory, tracking what changes after it, into
	// Dir/pre/N, for a later dump to write only what changed.
	PreDump bool
	CRIU    *CRIU
}

// predumps lists the pre-dumps in dir, oldest first.
func predumps(dir string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(dir, "pre"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ns []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil || !e.IsDir() || n < 1 {
			return nil, fmt.Errorf("%s: not a pre-dump of cell's", filepath.Join(dir, "pre", e.Name()))
		}
		ns = append(ns, n)
	}
	sort.Ints(ns)
	var out []string
	for _, n := range ns {
		out = append(out, filepath.Join("pre", strconv.Itoa(n)))
	}
	return out, nil
}

// Run checkpoints the sandbox. What it wrote is removed again when it
// fails, and Dir too when Run made it; a failed pre-dump leaves the
// earlier ones.
func (d *Dump) Run() (m *Manifest, err error) {
	var p plan.Plan
	if err := json.Unmarshal(d.Origin.Plan, &p); err != nil {
		return nil, fmt.Errorf("sandbox %s: its plan: %w", d.Name, err)
	}
	if bl := Blockers(&p); len(bl) > 0 {
		return nil, &BlockedError{Name: d.Name, Reasons: bl}
	}
	made := false
	if err := os.Mkdir(d.Dir, 0o700); err == nil {
		made = true
	} else if !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("checkpoint directory: %w", err)
	}
	var written []string // what to remove on failure
	defer func() {
		if err == nil {
			return
		}
		for i := len(written) - 1; i >= 0; i-- {
			os.RemoveAll(written[i])
		}
		if made {
			os.RemoveAll(d.Dir)
		}
	}()
	ents, err := os.ReadDir(d.Dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint directory: %w", err)
	}
	for _, e := range ents {
		if e.Name() != "pre" {
			// The final dump after pre-dumps writes images/ and the rest.
			return nil, fmt.Errorf("checkpoint directory %s: holds %s: give an empty or new directory (or one with pre-dumps only)", d.Dir, e.Name())
		}
	}
	pres, err := predumps(d.Dir)
	if err != nil {
		return nil, err
	}
	images := "images"
	if d.PreDump {
		if _, err := os.Stat(filepath.Join(d.Dir, "pre")); errors.Is(err, os.ErrNotExist) {
			if err := os.Mkdir(filepath.Join(d.Dir, "pre"), 0o700); err != nil {
				return nil, err
			}
			written = append(written, filepath.Join(d.Dir, "pre"))
		}
		images = filepath.Join("pre", strconv.Itoa(len(pres)+1))
	}
	imgDir := filepath.Join(d.Dir, images)
	if err := os.Mkdir(imgDir, 0o700); err != nil {
		return nil, fmt.Errorf("checkpoint directory: %w", err)
	}
	written = append(written, imgDir)

	if !d.PreDump {
		if _, err := rootStep(&p); err != nil {
			return nil, &BlockedError{Name: d.Name, Reasons: []string{err.Error()}}
		}
	}
	if bl := nestedBinds(&p); len(bl) > 0 {
		return nil, &BlockedError{Name: d.Name, Reasons: bl}
	}
	ext, externals, err := externalsOf(d.InitPid, &p)
	if err != nil {
		return nil, fmt.Errorf("sandbox %s: %w", d.Name, err)
	}
	// Read before the dump, which may end the sandbox and its namespace.
	nw, err := networkOf(d.InitPid, &p)
	if err != nil {
		return nil, fmt.Errorf("sandbox %s: %w", d.Name, err)
	}
	img, err := os.Open(imgDir)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	opts := &rpc.CriuOpts{
		ImagesDirFd: proto.Int32(int32(img.Fd())),
		Pid:         proto.Int32(int32(d.InitPid)),
		LogFile:     proto.String("dump.log"),
		LogLevel:    proto.Int32(4),
		// init shares cell's session and process group.
		ShellJob: proto.Bool(true),
		// The network namespace has lo and, bridged, the sandbox's end
		// of a veth whose peer is on the host's bridge (Blockers refuses
		// the rest): CRIU leaves it out, and a restore's namespace is
		// new and empty, where cell makes the veth again and runs the
		// plan's network steps at setup-namespaces, as a launch does
		// (Network keeps the address and MAC). CRIU's own netns dump
		// would need iproute2's ip save/restore on both hosts and would
		// make the veth from inside the sandbox's user namespace.
		EmptyNs:        proto.Uint32(unix.CLONE_NEWNET),
		TcpEstablished: proto.Bool(true),
		// CRIU locks the network with nftables (the cell's own namespace
		// only), not iptables, which a host may not have.
		NetworkLock: rpc.CriuNetworkLockMethod_NFTABLES.Enum(),
		FileLocks:   proto.Bool(true),
		// Binds of the host's directories are the host's mounts: CRIU
		// finds them in its own mount namespace and binds them again.
		AutoExtMnt: proto.Bool(true),
		ExtSharing: proto.Bool(true),
		ExtMasters: proto.Bool(true),
		External:   externals,
		// cell makes the cgroup itself, from the plan.
		ManageCgroupsMode: rpc.CriuCgMode_IGNORE.Enum(),
		OrphanPtsMaster:   proto.Bool(ext.Console),
		LeaveRunning:      proto.Bool(d.LeaveRunning || d.PreDump),
	}
	if len(pres) > 0 {
		// Relative to the images directory.
		opts.ParentImg = proto.String(filepath.Join("..", "..", pres[len(pres)-1]))
		if !d.PreDump {
			opts.ParentImg = proto.String(filepath.Join("..", pres[len(pres)-1]))
		}
		// CRIU takes a page from the parent only with memory tracking
		// on in this dump too (else it writes every page again).
		opts.TrackMem = proto.Bool(true)
	}
	typ := rpc.CriuReqType_DUMP
	if d.PreDump {
		typ = rpc.CriuReqType_PRE_DUMP
		opts.TrackMem = proto.Bool(true)
	}
	version, err := d.CRIU.Version()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if !d.PreDump {
		// Before CRIU's dump, which may end the sandbox; the processes
		// cannot change the root (it is read-only, or theirs to write
		// only through the paths the archive reads) between the two
		// without the dump showing it.
		written = append(written, filepath.Join(d.Dir, RootFile))
		if err := saveRoot(d.InitPid, filepath.Join(d.Dir, RootFile)); err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", d.Name, err)
		}
	}
	_, err = d.CRIU.Do(Call{Type: typ, Opts: opts, CgroupFD: -1})
	took := time.Since(start)
	if err != nil {
		if log := ErrorLines(filepath.Join(imgDir, "dump.log")); log != "" && !strings.Contains(err.Error(), log) {
			err = fmt.Errorf("%w: %s", err, log)
		}
		return nil, fmt.Errorf("checkpoint %s: %w", d.Name, err)
	}
	st := DumpStats{Micros: took.Microseconds()}
	if ds, err := stats.CriuGetDumpStats(img); err == nil {
		st.FrozenMicros, st.PagesWritten, st.PagesSkipped = ds.GetFrozenTime(), ds.GetPagesWritten(), ds.GetPagesSkippedParent()
	}
	if d.PreDump {
		// A pre-dump has no manifest of its own: the final dump's
		// covers it. Its stats are in its images (stats-dump).
		return &Manifest{Images: images, Dump: st, CRIU: version}, nil
	}
	m = &Manifest{
		Format: Format, Name: d.Name, Created: time.Now().UTC(),
		Profile: d.Origin.Profile, ProfileSHA256: sha(d.Origin.Profile),
		Plan: d.Origin.Plan, PlanSHA256: sha(d.Origin.Plan),
		Host: hostFacts(), CRIU: version, Images: images, PreDumps: pres,
		External: *ext, Network: nw, LeftRunning: d.LeaveRunning, Dump: st,
	}
	if m.Files, err = hashFiles(d.Dir); err != nil {
		return nil, err
	}
	if err := writeManifest(d.Dir, m); err != nil {
		return nil, err
	}
	return m, nil
}

// externalsOf finds what init holds of the world outside the sandbox:
// its socket to cell, its standard descriptors and its executable (cell's
// init, on the host's root, which the sandbox has detached).
func externalsOf(pid int, p *plan.Plan) (*External, []string, error) {
	ext := &External{}
	var externals []string
	sockFD := -1
	for i := range p.Steps {
		switch a := p.Steps[i].Do.(type) {
		case *plan.ExecInit:
			if len(a.Args) >= 2 {
				sockFD, _ = strconv.Atoi(a.Args[1])
			}
		case *plan.Console:
			ext.Console = true
		}
	}
	if sockFD < 3 {
		return nil, nil, errors.New("the plan names no socket for init")
	}
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, sockFD))
	if err != nil {
		return nil, nil, fmt.Errorf("init's socket: %w", err)
	}
	ino, ok := strings.CutPrefix(link, "socket:[")
	if !ok {
		return nil, nil, fmt.Errorf("init's descriptor %d is %s, not its socket", sockFD, link)
	}
	ext.InitSocket, ext.InitSocketFD = link, sockFD
	externals = append(externals, "unix["+strings.TrimSuffix(ino, "]")+"]")
	for fd := 0; fd < 3; fd++ {
		path := fmt.Sprintf("/proc/%d/fd/%d", pid, fd)
		link, err := os.Readlink(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("init's descriptor %d: %w", fd, err)
		}
		var st unix.Stat_t
		if err := unix.Stat(path, &st); err != nil {
			return nil, nil, fmt.Errorf("init's descriptor %d: %w", fd, err)
		}
		switch {
		case strings.HasPrefix(link, "pipe:["):
			ext.Stdio[fd] = link
		case strings.HasPrefix(link, "socket:["):
			ext.Stdio[fd] = link
			externals = append(externals, "unix["+strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")+"]")
		case st.Mode&unix.S_IFMT == unix.S_IFCHR && isTTY(st.Rdev):
			key := fmt.Sprintf("tty[%x:%x]", st.Rdev, st.Dev)
			ext.Stdio[fd] = key
			externals = append(externals, key)
		case st.Mode&unix.S_IFMT == unix.S_IFCHR && unix.Major(st.Rdev) == 1 && unix.Minor(st.Rdev) == 3:
			// /dev/null: a restore gives /dev/null again.
			key, err := fileKey(pid, fd, &st)
			if err != nil {
				return nil, nil, err
			}
			ext.Stdio[fd] = "null:" + key
			externals = append(externals, key)
		default:
			return nil, nil, fmt.Errorf("init's descriptor %d is %s, a file of the host that a restore could not hand back: give the sandbox pipes, a terminal or /dev/null", fd, link)
		}
	}
	// init's executable, on the detached host root.
	var st unix.Stat_t
	exe := fmt.Sprintf("/proc/%d/exe", pid)
	if err := unix.Stat(exe, &st); err != nil {
		return nil, nil, fmt.Errorf("init's executable: %w", err)
	}
	f, err := os.Open(exe)
	if err != nil {
		return nil, nil, fmt.Errorf("init's executable: %w", err)
	}
	defer f.Close()
	mnt, err := mountID(fmt.Sprintf("/proc/self/fdinfo/%d", f.Fd()))
	if err != nil {
		return nil, nil, err
	}
	key := fmt.Sprintf("file[%x:%x]", mnt, st.Ino)
	externals = append(externals, key)
	ext.Init = key
	ext.InitSHA256, err = fileSHA(f)
	if err != nil {
		return nil, nil, err
	}
	return ext, externals, nil
}

// fileKey is CRIU's key of an external file: file[MNT_ID:INODE].
func fileKey(pid, fd int, st *unix.Stat_t) (string, error) {
	mnt, err := mountID(fmt.Sprintf("/proc/%d/fdinfo/%d", pid, fd))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("file[%x:%x]", mnt, st.Ino), nil
}

func mountID(fdinfo string) (int, error) {
	b, err := os.ReadFile(fdinfo)
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "mnt_id:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("%s: no mnt_id", fdinfo)
}

// isTTY reports whether a character device is a terminal: a pty slave
// (Unix98, majors 136-143), a virtual console or serial line (4), or
// /dev/tty and /dev/console (5).
func isTTY(rdev uint64) bool {
	m := unix.Major(rdev)
	return m >= 136 && m <= 143 || m == 4 || m == 5 && unix.Minor(rdev) <= 1
}

// nestedBinds returns the plan's binds of host directories that hold
// mounts of their own on this host. CRIU binds a mount and its children
// one by one; in the sandbox's user namespace the host's child mounts are
// locked to their parent, and the bind of the parent alone fails
// (EINVAL), so such a sandbox could be dumped but never restored.
func nestedBinds(p *plan.Plan) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var points []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 {
			points = append(points, f[4])
		}
	}
	var out []string
	for i := range p.Steps {
		s := &p.Steps[i]
		b, ok := s.Do.(*plan.Bind)
		if !ok || b.Source == "" {
			continue
		}
		src := strings.TrimPrefix(b.Source, "/oldroot")
		for _, m := range points {
			if strings.HasPrefix(m, strings.TrimSuffix(src, "/")+"/") {
				out = append(out, fmt.Sprintf("step %d (%s, %s): the bind of %s holds the mount %s: CRIU 3.17 restores a bind's submounts one by one, which the sandbox's user namespace forbids (EINVAL); bind the directories below it instead", i+1, s.Op(), s.Pos, src, m))
				break
			}
		}
	}
	return out
}
