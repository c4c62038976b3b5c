package compile_test

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/compile"
	"github.com/cellsandbox/cell/internal/host"
	"github.com/cellsandbox/cell/launcher/plan"
	"github.com/cellsandbox/cell/profiles"
	"github.com/cellsandbox/cell/spec"
	"github.com/cellsandbox/cell/spec/access"
)

// covered reports whether one of dirs holds p, as a landlock
// path-beneath rule does.
func covered(dirs []string, p string) bool {
	return slices.ContainsFunc(dirs, func(d string) bool {
		return d == "/" || d == p || strings.HasPrefix(p, d+"/")
	})
}

// TestAccessMatchesPlan checks what spec/access (and so cell explain and
// cell lint) says of every built-in profile against the plan the profile
// compiles to, for root and for an unprivileged caller: a mount it calls
// read-only or noexec is so in its step, what it says landlock grants or
// refuses is what the landlock step's rules grant, and the network
// namespace and egress rules are there when it says so.
func TestAccessMatchesPlan(t *testing.T) {
	for _, name := range profiles.Names() {
		for _, who := range []struct {
			suffix string
			facts  *host.Facts
		}{{"root", &rootFacts}, {"user", &userFacts}} {
			t.Run(name+"/"+who.suffix, func(t *testing.T) {
				data, err := profiles.Get(name)
				if err != nil {
					t.Fatal(err)
				}
				f := *who.facts
				f.LandlockABI = 6
				p := parse(t, "builtin:"+name, data, &f)
				inv := compile.Invocation{}
				if p.Resources.Any() {
					f.Cgroup = layout(t, "v2vm", true)
					inv.Name = name + "-1"
				}
				pl, err := compile.Profile(p, &f, inv)
				if err != nil {
					t.Skipf("does not compile for %s: %v", who.suffix, err)
				}
				checkAccess(t, p, pl)
			})
		}
	}
}

func checkAccess(t *testing.T, p *spec.Profile, pl *plan.Plan) {
	t.Helper()
	var rules *plan.LandlockRules
	var clone uint64
	egress := false
	for _, s := range pl.Steps {
		switch a := s.Do.(type) {
		case *plan.Landlock:
			rules = &a.Rules
		case *plan.Clone:
			clone = uint64(a.Flags)
		case *plan.Nft:
			egress = egress || s.Side == plan.Init
		}
	}
	paths := access.Files(p)
	for i, m := range p.Filesystem.Mounts {
		a := paths[i]
		var attr uint64
		idx := slices.IndexFunc(pl.Steps, func(s plan.Step) bool {
			switch a := s.Do.(type) {
			case *plan.Bind:
				attr = uint64(a.Attr)
				return a.Target == m.Target
			case *plan.MountFS:
				attr = uint64(a.Attr)
				return a.Target == m.Target
			}
			return false
		})
		if idx < 0 {
			continue // made by other steps (dir, file, symlink, ID-mapped)
		}
		byMount := func(v access.Verdict) bool { return !v.Allowed && slices.Contains(v.By, access.Mount) }
		if got, want := byMount(a.Write), attr&unix.MOUNT_ATTR_RDONLY != 0; got != want && m.Type != spec.MountDev {
			t.Errorf("%s: access says write %s; the plan's mount attributes are %#x", m.Target, a.Write, attr)
		}
		if got, want := byMount(a.Exec), attr&unix.MOUNT_ATTR_NOEXEC != 0; got != want {
			t.Errorf("%s: access says exec %s; the plan's mount attributes are %#x", m.Target, a.Exec, attr)
		}
		if rules == nil || len(rules.ReadOnly)+len(rules.ReadWrite)+len(rules.ReadExec) == 0 {
			for _, v := range []access.Verdict{a.Read, a.Write, a.Exec} {
				if slices.Contains(v.By, access.Landlock) {
					t.Errorf("%s: access names landlock (%s), the plan has no landlock file rules", m.Target, v)
				}
			}
			continue
		}
		byLandlock := func(v access.Verdict) bool { return !v.Allowed && slices.Contains(v.By, access.Landlock) }
		if got, want := byLandlock(a.Exec), !covered(rules.ReadExec, m.Target); got != want {
			t.Errorf("%s: access says exec %s; the plan's landlock read-exec list is %v", m.Target, a.Exec, rules.ReadExec)
		}
		if got, want := byLandlock(a.Write), !covered(rules.ReadWrite, m.Target) && attr&unix.MOUNT_ATTR_RDONLY == 0; got != want && m.Type != spec.MountDev {
			t.Errorf("%s: access says write %s; the plan's landlock read-write list is %v", m.Target, a.Write, rules.ReadWrite)
		}
	}
	own := clone&unix.CLONE_NEWNET != 0
	for _, r := range access.Reaches(p) {
		if r.What == "abstract-unix" && (!r.Allowed && slices.Contains(r.By, access.Namespace)) != own {
			t.Errorf("%s: the plan's clone flags %#x say own network namespace %v", r, clone, own)
		}
		if slices.Contains(r.By, access.Egress) && !egress {
			t.Errorf("%s: the plan has no egress rules", r)
		}
		if slices.Contains(r.By, access.Landlock) && rules == nil {
			t.Errorf("%s: the plan has no landlock step", r)
		}
	}
}
