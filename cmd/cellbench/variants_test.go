package main

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestVariantSets(t *testing.T) {
	want := map[variant]string{
		noSeccomp:    "security.seccomp.mode=unconfined filesystem.mounts[23].writable=false filesystem.mounts[24].writable=false",
		withLandlock: "security.landlock={mode: require, readExec: [/usr, /bin, /lib, /lib64, /etc], readWrite: [/tmp, /dev]}",
		withCgroups:  "resources.parent=cellbench-42 resources.pids.max=1024 resources.memory={max: 256Mi}",
		rootless:     "",
		bridged:      "network={mode: bridge, dns: [192.0.2.53]}",
		userNet:      "network={mode: user}",
	}
	for _, v := range variants() {
		t.Run(v.String(), func(t *testing.T) {
			if got := strings.Join(v.sets("cellbench-42"), " "); got != want[v] {
				t.Errorf("sets:\n got %s\nwant %s", got, want[v])
			}
		})
	}
}

func TestVariantString(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range variants() {
		s := v.String()
		if !strings.HasPrefix(s, "cell run") || seen[s] {
			t.Errorf("variant %d: String() = %q, want a unique label starting with cell run", int(v), s)
		}
		seen[s] = true
		if v.feature() == s {
			t.Errorf("variant %s has no feature name", s)
		}
	}
	if got := variant(99).String(); got != "variant(99)" {
		t.Errorf("variant(99).String() = %q", got)
	}
}

func TestVariantCheck(t *testing.T) {
	base := planFacts{ns: defaultNS, ops: map[string]int{"clone": 1, "write-id-map": 2, "setgroups": 1, "seccomp": 1}}
	with := func(change func(p *planFacts)) planFacts {
		p := base
		p.ops = maps.Clone(base.ops)
		change(&p)
		return p
	}
	tests := []struct {
		name string
		v    variant
		plan planFacts
		want string // part of the error; "" for none
	}{
		{"seccomp left out", noSeccomp, with(func(p *planFacts) { delete(p.ops, "seccomp") }), ""},
		{"seccomp still there", noSeccomp, base, "has the default's seccomp steps"},
		{"landlock added", withLandlock, with(func(p *planFacts) { p.ops["landlock"] = 1 }), ""},
		{"landlock missing", withLandlock, base, "no landlock step"},
		{"landlock and more", withLandlock, with(func(p *planFacts) { p.ops["landlock"] = 1; p.ops["mount"] = 1 }), "+1 mount steps"},
		{"cgroups", withCgroups, with(func(p *planFacts) {
			p.ops["cgroup-mkdir"], p.ops["cgroup-write"], p.ops["cgroup-remove"] = 6, 2, 3
		}), ""},
		{"cgroups not removed", withCgroups, with(func(p *planFacts) { p.ops["cgroup-mkdir"] = 2 }), "makes or removes no cgroup"},
		{"cgroups in other namespaces", withCgroups, with(func(p *planFacts) { p.ns &^= unix.CLONE_NEWTIME }), "namespaces"},
		{"rootless", rootless, with(func(p *planFacts) { p.rootless = true; p.ops["write-id-map"] = 3; delete(p.ops, "setgroups") }), ""},
		{"rootless plan as root", rootless, base, "not rootless"},
		{"rootless without seccomp", rootless, with(func(p *planFacts) { p.rootless = true; delete(p.ops, "seccomp") }), "-1 seccomp steps"},
		{"bridge", bridged, with(func(p *planFacts) {
			p.ops["net-lease"], p.ops["bridge"], p.ops["nft"], p.ops["veth"], p.ops["addr-add"], p.ops["route-add"], p.ops["write-file"] = 1, 1, 3, 1, 1, 1, 2
		}), ""},
		{"bridge without a veth", bridged, with(func(p *planFacts) { p.ops["nft"] = 3 }), "no veth or lease"},
		{"bridge and a cgroup", bridged, with(func(p *planFacts) { p.ops["veth"], p.ops["net-lease"], p.ops["cgroup-mkdir"] = 1, 1, 1 }), "+1 cgroup-mkdir steps"},
		{"user network", userNet, with(func(p *planFacts) { p.ops["user-net"], p.ops["write-file"] = 1, 2 }), ""},
		{"user network without the helper", userNet, with(func(p *planFacts) { p.ops["write-file"] = 2 }), "no user-mode network helper"},
		{"a variant turned rootless", withLandlock, with(func(p *planFacts) { p.rootless = true; p.ops["landlock"] = 1 }), "rootless=true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.v.check(base, tt.plan)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("check: %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("check: %v, want an error with %q", err, tt.want)
			}
		})
	}
	rootBase := with(func(p *planFacts) { p.rootless = true })
	if err := rootless.check(rootBase, rootBase); err == nil {
		t.Error("check of the rootless variant against a rootless default: nil, want an error")
	}
}

func TestOpsDiff(t *testing.T) {
	got := opsDiff(map[string]int{"a": 1, "b": 2, "c": 3}, map[string]int{"a": 1, "b": 4, "d": 1})
	want := map[string]int{"b": 2, "c": -3, "d": 1}
	if !maps.Equal(got, want) {
		t.Errorf("opsDiff = %v, want %v", got, want)
	}
}

func TestShellQuote(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"/bin/true", "/bin/true"},
		{"security.seccomp.mode=unconfined", "security.seccomp.mode=unconfined"},
		{"resources.memory={max: 256Mi}", "'resources.memory={max: 256Mi}'"},
		{"it's", `'it'\''s'`},
		{"", "''"},
		{"--", "--"},
	} {
		if got := shellQuote(tt.in); got != tt.want {
			t.Errorf("shellQuote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	l := launcher{argv: []string{"/cell", "run", "--set", "resources.memory={max: 256Mi}", "--", "/bin/true"}}
	if got, want := l.String(), "/cell run --set 'resources.memory={max: 256Mi}' -- /bin/true"; got != want {
		t.Errorf("launcher.String() = %s, want %s", got, want)
	}
}

func TestSignedMS(t *testing.T) {
	for _, tt := range []struct {
		v    float64
		want string
	}{
		{0.314, "+0.31 ms"},
		{-1.5, "−1.50 ms"},
		{0, "0.00 ms"},
		{-0.001, "0.00 ms"},
	} {
		if got := signedMS(tt.v); got != tt.want {
			t.Errorf("signedMS(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestRowOrder(t *testing.T) {
	// Index 5 is crun's row, or any other that is not a variant; the
	// plain fork+exec comes last.
	rs := make([]latencyResult, 7)
	rs[4].VsDefault, rs[6].VsDefault = &vsDefault{}, &vsDefault{}
	got := rowOrder(rs)
	want := []int{cellIdx, 4, 6, unshareIdx, bwrapIdx, 5, trueIdx}
	if !slices.Equal(got, want) {
		t.Errorf("rowOrder = %v, want %v", got, want)
	}
}

func TestCompare(t *testing.T) {
	base := latencyResult{WallNS: []int64{10e6, 11e6, 12e6}}
	base.WallMS = summarize(millis(base.WallNS))
	row := latencyResult{WallNS: []int64{9e6, 10.5e6, 11e6}}
	row.WallMS = summarize(millis(row.WallNS))
	row.compare(&base, noSeccomp)
	vd := row.VsDefault
	// Medians 11 and 10.5 ms; per round the filter costs 1, 0.5, 1 ms.
	if vd.DiffMS != -0.5 || vd.CostMS != 0.5 || vd.PairedCostMS != 1 || !vd.Removes {
		t.Errorf("compare = %+v, want diff −0.5, cost 0.5, paired 1, removes", *vd)
	}
	if vd.PairedCI95MS != [2]float64{0.5, 1} {
		t.Errorf("compare: CI %v, want [0.5 1]", vd.PairedCI95MS)
	}
}

// TestRemoveCgroupParents runs the cleanup on a tree of plain
// directories shaped like a hybrid cgroup mount: rmdir of an empty
// directory is what it does on cgroupfs.
func TestRemoveCgroupParents(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{
		"unified/cellbench-7/default-1",
		"memory/cellbench-7",
		"pids/cellbench-7/default-2/sub",
		"cpu/other",
		"cellbench-7",
		"cellbench-70/default-3",
	} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Interface files, which are not cgroups.
	if err := os.WriteFile(filepath.Join(root, "memory/cellbench-7/tasks"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	parents, leaves, err := removeCgroupParents(root, "cellbench-7")
	// A real cgroup directory's files go with it; this one's stays.
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Path != filepath.Join(root, "memory/cellbench-7") {
		t.Fatalf("removeCgroupParents: %v, want an error removing memory/cellbench-7", err)
	}
	rel := func(ps []string) []string {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i], _ = filepath.Rel(root, p)
		}
		return out
	}
	wantParents := []string{"cellbench-7", "memory/cellbench-7", "pids/cellbench-7", "unified/cellbench-7"}
	if got := rel(parents); !slices.Equal(got, wantParents) {
		t.Errorf("parents = %v, want %v", got, wantParents)
	}
	wantLeaves := []string{"pids/cellbench-7/default-2", "pids/cellbench-7/default-2/sub", "unified/cellbench-7/default-1"}
	if got := rel(leaves); !slices.Equal(got, wantLeaves) {
		t.Errorf("leaves = %v, want %v", got, wantLeaves)
	}
	for _, d := range []string{"cellbench-7", "pids/cellbench-7", "unified/cellbench-7"} {
		if _, err := os.Lstat(filepath.Join(root, d)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there: %v", d, err)
		}
	}
	for _, d := range []string{"cpu/other", "cellbench-70/default-3"} {
		if _, err := os.Lstat(filepath.Join(root, d)); err != nil {
			t.Errorf("%s, not ours, was removed: %v", d, err)
		}
	}

	if err := os.Remove(filepath.Join(root, "memory/cellbench-7/tasks")); err != nil {
		t.Fatal(err)
	}
	parents, leaves, err = removeCgroupParents(root, "cellbench-7")
	if err != nil || !slices.Equal(rel(parents), []string{"memory/cellbench-7"}) || len(leaves) != 0 {
		t.Errorf("second removeCgroupParents = %v, %v, %v; want [memory/cellbench-7], none, nil", rel(parents), leaves, err)
	}
	if parents, _, err := removeCgroupParents(root, "cellbench-7"); err != nil || len(parents) != 0 {
		t.Errorf("removeCgroupParents with nothing left = %v, %v; want none, nil", parents, err)
	}
	for _, bad := range []string{"", "..", "a/b"} {
		if _, _, err := removeCgroupParents(root, bad); err == nil {
			t.Errorf("removeCgroupParents(%q) = nil error", bad)
		}
	}
}
