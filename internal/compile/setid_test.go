package compile_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/cellsandbox/cell/internal/compile"
	"github.com/cellsandbox/cell/launcher/plan"
)

// guarded reports whether the plan's filter refuses set-ID bits (06000,
// 0xc00) to chmod.
func guarded(t *testing.T, pl *plan.Plan) bool {
	t.Helper()
	for _, s := range find[*plan.Seccomp](pl) {
		for _, line := range strings.Split(s.Policy, "\n") {
			if strings.HasPrefix(line, "chmod(") && strings.Contains(line, "& 0xc00 != 0x0)") {
				return true
			}
		}
	}
	return false
}

// TestSetIDGuard checks when the filter refuses set-ID bits: whenever
// what the command writes to the host (a writable bind, a kept upper
// layer) is a host ID other than an unprivileged caller's own.
func TestSetIDGuard(t *testing.T) {
	bind := minimal + "filesystem: {mounts: [{type: bind, source: /srv/p, target: /p, writable: true}]}\n"
	overlay := minimal + "filesystem: {mounts: [{type: overlay, target: /w, lower: [/srv/p]}]}\n"
	sub := "ids: {uid: 1, gid: 1, uidMap: [{inside: 0, outside: 1000, count: 1}, {inside: 1, outside: subuid, count: 1000}], gidMap: [{inside: 0, outside: 1000, count: 1}, {inside: 1, outside: subgid, count: 1000}]}\n"
	for _, tt := range []struct {
		name string
		root bool
		doc  string
		keep string
		want bool
	}{
		{"root, writable bind", true, bind, "", true},
		{"root, read-only bind", true, strings.Replace(bind, ", writable: true", "", 1), "", false},
		{"root, overlay on a tmpfs", true, overlay, "", false},
		{"root, kept upper", true, overlay, "/var/tmp/keep", true},
		{"unprivileged, its own IDs", false, bind, "", false},
		{"unprivileged, a subordinate range", false, bind + sub, "", true},
		{"root, writable bind, guard off", true, bind + "security: {setIDGuard: false}\n", "", false},
		{"root, kept upper, guard off", true, overlay + "security: {setIDGuard: false}\n", "/var/tmp/keep", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &userFacts
			if tt.root {
				f = &rootFacts
			}
			p := parse(t, "t.yaml", []byte(tt.doc), f)
			pl, err := compile.Profile(p, f, compile.Invocation{Args: []string{"true"}, KeepUpper: tt.keep})
			if err != nil {
				t.Fatal(err)
			}
			if got := guarded(t, pl); got != tt.want {
				t.Errorf("set-ID guard %v, want %v", got, tt.want)
			}
		})
	}
	err := compileErr(t, &rootFacts, bind+"security: {capabilities: [CAP_SETFCAP]}\n", compile.Invocation{Args: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), "security.capabilities: CAP_SETFCAP lets the command give files in the writable bind of /srv/p capabilities that the host honours for uid 0") {
		t.Errorf("CAP_SETFCAP, root, writable bind: %v", err)
	}
	if err := compileErr(t, &userFacts, bind+"security: {capabilities: [CAP_SETFCAP]}\n", compile.Invocation{Args: []string{"true"}}); err != nil {
		t.Errorf("CAP_SETFCAP for an unprivileged caller's own files: %v", err)
	}
	// Turned off, as an OCI bundle's translation says, nothing of it is
	// refused: the profile runs as written, and cell lint reports it.
	if err := compileErr(t, &rootFacts, bind+"security: {setIDGuard: false, capabilities: [CAP_SETFCAP], seccomp: {mode: unconfined}}\n", compile.Invocation{Args: []string{"true"}}); err != nil {
		t.Errorf("guard off: CAP_SETFCAP, unconfined, root, writable bind: %v", err)
	}
	err = compileErr(t, &rootFacts, bind+"security: {seccomp: {mode: unconfined}}\n", compile.Invocation{Args: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), "security.seccomp.mode: unconfined leaves no filter to refuse set-user-ID and set-group-ID bits, and what the command makes in the writable bind of /srv/p belongs on the host to uid 0") {
		t.Errorf("unconfined, root, writable bind: %v", err)
	}
}

// TestHandBackSteps checks how a hand-back bind reaches the caller: a
// root caller's build-worker (root of a subordinate range) gets an
// ID-mapped tree from the command's root to the caller, optional like the
// bind; a caller whose command is itself gets a plain bind; an
// unprivileged caller whose command is another host ID is refused.
func TestHandBackSteps(t *testing.T) {
	out := "    - {type: bind, source: /srv/out, target: /out, writable: true, optional: true, handBack: true}\n"
	worker := "apiVersion: cell/v1\nname: t\nextends: [build-worker]\nfilesystem:\n  mounts:\n" + out
	f := rootFacts
	f.Cgroup = layout(t, "v2vm", true)
	p := parse(t, "t.yaml", []byte(worker), &f)
	pl, err := compile.Profile(p, &f, compile.Invocation{Args: []string{"true"}, Name: "t-1"})
	if err != nil {
		t.Fatal(err)
	}
	var tree *plan.IDMappedTree
	var attach *plan.AttachTree
	for i := range pl.Steps {
		switch a := pl.Steps[i].Do.(type) {
		case *plan.IDMappedTree:
			tree = a
		case *plan.AttachTree:
			attach = a
		}
	}
	if tree == nil || attach == nil {
		t.Fatalf("no ID-mapped tree for the hand-back bind:\n%s", pl)
	}
	if want := []string{"0 {ids} 1\n", "0 {ids} 1\n"}; !slices.Equal([]string{tree.UIDMap, tree.GIDMap}, want) || !tree.HandBack || !tree.Optional || !tree.NoSymlinks || tree.Source != "/srv/out" {
		t.Errorf("tree step %+v, want maps %q, hand-back, optional, no symlinks", tree, want)
	}
	if !attach.Optional || attach.Target != "/out" || attach.FD != tree.FD {
		t.Errorf("attach step %+v", attach)
	}

	own := minimal + "filesystem:\n  mounts:\n" + out
	p = parse(t, "t.yaml", []byte(own), &userFacts)
	pl, err = compile.Profile(p, &userFacts, compile.Invocation{Args: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range pl.Steps {
		b, ok := s.Do.(*plan.Bind)
		found = found || ok && b.HandBack && b.Source == "/srv/out"
		if s.Op() == plan.OpIDMapUserns {
			t.Errorf("an unprivileged caller's own IDs need no ID-mapped tree: %s", s.Call())
		}
	}
	if !found {
		t.Errorf("no hand-back bind:\n%s", pl)
	}

	sub := "ids: {uid: 1, gid: 1, uidMap: [{inside: 0, outside: 1000, count: 1}, {inside: 1, outside: subuid, count: 10}], gidMap: [{inside: 0, outside: 1000, count: 1}, {inside: 1, outside: subgid, count: 10}]}\n"
	err = compileErr(t, &userFacts, own+sub, compile.Invocation{Args: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), "the command's uid 1 and gid 1 are host IDs 100000 and 100000, not yours (1000, 1000)") {
		t.Errorf("unprivileged, command as a subordinate ID: %v", err)
	}
}
