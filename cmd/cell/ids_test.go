package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cellsandbox/cell/internal/ids"
	"github.com/cellsandbox/cell/internal/ids/slots"
	"github.com/cellsandbox/cell/internal/state"
)

// idRange is a line of /proc/PID/uid_map: inside, outside, count.
type idRange struct{ in, out, n uint64 }

func parseIDMap(t *testing.T, text string) []idRange {
	t.Helper()
	var out []idRange
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		var r idRange
		if _, err := fmt.Sscan(line, &r.in, &r.out, &r.n); err != nil {
			t.Fatalf("id map line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// hostSubIDs returns every range of /etc/subuid and /etc/subgid.
func hostSubIDs(t *testing.T) []idRange {
	t.Helper()
	var out []idRange
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			var r idRange
			if fl := strings.Split(line, ":"); len(fl) == 3 {
				if _, err := fmt.Sscan(fl[1]+" "+fl[2], &r.out, &r.n); err == nil {
					out = append(out, r)
				}
			}
		}
	}
	return out
}

func overlapping(a, b idRange) bool { return a.out < b.out+b.n && b.out < a.out+a.n }

// TestPickConcurrent starts 50 build-worker sandboxes at once (outside:
// pick) and, while all of them run, has each print its uid_map and
// gid_map from inside: every sandbox holds a slot of 65536 IDs of its
// own, none overlaps another's or a subordinate range of /etc/subuid or
// /etc/subgid, and every lease is gone when they have ended.
func TestPickConcurrent(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	parent := cgroupParent(t)
	// The sandboxes' root is a leased ID: the bound directory must be
	// reachable by others.
	work := t.TempDir()
	for _, d := range []string{work, filepath.Dir(work)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const n = 50
	prefix := fmt.Sprintf("pick-%d-", os.Getpid())
	type sandbox struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
		out   strings.Builder
		errb  strings.Builder
		maps  chan struct{} // closed once both maps are printed
	}
	boxes := make([]*sandbox, n)
	var wg sync.WaitGroup
	for i := range boxes {
		b := &sandbox{maps: make(chan struct{})}
		boxes[i] = b
		// Each prints its maps, then waits on its stdin, which the test
		// closes once every sandbox has printed: they all run at once.
		b.cmd = cellCmd(t, "run", "-p", "build-worker", "-T", "--name", fmt.Sprintf("%s%d", prefix, i),
			"--set", "resources.parent="+parent, "--set", "resources.memory={max: 64Mi, swap: 0}",
			"--", "sh", "-c", "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; echo end; read x || true")
		b.cmd.Dir = work
		b.cmd.Env = append(b.cmd.Env, "PWD="+work)
		var err error
		if b.stdin, err = b.cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		stdout, err := b.cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		b.cmd.Stderr = &syncWriter{b: &b.errb}
		if err := b.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.cmd.Process.Kill() })
		wg.Go(func() {
			sc := bufio.NewScanner(stdout)
			closed := false
			for sc.Scan() {
				b.out.WriteString(sc.Text() + "\n")
				if sc.Text() == "end" && !closed {
					close(b.maps)
					closed = true
				}
			}
			if !closed {
				close(b.maps)
			}
		})
	}
	for _, b := range boxes {
		<-b.maps
	}
	// All 50 run now: the lease file holds a lease of each.
	leases, err := slots.Leases(ids.LeaseFile)
	if err != nil {
		t.Fatal(err)
	}
	held := 0
	for _, h := range leases {
		if strings.HasPrefix(h.Owner, prefix) {
			held++
		}
	}
	if held != n {
		t.Errorf("%d leases of this test's sandboxes while all %d run", held, n)
	}
	for _, b := range boxes {
		b.stdin.Close()
	}
	wg.Wait()
	subs := hostSubIDs(t)
	var taken []idRange
	for i, b := range boxes {
		err := b.cmd.Wait()
		text := b.out.String()
		uidText, rest, ok := strings.Cut(text, "--\n")
		gidText, _, ok2 := strings.Cut(rest, "end\n")
		if err != nil || !ok || !ok2 {
			t.Errorf("sandbox %d: %v; stdout %q stderr %q", i, err, text, b.errb.String())
			continue
		}
		uids, gids := parseIDMap(t, uidText), parseIDMap(t, gidText)
		if len(uids) != 1 || uids[0].in != 0 || uids[0].n != ids.SlotSize || len(gids) != 1 || gids[0] != uids[0] {
			t.Errorf("sandbox %d maps uids %v, gids %v; want one slot of %d, the same for both", i, uids, gids, ids.SlotSize)
			continue
		}
		r := uids[0]
		for j, o := range taken {
			if overlapping(r, o) {
				t.Errorf("sandbox %d's IDs %d-%d overlap another's (%d: %d-%d)", i, r.out, r.out+r.n-1, j, o.out, o.out+o.n-1)
			}
		}
		for _, s := range subs {
			if overlapping(r, s) {
				t.Errorf("sandbox %d's IDs %d-%d overlap the subordinate range %d-%d", i, r.out, r.out+r.n-1, s.out, s.out+s.n-1)
			}
		}
		if r.out == 0 || r.out <= 100000+65536 {
			t.Errorf("sandbox %d runs as host IDs %d-%d", i, r.out, r.out+r.n-1)
		}
		taken = append(taken, r)
	}
	leases, _ = slots.Leases(ids.LeaseFile)
	for _, h := range leases {
		if strings.HasPrefix(h.Owner, prefix) {
			t.Errorf("lease of %s left after its end: %+v", h.Owner, h)
		}
	}
}

// syncWriter lets the exec package's copying goroutine write a builder.
type syncWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// TestPickGC SIGKILLs the cell of a build-worker sandbox: its ID lease
// stays behind, and cell gc takes it back once the sandbox is gone.
func TestPickGC(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	parent := cgroupParent(t)
	work := t.TempDir()
	for _, d := range []string{work, filepath.Dir(work)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	name := fmt.Sprintf("pickgc-%d", os.Getpid())
	cmd := cellCmd(t, "run", "-p", "build-worker", "-T", "--name", name, "--set", "resources.parent="+parent,
		"--", "sh", "-c", "echo up; exec sleep 600")
	cmd.Dir = work
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "up\n" {
		t.Fatalf("sandbox did not start: %q", line)
	}
	mine := func() []slots.Holder {
		leases, err := slots.Leases(ids.LeaseFile)
		if err != nil {
			t.Fatal(err)
		}
		var out []slots.Holder
		for _, h := range leases {
			if h.Owner == name {
				out = append(out, h)
			}
		}
		return out
	}
	held := mine()
	if len(held) != 1 || held[0].Pid != cmd.Process.Pid {
		t.Fatalf("leases of %s: %+v", name, held)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if len(mine()) != 1 {
		t.Fatal("the lease of a SIGKILLed cell went without cell gc")
	}
	// init dies with cell (parent-death signal), and the sandbox with it;
	// until then the slot is in use and gc keeps it.
	deadline := time.Now().Add(time.Minute)
	for len(mine()) > 0 && time.Now().Before(deadline) {
		// gc's status is not checked: other tests of the host may leave
		// damaged records in the shared state directory, which gc reports.
		cell(t, "gc")
		time.Sleep(100 * time.Millisecond)
	}
	if left := mine(); len(left) > 0 {
		t.Errorf("cell gc left the lease of a dead cell: %+v", left)
	}
}

// TestGCKeepsStartingSandbox runs cell gc while a sandbox is being
// started: its record has no init yet (pid 0), but its cell is alive, so
// gc must leave it and its cgroup alone. (It killed the cgroups of
// sandboxes that concurrent launches were starting.)
func TestGCKeepsStartingSandbox(t *testing.T) {
	requirePrivilege(t)
	st, err := openStore()
	if err != nil {
		t.Fatal(err)
	}
	start, err := state.StartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("starting-%d", os.Getpid())
	if err := st.Create(&state.Record{Name: name, Profile: "test", Started: time.Now().UTC(), CellPid: os.Getpid(), CellStart: start}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Delete(name) })
	cell(t, "gc")
	if _, err := st.Get(name); err != nil {
		t.Errorf("cell gc removed the record of a sandbox whose cell runs: %v", err)
	}
}

// TestPickPoolOverlap refuses a pool that overlaps a subordinate range
// that /etc/subuid gives a user, before anything runs.
func TestPickPoolOverlap(t *testing.T) {
	requirePrivilege(t)
	subs := hostSubIDs(t)
	if len(subs) == 0 {
		t.Fatal("no range in /etc/subuid (.ci/run adds celltest's)")
	}
	cmd := cellCmd(t, "plan", "-p", "build-worker", "--", "true")
	cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d:%d", ids.PoolEnv, subs[0].out, ids.SlotSize))
	r := runCellCmd(t, cmd)
	if r.code != StatusProfile && r.code != 1 || !strings.Contains(r.stderr, "builtin:build-worker:14:33: ids.uidMap[0].outside: the ID pool") ||
		!strings.Contains(r.stderr, "/etc/sub") || !strings.Contains(r.stderr, "CELL_ID_POOL") {
		t.Errorf("a pool over a subordinate range: %s", r)
	}
	r = cell(t, "plan", "-p", "build-worker", "--", "true")
	if r.code != 0 || !strings.Contains(r.stdout, "= {ids}, picked at run time") || !strings.Contains(r.stdout, `write("/proc/INIT/uid_map", "0 {ids} 65536\n")`) {
		t.Errorf("plan of build-worker: %s", r)
	}
}

// TestPickRootless runs build-worker as an unprivileged user: pick is the
// caller's own ID as root inside, then its subordinate range, both of
// which only it owns, and no lease is taken.
func TestPickRootless(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	uid, gid, dir, bin := rootlessUser(t)
	first := func(file string) uint64 {
		var start uint64
		for _, line := range strings.Split(readFile(t, file), "\n") {
			if rest, ok := strings.CutPrefix(line, "celltest:"); ok {
				fmt.Sscan(strings.Split(rest, ":")[0], &start)
			}
		}
		return start
	}
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown(work, int(uid), int(gid))
	// Limits need a delegated cgroup, which this test has none of; the
	// ID maps are what it is about.
	cmd := exec.Command(bin, "run", "-p", "build-worker", "-T", "--set", "resources=null",
		"--", "sh", "-c", "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; id -u")
	cmd.Args[0] = "cell"
	cmd.Env = []string{"CELL_TEST_MAIN=1", "HOME=/", "USER=celltest", "PWD=" + work}
	cmd.Dir = work
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
	r := runCellCmd(t, cmd)
	uidText, rest, _ := strings.Cut(r.stdout, "--\n")
	if r.code != 0 || !strings.HasSuffix(rest, "\n0\n") {
		t.Fatalf("rootless build-worker: %s", r)
	}
	gidText := strings.TrimSuffix(rest, "0\n")
	for _, m := range []struct {
		text string
		own  uint32
		sub  uint64
	}{{uidText, uid, first("/etc/subuid")}, {gidText, gid, first("/etc/subgid")}} {
		got := parseIDMap(t, m.text)
		want := []idRange{{0, uint64(m.own), 1}, {1, m.sub, ids.SlotSize - 1}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("rootless pick maps %v; want %v", got, want)
		}
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPickIDMappedBind maps a host directory owned by a user to the root
// of a sandbox whose IDs are picked: the ID-mapped mount's maps name the
// leased slot, which the parent fills in, so what root writes inside is
// the user's on the host.
func TestPickIDMappedBind(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	parent := cgroupParent(t)
	work := t.TempDir()
	out := filepath.Join(work, "out")
	for _, d := range []string{work, filepath.Dir(work)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	const owner = 4242
	if err := os.Chown(out, owner, owner); err != nil {
		t.Fatal(err)
	}
	cmd := cellCmd(t, "run", "-p", "build-worker", "-T", "--set", "resources.parent="+parent,
		"--set", fmt.Sprintf("filesystem.mounts[+]={type: bind, source: %s, target: /mapped, writable: true, idmap: {uid: [{inside: 0, outside: %d, count: 1}], gid: [{inside: 0, outside: %d, count: 1}]}}", out, owner, owner),
		"--", "sh", "-c", "echo made > /mapped/f && stat -c '%u %g' /mapped/f")
	cmd.Dir = work
	r := runCellCmd(t, cmd)
	if r.code != 0 || r.stdout != "0 0\n" {
		t.Fatalf("write through an ID-mapped bind: %s", r)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(out, "f"), &st); err != nil || st.Uid != owner || st.Gid != owner {
		t.Errorf("the file root wrote inside is %d:%d on the host, want %d:%d (%v)", st.Uid, st.Gid, owner, owner, err)
	}
}
