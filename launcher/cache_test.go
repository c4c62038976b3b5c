package launcher_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cellsandbox/cell/internal/host"
	"github.com/cellsandbox/cell/internal/host/probe"
	"github.com/cellsandbox/cell/launcher"
	"github.com/cellsandbox/cell/spec"
)

// cacheFacts are this host's facts with a working directory of the
// test's, so that the built-in profiles' bind of it is valid.
func cacheFacts(t *testing.T) *host.Facts {
	t.Helper()
	f, err := probe.Host()
	if err != nil {
		t.Fatal(err)
	}
	f.Cwd = t.TempDir()
	return f
}

// TestPlanCache: a second Prepare of the same inputs is a hit whose plan
// prints as the first; any change of an input (the profile's bytes, a
// file it extends, an override, the command, the environment) misses.
func TestPlanCache(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "plans")
	work := t.TempDir()
	parent := filepath.Join(work, "parent.yaml")
	child := filepath.Join(work, "child.yaml")
	write := func(path, text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(parent, "apiVersion: cell/v1\nname: parent\nextends: [default]\nhostname: one\n")
	write(child, "apiVersion: cell/v1\nname: child\nextends: [parent.yaml]\n")
	facts := cacheFacts(t)
	prepare := func(sets []string, args ...string) *launcher.Prepared {
		t.Helper()
		src, err := launcher.Open(child)
		if err != nil {
			t.Fatal(err)
		}
		f := *facts
		p, err := launcher.Prepare(src, sets, launcher.Invocation{Args: args, Cache: dir, Facts: &f})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := prepare(nil, "true")
	if first.Cache != launcher.CacheStored {
		t.Fatalf("first Prepare: cache %s (%s), want stored", first.Cache, first.CacheNote)
	}
	second := prepare(nil, "true")
	if second.Cache != launcher.CacheHit {
		t.Fatalf("second Prepare: cache %s (%s), want a hit", second.Cache, second.CacheNote)
	}
	if second.Plan.String() != first.Plan.String() || second.Plan.Name == first.Plan.Name {
		t.Errorf("the cached plan differs, or has the first's name:\n%s\n%s", first.Plan, second.Plan)
	}
	if got := second.Profile.At("hostname"); got.File != parent {
		t.Errorf("the cached profile lost its positions: hostname at %v", got)
	}
	for _, tt := range []struct {
		name   string
		change func()
		sets   []string
		args   []string
	}{
		{name: "command", args: []string{"false"}},
		{name: "override", sets: []string{"hostname=two"}},
		{name: "environment", change: func() { facts.Env = append(facts.Env, "CELL_TEST_CACHE=1") }},
		{name: "profile", change: func() { write(child, "apiVersion: cell/v1\nname: child\nextends: [parent.yaml]\ndomainname: d\n") }},
		{name: "parent", change: func() { write(parent, "apiVersion: cell/v1\nname: parent\nextends: [default]\nhostname: three\n") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.change != nil {
				tt.change()
			}
			args := tt.args
			if args == nil {
				args = []string{"true"}
			}
			p := prepare(tt.sets, args...)
			if p.Cache == launcher.CacheHit {
				t.Errorf("a changed %s is a hit", tt.name)
			}
			if again := prepare(tt.sets, args...); again.Cache != launcher.CacheHit {
				t.Errorf("the changed %s is not cached: %s (%s)", tt.name, again.Cache, again.CacheNote)
			}
		})
	}
	t.Run("parent read through Load", func(t *testing.T) {
		// A hit reads the files the profile extends through the
		// Source's Load, as a miss does: a refusal there (cell's
		// trust store) is not bypassed.
		src, err := launcher.Open(child)
		if err != nil {
			t.Fatal(err)
		}
		refused := false
		src.Load = func(name, from string) (string, []byte, error) {
			refused = true
			return "", nil, os.ErrPermission
		}
		f := *facts
		if _, err := launcher.Prepare(src, nil, launcher.Invocation{Args: []string{"true"}, Cache: dir, Facts: &f}); err == nil || !refused {
			t.Errorf("a Load that refuses: err %v, Load called %t", err, refused)
		}
	})
	t.Run("vet", func(t *testing.T) {
		// Vet decides on a hit too, with the cached profile.
		src, err := launcher.Open(child)
		if err != nil {
			t.Fatal(err)
		}
		var seen *spec.Profile
		src.Vet = func(p *spec.Profile, _ *host.Facts, err error) error {
			seen = p
			return os.ErrPermission
		}
		f := *facts
		_, err = launcher.Prepare(src, nil, launcher.Invocation{Args: []string{"true"}, Cache: dir, Facts: &f})
		if err != os.ErrPermission || seen == nil || seen.Name != "child" {
			t.Errorf("Vet on a hit: err %v, profile %v", err, seen)
		}
	})
}

// TestPlanCacheForeign: an entry that someone else could have written is
// not used, nor is a directory that others may enter.
func TestPlanCacheForeign(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "plans")
	facts := cacheFacts(t)
	prepare := func() *launcher.Prepared {
		t.Helper()
		src, err := launcher.Open("default")
		if err != nil {
			t.Fatal(err)
		}
		f := *facts
		p, err := launcher.Prepare(src, nil, launcher.Invocation{Args: []string{"true"}, Cache: dir, Facts: &f})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := prepare(); p.Cache != launcher.CacheStored {
		t.Fatalf("cache %s (%s), want stored", p.Cache, p.CacheNote)
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 1 {
		t.Fatalf("cache directory: %v, %v", ents, err)
	}
	entry := filepath.Join(dir, ents[0].Name())
	if err := os.Chmod(entry, 0o622); err != nil {
		t.Fatal(err)
	}
	if p := prepare(); p.Cache == launcher.CacheHit {
		t.Errorf("an entry writable by others is used")
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if p := prepare(); p.Cache != launcher.CacheUncacheable || !strings.Contains(p.CacheNote, "mode 0755") {
		t.Errorf("a cache directory others may enter: cache %s (%s)", p.Cache, p.CacheNote)
	}
	if os.Geteuid() == 0 {
		// Another user's directory.
		if err := os.Chmod(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, 12345, 12345); err != nil {
			t.Fatal(err)
		}
		if p := prepare(); p.Cache != launcher.CacheUncacheable || !strings.Contains(p.CacheNote, "owned by uid 12345") {
			t.Errorf("another user's cache directory: cache %s (%s)", p.Cache, p.CacheNote)
		}
	}
}

// TestPlanCacheNamed: a plan that depends on the sandbox's name (a
// cgroup) is not kept, its parsed profile is: the next Prepare compiles
// it without parsing, and its plan is the one a fresh compile makes.
func TestPlanCacheNamed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "plans")
	facts := cacheFacts(t)
	prepare := func(cache string) *launcher.Prepared {
		t.Helper()
		src, err := launcher.Open("default")
		if err != nil {
			t.Fatal(err)
		}
		f := *facts
		p, err := launcher.Prepare(src, []string{"resources.pids.max=64"}, launcher.Invocation{Args: []string{"true"}, Name: "named-1", Cache: cache, Facts: &f})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := prepare(dir)
	if first.Cache != launcher.CacheStored || !strings.Contains(first.CacheNote, "profile only") {
		t.Fatalf("first Prepare: cache %s (%s), want the profile stored", first.Cache, first.CacheNote)
	}
	second := prepare(dir)
	if second.Cache != launcher.CacheHit || !strings.Contains(second.CacheNote, "profile only") {
		t.Fatalf("second Prepare: cache %s (%s), want a hit of the profile", second.Cache, second.CacheNote)
	}
	fresh := prepare("")
	if second.Plan.String() != fresh.Plan.String() || !strings.Contains(second.Plan.String(), "named-1") {
		t.Errorf("the plan of a profile from the cache differs from a fresh one:\n%s\n%s", second.Plan, fresh.Plan)
	}
}
