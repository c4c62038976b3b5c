package checkpoint

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cellsandbox/cell/internal/cgroup"
	"github.com/cellsandbox/cell/internal/network"
	"github.com/cellsandbox/cell/internal/network/lease"
	"github.com/cellsandbox/cell/launcher/plan"
)

// testPlan is a small plan that passes plan.Check: a cgroup, the clone,
// init's exec, a root tmpfs and the command.
func testPlan(t *testing.T, extra ...plan.Step) *plan.Plan {
	t.Helper()
	steps := []plan.Step{
		{Side: plan.Parent, Do: &plan.CgroupMkdir{Dir: "/sys/fs/cgroup/cell/box"}},
		{Side: plan.Parent, Do: &plan.CgroupWrite{File: "/sys/fs/cgroup/cell/box/memory.max", Value: "1048576"}},
		{Side: plan.Parent, Do: &plan.Clone{Flags: 0x10000000, Cgroup: "/sys/fs/cgroup/cell/box"}},
		{Side: plan.Init, Do: &plan.ExecInit{Path: "/proc/self/exe", Args: []string{"cell-init", "3"}}},
		{Side: plan.Init, Do: &plan.Mount{FSType: "tmpfs", Source: "tmpfs", Target: "/newroot", Data: "mode=0755"}},
	}
	steps = append(steps, extra...)
	steps = append(steps, plan.Step{Side: plan.Command, Do: &plan.Exec{Path: "/bin/true", Args: []string{"true"}}})
	return &plan.Plan{Profile: "test", Name: "box", Steps: steps, Cgroup: &cgroup.Group{Unified: "/sys/fs/cgroup/cell/box"}}
}

func TestBlockers(t *testing.T) {
	for _, tc := range []struct {
		name string
		step plan.Step
		want string // "" for none
	}{
		{"none", plan.Step{Side: plan.Init, Do: &plan.Sethostname{Hostname: "x"}}, ""},
		{"landlock", plan.Step{Side: plan.Init, Do: &plan.Landlock{}}, "landlock"},
		{"bridge", plan.Step{Side: plan.Parent, Do: &plan.Bridge{}}, ""},
		{"lease", plan.Step{Side: plan.Parent, Do: &plan.NetLease{}}, ""},
		{"veth", plan.Step{Side: plan.Parent, Do: &plan.Veth{}}, ""},
		{"host rules", plan.Step{Side: plan.Parent, Do: &plan.Nft{}}, ""},
		{"user net", plan.Step{Side: plan.Parent, Do: &plan.UserNet{}}, "user-mode network"},
		{"egress", plan.Step{Side: plan.Init, Do: &plan.Nft{}}, "egress rules"},
		{"v1 cgroup", plan.Step{Side: plan.Parent, Do: &plan.CgroupJoin{}}, "cgroup v1"},
		{"overlay", plan.Step{Side: plan.Init, Do: &plan.MountFS{FSType: "overlay"}}, "overlay"},
		{"tmpfs", plan.Step{Side: plan.Init, Do: &plan.MountFS{FSType: "tmpfs"}}, ""},
		{"inherited fds", plan.Step{Side: plan.Parent, Do: &plan.CloseFDs{Keep: []uint32{4}}}, "inherited descriptors [4]"},
		{"no inherited fds", plan.Step{Side: plan.Parent, Do: &plan.CloseFDs{}}, ""},
		{"id lease", plan.Step{Side: plan.Parent, Do: &plan.IDLease{}}, "leased ID range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &plan.Plan{Steps: []plan.Step{tc.step}}
			got := strings.Join(Blockers(p), "\n")
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("Blockers(%s) = %q, want %q", tc.step.Op(), got, tc.want)
			}
		})
	}
	if got := Blockers(&plan.Plan{Rootless: true}); len(got) != 1 || !strings.Contains(got[0], "rootless") {
		t.Errorf("rootless plan: %q", got)
	}
}

// writeCheckpoint writes a checkpoint of p by hand: a manifest whose
// hashes match, an images directory with two files, and a root archive.
func writeCheckpoint(t *testing.T, p *plan.Plan) string {
	t.Helper()
	return writeCheckpointNet(t, p, nil)
}

// writeCheckpointNet is writeCheckpoint with a bridged sandbox's network.
func writeCheckpointNet(t *testing.T, p *plan.Plan, nw *Network) string {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "images"), 0o700)
	os.WriteFile(filepath.Join(dir, "images", "core-1.img"), []byte("core"), 0o600)
	os.WriteFile(filepath.Join(dir, "images", "pages-1.img"), []byte("pages!"), 0o600)
	os.WriteFile(filepath.Join(dir, RootFile), make([]byte, 1024), 0o600)
	pj, _ := json.Marshal(p)
	prof := []byte(`{"name":"test"}`)
	files, err := hashFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := &Manifest{Format: Format, Name: p.Name, Profile: prof, ProfileSHA256: sha(prof), Plan: pj, PlanSHA256: sha(pj),
		Host: hostFacts(), Images: "images", Files: files, Network: nw}
	if err := writeManifest(dir, m); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestRead(t *testing.T) {
	dir := writeCheckpoint(t, testPlan(t))
	m, p, err := Read(dir)
	if err != nil {
		t.Fatalf("Read of an untouched checkpoint: %v", err)
	}
	if p.Name != "box" || m.Files["images/pages-1.img"] != "size:6" {
		t.Errorf("Read: plan %q, pages %q", p.Name, m.Files["images/pages-1.img"])
	}
	for _, tc := range []struct {
		name   string
		change func(dir string)
		want   string
	}{
		{"image changed", func(d string) { os.WriteFile(filepath.Join(d, "images", "core-1.img"), []byte("CORE"), 0o600) }, "images/core-1.img was changed"},
		{"pages resized", func(d string) { os.WriteFile(filepath.Join(d, "images", "pages-1.img"), []byte("pages!!"), 0o600) }, "images/pages-1.img was changed"},
		{"image added", func(d string) { os.WriteFile(filepath.Join(d, "images", "extra.img"), nil, 0o600) }, "images/extra.img was added"},
		{"image removed", func(d string) { os.Remove(filepath.Join(d, "images", "core-1.img")) }, "images/core-1.img is missing"},
		{"root changed", func(d string) { os.WriteFile(filepath.Join(d, RootFile), []byte("x"), 0o600) }, "root.tar was changed"},
		{"parent link outside", func(d string) { os.Symlink("../../elsewhere", filepath.Join(d, "images", "parent")) }, "outside the checkpoint"},
		{"plan edited", func(d string) {
			b, _ := os.ReadFile(filepath.Join(d, ManifestFile))
			b = []byte(strings.Replace(string(b), "1048576", "9999999", 1))
			os.WriteFile(filepath.Join(d, ManifestFile), b, 0o600)
		}, "the plan's hash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := writeCheckpoint(t, testPlan(t))
			tc.change(d)
			if _, _, err := Read(d); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Read after %s: %v, want %q", tc.name, err, tc.want)
			}
		})
	}
	// A plan that cannot be restored is refused even with its hashes
	// right (a checkpoint written by another cell).
	d := writeCheckpoint(t, testPlan(t, plan.Step{Side: plan.Init, Do: &plan.Landlock{}}))
	if _, _, err := Read(d); err == nil || !strings.Contains(err.Error(), "landlock") {
		t.Errorf("Read of a landlocked plan: %v", err)
	}
}

func TestRename(t *testing.T) {
	p := testPlan(t)
	q := Rename(p, "other")
	if q.Name != "other" || q.Cgroup.Unified != "/sys/fs/cgroup/cell/other" || q.Steps[1].Do.(*plan.CgroupWrite).File != "/sys/fs/cgroup/cell/other/memory.max" || q.Steps[2].Do.(*plan.Clone).Cgroup != "/sys/fs/cgroup/cell/other" || q.Steps[0].Do.(*plan.CgroupMkdir).Dir != "/sys/fs/cgroup/cell/other" {
		t.Errorf("Rename: %+v %+v", q.Cgroup, q.Steps[:3])
	}
	if p.Steps[1].Do.(*plan.CgroupWrite).File != "/sys/fs/cgroup/cell/box/memory.max" || p.Steps[2].Do.(*plan.Clone).Cgroup != "/sys/fs/cgroup/cell/box" || p.Cgroup.Unified != "/sys/fs/cgroup/cell/box" {
		t.Error("Rename changed the plan it was given")
	}
}

func TestErrorLines(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	os.WriteFile(p, []byte("(00.001) Warn (criu/x.c:1): not this\n(00.002) Error (criu/util.c:642): exited, status=1\n(00.003) Error (criu/vdso.c:613): vdso: Unexpected rt vDSO area bounds\n"), 0o600)
	if got := ErrorLines(p); got != "vdso: Unexpected rt vDSO area bounds" {
		t.Errorf("ErrorLines = %q", got)
	}
}

// TestLoad: the restore plan that cell plan --restore prints is the one
// cell restore runs; its plan is the codec's (decodable, version first),
// renamed when a name is given, and a bad name is refused.
func TestLoad(t *testing.T) {
	d := writeCheckpoint(t, testPlan(t))
	rp, err := Load(d, "other")
	if err != nil {
		t.Fatal(err)
	}
	if rp.Name != "other" || rp.Plan.Name != "other" || rp.Plan.Steps[0].Do.(*plan.CgroupMkdir).Dir != "/sys/fs/cgroup/cell/other" {
		t.Errorf("Load(other): name %q, plan %q, first step %s", rp.Name, rp.Plan.Name, rp.Plan.Steps[0].Call())
	}
	if len(rp.Again) != 2 || rp.Again[0] != 0 || rp.Again[1] != 1 {
		t.Errorf("run again: %v, want the cgroup's mkdir and write [0 1]", rp.Again)
	}
	b, err := json.Marshal(rp)
	if err != nil {
		t.Fatal(err)
	}
	var printed struct{ Plan json.RawMessage }
	if err := json.Unmarshal(b, &printed); err != nil {
		t.Fatal(err)
	}
	got, err := plan.Decode(printed.Plan)
	if err != nil {
		t.Fatalf("the printed restore plan's plan does not decode: %v", err)
	}
	want, _ := rp.Plan.Encode()
	if again, _ := got.Encode(); string(again) != string(want) {
		t.Errorf("printed plan differs from the one restore runs:\n%s\n%s", again, want)
	}
	same, err := Load(d, "")
	if err != nil || same.Plan.Name != "box" {
		t.Errorf("Load without a name: %v, %v", same, err)
	}
	if _, err := Load(d, "../x"); err == nil {
		t.Error("Load accepted the name ../x")
	}
}

// bridgedPlan is testPlan with a bridged network's steps, as the
// compiler writes them for the sandbox box.
func bridgedPlan(t *testing.T) *plan.Plan {
	p := testPlan(t)
	lease := []plan.Step{
		{Side: plan.Parent, Do: &plan.NetLease{Bridge: "cell0", Subnet: "10.88.0.0/24", Sandbox: "box"}},
		{Side: plan.Parent, Do: &plan.Bridge{Name: "cell0", Address: "10.88.0.1/24"}},
		{Side: plan.Parent, Do: &plan.Nft{Rule: plan.NftRule{Family: "ip", Table: "cell", Chain: "forward", Established: true, Verdict: "accept", Owner: "bridge:cell0:established"}}},
		{Side: plan.Parent, Do: &plan.Nft{Rule: plan.NftRule{Family: "ip", Table: "cell", Chain: "forward", IIF: "cell0", Saddr: plan.Lease, Verdict: "accept", Owner: "box"}}},
	}
	after := []plan.Step{
		{Side: plan.Parent, Do: &plan.Veth{Host: network.VethName("box"), Bridge: "cell0", Guest: "eth0"}},
		{Side: plan.Init, Do: &plan.LinkUp{Interface: "lo"}},
		{Side: plan.Init, Do: &plan.AddrAdd{Interface: "eth0", Address: plan.Lease + "/24"}},
		{Side: plan.Init, Do: &plan.RouteAdd{Interface: "eth0", Gateway: "10.88.0.1"}},
	}
	var steps []plan.Step
	for _, s := range p.Steps {
		if _, ok := s.Do.(*plan.Clone); ok {
			steps = append(steps, lease...)
		}
		steps = append(steps, s)
		if _, ok := s.Do.(*plan.ExecInit); ok {
			steps = append(steps, after[0])
		}
		if _, ok := s.Do.(*plan.Mount); ok {
			steps = append(steps, after[1:]...)
		}
	}
	p.Steps = steps
	p.Cleanup = []plan.Step{
		{Side: plan.Parent, Do: &plan.NftDelete{Table: "ip cell", Owner: "box"}},
		{Side: plan.Parent, Do: &plan.LeaseRelease{Bridge: "cell0", Sandbox: "box"}},
	}
	return p
}

var testNetwork = Network{Bridge: "cell0", Subnet: "10.88.0.0/24", Interface: "eth0", Address: "10.88.0.7", MAC: "02:00:00:00:00:07"}

// TestBridged: a bridged plan's checkpoint carries the sandbox's address
// and MAC, which must fit the plan; its restore plan runs the lease, the
// bridge, the host's rules, the veth and the links again with {lease}
// the address it had, renamed with the sandbox, and prints the cleanup.
func TestBridged(t *testing.T) {
	if err := bridgedPlan(t).Check(); err != nil {
		t.Fatalf("the test's bridged plan: %v", err)
	}
	nw := testNetwork
	d := writeCheckpointNet(t, bridgedPlan(t), &nw)
	rp, err := Load(d, "other")
	if err != nil {
		t.Fatal(err)
	}
	var again []string
	for _, i := range rp.Again {
		again = append(again, rp.Plan.Steps[i].Op().String())
	}
	want := "cgroup-mkdir cgroup-write net-lease bridge nft nft veth link-up addr-add route-add"
	if got := strings.Join(again, " "); got != want {
		t.Errorf("run again: %s\nwant %s", got, want)
	}
	out := rp.String()
	for _, w := range []string{
		`lease(10.88.0.0/24, "other")`, `comment "other"`, network.VethName("other"), "{lease} = 10.88.0.7", "02:00:00:00:00:07",
		"when the sandbox has ended", `release("other")`, `with comment "other"`, `"bridge:cell0:established"`,
	} {
		if !strings.Contains(out, w) {
			t.Errorf("the restore plan does not show %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, network.VethName("box")) || strings.Contains(out, `"box"`) {
		t.Errorf("the renamed restore plan still names box:\n%s", out)
	}
	for _, tc := range []struct {
		name string
		nw   *Network
		want string
	}{
		{"no network", nil, "no address for it"},
		{"other subnet", &Network{Bridge: "cell0", Subnet: "10.88.0.0/24", Interface: "eth0", Address: "10.99.0.7", MAC: nw.MAC}, "not the plan's"},
		{"other bridge", &Network{Bridge: "cell1", Subnet: "10.88.0.0/24", Interface: "eth0", Address: "10.88.0.7", MAC: nw.MAC}, "not the plan's"},
		{"bad mac", &Network{Bridge: "cell0", Subnet: "10.88.0.0/24", Interface: "eth0", Address: "10.88.0.7", MAC: "x"}, "MAC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := writeCheckpointNet(t, bridgedPlan(t), tc.nw)
			if _, _, err := Read(d); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Read: %v, want %q", err, tc.want)
			}
		})
	}
	d = writeCheckpointNet(t, testPlan(t), &nw)
	if _, _, err := Read(d); err == nil || !strings.Contains(err.Error(), "no bridge") {
		t.Errorf("Read of a network for a plan without a bridge: %v", err)
	}
}

// TestAwaitRelease: a restore waits for the cell whose sandbox the
// checkpoint ended to release its address, and no longer than it is
// told for another holder or a sandbox left running.
func TestAwaitRelease(t *testing.T) {
	lease.LeaseDir = t.TempDir()
	t.Cleanup(func() { lease.LeaseDir = "/run/cell/net" })
	nw := testNetwork
	m := &Manifest{Name: "box", Network: &nw}
	hold := func(owner string) {
		if err := lease.AcquireAddr("cell0", "10.88.0.0/24", owner, netip.MustParseAddr(nw.Address), nil); err != nil {
			t.Fatal(err)
		}
	}
	hold("box")
	go func() {
		time.Sleep(200 * time.Millisecond)
		lease.Release("cell0", "box")
	}()
	start := time.Now()
	if err := AwaitRelease(m, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 200*time.Millisecond || took > 5*time.Second {
		t.Errorf("AwaitRelease returned after %v, want once box released its address (200 ms)", took)
	}
	hs, _ := lease.Leases("cell0")
	if len(hs) != 0 {
		t.Errorf("leases after the release: %+v", hs)
	}
	// Another sandbox's lease, or the checkpointed one left running:
	// no wait beyond d.
	hold("other")
	start = time.Now()
	AwaitRelease(m, 100*time.Millisecond)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("AwaitRelease waited %v for another sandbox's lease", took)
	}
	lease.Release("cell0", "other")
	hold("box")
	m.LeftRunning = true
	start = time.Now()
	AwaitRelease(m, 10*time.Second)
	if took := time.Since(start); took > time.Second {
		t.Errorf("AwaitRelease waited %v for a sandbox left running", took)
	}
}
