package checkpoint

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/cellsandbox/cell/launcher/plan"
)

// RestorePlan is what cell restore does with a checkpoint, as a plan:
// the parent's steps it runs again, CRIU's restore, and the steps whose
// effect the images hold (restored as they were, not run again).
type RestorePlan struct {
	Dir        string   `json:"dir"`
	Name       string   `json:"name"`
	Manifest   Manifest `json:"-"`
	CRIU       string   `json:"criu"`
	Kernel     string   `json:"kernel"`
	PlanSHA256 string   `json:"planSHA256"`
	// Again are the indexes (from 0) of the plan's steps that the
	// restore runs again; InImages those whose effect is in the images.
	Again    []int `json:"again"`
	InImages []int `json:"inImages"`
	// Restore describes CRIU's request.
	Restore []string   `json:"restore"`
	Plan    *plan.Plan `json:"plan"`
}

// RestorePlanOf returns the restore plan of the checkpoint in dir, whose
// manifest and plan Read returned (renamed, for restore --name).
func RestorePlanOf(m *Manifest, p *plan.Plan, dir string) *RestorePlan {
	rp := &RestorePlan{Dir: dir, Name: p.Name, Manifest: *m, CRIU: m.CRIU, Kernel: m.Host.Kernel, PlanSHA256: m.PlanSHA256, Plan: p}
	for i := range p.Steps {
		s := &p.Steps[i]
		switch s.Do.(type) {
		case *plan.CgroupMkdir, *plan.CgroupWrite, *plan.CgroupDevices, *plan.Require, *plan.NetLease, *plan.Bridge, *plan.Veth:
			rp.Again = append(rp.Again, i)
		case *plan.Nft:
			if s.Side != plan.Parent {
				rp.InImages = append(rp.InImages, i) // refused by Blockers
				continue
			}
			rp.Again = append(rp.Again, i)
		case *plan.LinkUp, *plan.AddrAdd, *plan.RouteAdd:
			// In the new network namespace, by cell at CRIU's
			// setup-namespaces.
			rp.Again = append(rp.Again, i)
		case *plan.CloseFDs, *plan.Clone, *plan.WriteIDMap, *plan.DenySetgroups, *plan.Pdeathsig, *plan.InitIDs, *plan.AmbientCaps, *plan.ExecInit:
			if s.Side == plan.Parent {
				continue
			}
			rp.InImages = append(rp.InImages, i)
		default:
			rp.InImages = append(rp.InImages, i)
		}
	}
	images := []string{filepath.Join(dir, m.Images)}
	for _, pd := range m.PreDumps {
		images = append(images, filepath.Join(dir, pd))
	}
	rp.Restore = []string{
		"images " + strings.Join(images, " <- "),
		"criu starts in the sandbox's cgroup leaf (CLONE_INTO_CGROUP), with cell's new session keyring; the processes it restores are cell's children (rst_sibling)",
		"root: a tmpfs as the plan's root step makes it, filled from " + filepath.Join(dir, RootFile) + ", bound by CRIU as the sandbox's root",
		"mounts: the images' mount tree; binds of host directories bound again from the host (auto external mounts)",
		"network namespace: new and empty (empty_ns); at setup-namespaces cell runs the network steps above that follow the clone (veth, links, address, route) in it",
		"inherited: " + m.External.InitSocket + " <- a new socket to this cell; " + m.External.Init + " <- cell's init (SHA-256 " + short(m.External.InitSHA256) + ")",
	}
	for fd, k := range m.External.Stdio {
		if k == "" {
			continue
		}
		what := fmt.Sprintf("cell's descriptor %d", fd)
		if strings.HasPrefix(k, "null:") {
			k, what = strings.TrimPrefix(k, "null:"), "/dev/null"
		}
		rp.Restore = append(rp.Restore, fmt.Sprintf("inherited: init's descriptor %d %s <- %s", fd, k, what))
	}
	if n := m.Network; n != nil {
		rp.Restore = append(rp.Restore, fmt.Sprintf("network: %s = %s, the address the sandbox had on %s (its connections are bound to it: refused if another sandbox holds it); %s's hardware address %s again", plan.Lease, n.Address, n.Bridge, n.Interface, n.MAC))
	}
	if m.External.Console {
		rp.Restore = append(rp.Restore, "terminal: the command's pty slave restored in the sandbox's devpts, a new master sent to cell (orphan-pts-master)")
	}
	return rp
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// String prints the restore plan as cell plan prints a plan.
func (rp *RestorePlan) String() string {
	var b strings.Builder
	p := rp.Plan
	fmt.Fprintf(&b, "# restore of sandbox %s from %s: written by criu %s on %s, plan SHA-256 %s (checked, with every image file)\n", rp.Name, rp.Dir, rp.CRIU, rp.Kernel, short(rp.PlanSHA256))
	w := len(fmt.Sprint(len(p.Steps)))
	line := func(i int) {
		s := &p.Steps[i]
		fmt.Fprintf(&b, "%*d %-7s %s  # %s\n", w, i+1, s.Side, s.Call(), s.Pos)
	}
	b.WriteString("# run again by this cell (those after the clone at CRIU's setup-namespaces, for the new network namespace):\n")
	for _, i := range rp.Again {
		line(i)
	}
	b.WriteString("# then CRIU's restore:\n")
	for _, r := range rp.Restore {
		fmt.Fprintf(&b, "%*s criu    %s\n", w, "R", r)
	}
	b.WriteString("# restored from the images as these steps left them (not run again):\n")
	for _, i := range rp.InImages {
		line(i)
	}
	if len(p.Cleanup) > 0 {
		b.WriteString("# when the sandbox has ended, as for a launched one:\n")
		for i := range p.Cleanup {
			s := &p.Cleanup[i]
			fmt.Fprintf(&b, "%*s %-7s %s  # %s\n", w, "-", s.Side, s.Call(), s.Pos)
		}
	}
	return b.String()
}
