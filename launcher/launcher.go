package launcher

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cellsandbox/cell/internal/cgroup"
	"github.com/cellsandbox/cell/internal/compile"
	"github.com/cellsandbox/cell/internal/host/probe"
	"github.com/cellsandbox/cell/internal/stamp"
	"github.com/cellsandbox/cell/internal/state"
	"github.com/cellsandbox/cell/launcher/plan"
	"github.com/cellsandbox/cell/profiles"
	"github.com/cellsandbox/cell/spec"
)

// Source is a profile as Prepare and Parse read it: its text, the name
// its positions are reported under, and how the files it extends are
// read. What is parsed is exactly Data and what Load returns, so a
// caller that vets the bytes (cell's trust store) vets what runs.
type Source struct {
	// File names the profile in positions: a path, "builtin:NAME", or
	// "REV:path" for a file read from git.
	File string
	// Data is the profile's YAML, or an OCI bundle's config.json.
	Data []byte
	// Bundle says that Data is the config.json of an OCI bundle, whose
	// relative paths are relative to File's directory.
	Bundle bool
	// Load reads a parent named in extends: name as written, from the
	// file that names it; it returns the parent's file name and text.
	// Nil reads built-ins by name and other files from the file system,
	// relative to the file that names them (LoadParent).
	Load func(name, from string) (file string, data []byte, err error)
	// Vet, when not nil, is the caller's policy on the profile, called
	// once it is parsed (p is nil and err the reason when it did not
	// parse) with the facts it was parsed with. What Vet returns
	// replaces err: a refusal ends Prepare before anything is compiled;
	// it may also reword err, or let a profile pass (nil).
	Vet func(p *spec.Profile, facts *Facts, err error) error
}

// IsBuiltin reports whether name is a built-in profile's name rather
// than a file's: it has no slash and does not end in .yaml, .yml or
// .json.
func IsBuiltin(name string) bool {
	return !strings.Contains(name, "/") && !strings.HasSuffix(name, ".yaml") && !strings.HasSuffix(name, ".yml") && !strings.HasSuffix(name, ".json")
}

// IsOCIConfig reports whether data, read from file, is an OCI bundle's
// config.json: a file of that name, or a JSON object with an ociVersion
// (a config kept under another name, such as old.json and new.json in
// a review). A cell profile written as JSON has apiVersion instead.
func IsOCIConfig(file string, data []byte) bool {
	if filepath.Base(file) == "config.json" {
		return true
	}
	var top map[string]json.RawMessage
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) || json.Unmarshal(data, &top) != nil {
		return false
	}
	_, ok := top["ociVersion"]
	return ok
}

// Open reads the profile that name names: a built-in profile, an OCI
// bundle (a directory holding config.json, or config.json itself), or a
// YAML file. A built-in's name wins over a bundle directory of that name.
// A profile that cannot be read is a *ProfileError.
func Open(name string) (Source, error) {
	builtin := IsBuiltin(name) && slices.Contains(profiles.Names(), name)
	if c, ok := bundleConfig(name); ok && !builtin {
		if !bundlesLinked {
			return Source{}, &ProfileError{fmt.Errorf("%s: OCI bundles are %w", c, ErrNotLinked)}
		}
		data, err := os.ReadFile(c)
		if err != nil {
			return Source{}, &ProfileError{fmt.Errorf("read profile: %w", err)}
		}
		return Source{File: c, Data: data, Bundle: true}, nil
	}
	if IsBuiltin(name) {
		b, err := profiles.Get(name)
		if err != nil {
			return Source{}, &ProfileError{err}
		}
		return Source{File: "builtin:" + name, Data: b}, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return Source{}, &ProfileError{fmt.Errorf("read profile: %w", err)}
	}
	if IsOCIConfig(name, b) {
		if !bundlesLinked {
			return Source{}, &ProfileError{fmt.Errorf("%s: OCI bundles are %w", name, ErrNotLinked)}
		}
		return Source{File: name, Data: b, Bundle: true}, nil
	}
	return Source{File: name, Data: b}, nil
}

// bundleConfig is the config.json of the OCI bundle that path names (a
// directory holding one, or the file itself), as spec/oci's Bundle
// finds it, without linking spec/oci (TestBundleConfig compares them).
func bundleConfig(path string) (string, bool) {
	const configName = "config.json"
	if filepath.Base(path) == configName {
		return path, true
	}
	c := filepath.Join(path, configName)
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		if _, err := os.Stat(c); err == nil {
			return c, true
		}
	}
	return "", false
}

// LoadParent reads a parent named in extends: a built-in name, or a path
// relative to the directory of the file that names it. A built-in
// extends built-ins only.
func LoadParent(name, from string) (string, []byte, error) {
	return LoadParentWith(name, from, func(file string) (string, []byte, error) {
		data, err := os.ReadFile(file)
		return file, data, err
	})
}

// LoadParentWith is LoadParent with read for the files of the host: it
// gets the path and returns the name the file goes by and its bytes.
func LoadParentWith(name, from string, read func(file string) (string, []byte, error)) (string, []byte, error) {
	if IsBuiltin(name) {
		data, err := profiles.Get(name)
		return "builtin:" + name, data, err
	}
	if strings.HasPrefix(from, "builtin:") {
		return "", nil, fmt.Errorf("a built-in profile extends built-ins only")
	}
	file := name
	if !filepath.IsAbs(file) {
		file = filepath.Join(filepath.Dir(from), name)
	}
	return read(file)
}

// Vars is what a profile's ${UID}, ${HOME}, ${PWD}... expand to on the
// host of facts.
func Vars(facts *Facts) spec.Vars {
	return spec.Vars{
		Home: facts.Home, User: facts.User, PWD: facts.Cwd,
		UID: facts.UID, GID: facts.GID, LookupEnv: facts.LookupEnv,
	}
}

// Parse parses and validates src with the --set style overrides
// (KEY=VALUE) for the caller of facts, then applies src.Vet. It does no
// other host I/O than Load's. An invalid profile is a *ProfileError
// around spec.ErrorList.
func Parse(src Source, overrides []string, facts *Facts) (*spec.Profile, error) {
	p, err := parse(src, overrides, facts)
	if err != nil {
		p = nil
	}
	if src.Vet != nil {
		err = src.Vet(p, facts, err)
	}
	if err != nil {
		return nil, classify(err)
	}
	return p, nil
}

func parse(src Source, overrides []string, facts *Facts) (*spec.Profile, error) {
	if src.Bundle {
		if len(overrides) > 0 {
			return nil, &ProfileError{errors.New("--set does not apply to an OCI bundle: edit its config.json")}
		}
		path := src.File
		if i := strings.Index(path, ":"); i >= 0 && !strings.HasPrefix(path, "/") {
			path = path[i+1:] // from git: relative paths are the bundle's
		}
		dir, err := filepath.Abs(filepath.Dir(path))
		if err != nil {
			return nil, err
		}
		return parseBundle(src.File, src.Data, dir)
	}
	load := src.Load
	if load == nil {
		load = LoadParent
	}
	return spec.Parse(src.File, src.Data, spec.Options{Vars: Vars(facts), Sets: overrides, Load: load})
}

// Invocation is what a launch adds to its profile.
type Invocation struct {
	// Args is the command; empty means the profile's process.args.
	Args []string
	// Name names the sandbox (its cgroup, its state record); "" is the
	// profile's name and a random suffix.
	Name string
	// EngineName, instead of Name, names the sandbox as an engine that
	// starts it does, such as an OCI container's cgroup (the last
	// element of linux.cgroupsPath: containerd's and podman's hold 64
	// hex digits, longer than a sandbox name may be). It is held to the
	// rule of a cgroup's name (one path component, cgroup.CheckName)
	// instead of a sandbox name's, so it is the engine's to record: a
	// Store holds sandbox names and refuses one that is not, and Run
	// then runs the sandbox unrecorded or, with cgroups or
	// RequireRecord, not at all.
	EngineName string
	// TTY gives the command a terminal of its own, made in the sandbox's
	// devpts, in a session of its own; Run relays it to Options.Stdin
	// and Options.Stdout.
	TTY bool
	// KeepUpper is a directory that keeps the overlay mounts' upper
	// layers instead of a tmpfs that goes with the sandbox.
	KeepUpper string
	// Pooled compiles the plan of a pool's sandbox (see launcher/pool).
	Pooled bool
	// Detached compiles the plan of a sandbox that outlives the process
	// that starts it, as an OCI runtime's create leaves one for its
	// start: the plan is pooled (init runs every step, then waits for
	// its first command, which Sandbox.Exec or Attached.Exec sends), has
	// no parent-death signal, and only cleanup steps that another
	// process can run by the plan alone (Teardown); a profile that needs
	// other cleanup (a network's or an ID lease's) is refused. See
	// Sandbox.Detach.
	Detached bool
	// Init is the executable that the sandbox's init runs from. "" takes
	// FindInit's: cell-init beside this executable when it is from the
	// same build, else this executable, whose main must then call Init
	// first (Start refuses otherwise).
	Init string
	// Facts are the host facts to compile for; nil probes this host.
	// Prepare adds the facts the profile needs that they lack.
	Facts *Facts
	// Cache is the directory of the caller's plan cache (CacheDir); ""
	// compiles every time.
	Cache string
}

// Prepared is a profile compiled for one launch: the plan that Start
// executes (and that `cell plan` prints), with the profile and the host
// facts it was compiled from.
type Prepared struct {
	Plan    *plan.Plan
	Profile *spec.Profile
	Facts   *Facts
	// Cache is what the plan cache did (Invocation.Cache); CacheNote
	// says why a plan was not kept, or why an entry did not fit.
	Cache     CacheState
	CacheNote string
	// selfInit is set when init is this executable re-executed.
	selfInit bool
}

// Prepare probes the host (unless inv.Facts are given), parses and
// validates src with overrides, lets src.Vet decide, probes what the
// profile needs beyond the basic facts, and compiles the plan once. With
// inv.Cache, a plan compiled before from the same inputs is taken from
// the cache instead of being parsed and compiled again (see CacheState);
// src.Vet decides on a hit as on a miss. An invalid profile, or one that
// this host cannot honour, is a *ProfileError; a failure to probe the
// host is returned as it is.
func Prepare(src Source, overrides []string, inv Invocation) (*Prepared, error) {
	facts := inv.Facts
	if facts == nil {
		var err error
		if facts, err = probe.Host(); err != nil {
			return nil, err
		}
		stamp.Mark("probe")
	}
	init := inv.Init
	if init == "" {
		init, _ = FindInit()
	}
	load := src.Load
	if load == nil {
		load = LoadParent
	}
	out := &Prepared{Cache: CacheOff, selfInit: init == ""}
	var pc *planCache
	if inv.Cache != "" {
		var err error
		if pc, err = openCache(inv.Cache, src, overrides, inv, init, facts); err != nil {
			out.Cache, out.CacheNote = CacheUncacheable, err.Error()
		} else if e, err := pc.load(); err == nil {
			pl, probed, err := e.use(load, facts)
			if err == nil {
				return out.hit(src, inv, init, e.Profile, pl, probed)
			}
			out.Cache, out.CacheNote = CacheMissed, err.Error()
		}
	}
	var parents []parentDep
	recorded := src
	recorded.Load = recordParents(load, &parents)
	p, err := Parse(recorded, overrides, facts)
	if err != nil {
		return nil, err
	}
	n := needsOf(p, facts)
	var devices []deviceDep
	dev := facts.Device
	facts.Device = recordDevices(dev, &devices)
	pl, err := compileFor(p, facts, inv, init)
	facts.Device = dev
	if err != nil {
		return nil, err
	}
	out.Plan, out.Profile, out.Facts = pl, p, facts
	if pc != nil {
		out.keep(pc, inv, init, n, parents, devices)
	}
	return out, nil
}

// hit is the Prepared of a cache entry that fits; pl is nil for an entry
// of the profile alone, whose plan is compiled here for this sandbox.
func (out *Prepared) hit(src Source, inv Invocation, init string, p *spec.Profile, pl *plan.Plan, facts *Facts) (*Prepared, error) {
	if src.Vet != nil {
		if err := src.Vet(p, facts, nil); err != nil {
			return nil, classify(err)
		}
	}
	note := ""
	if pl == nil {
		// The trace's cache phase is the entry's read; compiling
		// is its own.
		stamp.Mark("cache")
		var err error
		if pl, err = compileFor(p, facts, inv, init); err != nil {
			return nil, err
		}
		note = profileOnly
	} else {
		name, err := nameOf(inv, p.Name)
		if err != nil {
			return nil, err
		}
		pl.Name = name
		stamp.Mark("cache")
	}
	out.Plan, out.Profile, out.Facts, out.Cache, out.CacheNote = pl, p, facts, CacheHit, note
	return out, nil
}

// keep stores the plan just compiled for inv with init in the cache,
// when it can be kept.
func (out *Prepared) keep(pc *planCache, inv Invocation, init string, n needs, parents []parentDep, devices []deviceDep) {
	// The same profile compiled under another name tells whether the
	// plan depends on the name; a profile with what is named after the
	// sandbox (cgroups, a bridge, leased IDs) does, and is not compiled
	// a second time to find out.
	var other *plan.Plan
	if !namesItsSandbox(out.Profile, out.Facts) {
		var err error
		other, err = compileNamed(out.Profile, out.Facts, inv, "x"+out.Plan.Name, init)
		if err != nil {
			out.Cache, out.CacheNote = CacheUncacheable, err.Error()
			return
		}
	}
	e, why := entryFor(out.Profile, out.Plan, other, n, out.Facts, parents, devices)
	if e == nil {
		out.Cache, out.CacheNote = CacheUncacheable, why
		return
	}
	if err := pc.store(e); err != nil {
		out.Cache, out.CacheNote = CacheUncacheable, err.Error()
		return
	}
	if e.Plan == nil {
		out.CacheNote = profileOnly
	}
	if out.Cache != CacheMissed {
		out.Cache = CacheStored
	}
}

// Compile probes the facts that p needs and facts lack, then compiles p
// for inv; selfInit reports that init is this executable re-executed.
// Prepare is Parse and Compile; Compile alone is for a caller that
// parsed p itself (a pool compiles one plan per sandbox).
func Compile(p *spec.Profile, facts *Facts, inv Invocation) (pl *plan.Plan, selfInit bool, err error) {
	init := inv.Init
	if init == "" {
		init, _ = FindInit()
	}
	pl, err = compileFor(p, facts, inv, init)
	return pl, init == "", err
}

// compileFor probes what p needs and compiles it with init.
func compileFor(p *spec.Profile, facts *Facts, inv Invocation, init string) (*plan.Plan, error) {
	if err := Probe(p, facts); err != nil {
		return nil, err
	}
	name, err := nameOf(inv, p.Name)
	if err != nil {
		return nil, err
	}
	pl, err := compileNamed(p, facts, inv, name, init)
	if err != nil {
		return nil, err
	}
	stamp.Mark("compile")
	return pl, nil
}

// nameOf is the name of the sandbox that inv launches from the profile
// named profile: inv.Name, or inv.EngineName held to a cgroup name's
// rule, or a new one.
func nameOf(inv Invocation, profile string) (string, error) {
	if inv.EngineName == "" {
		return state.Name(inv.Name, profile)
	}
	if inv.Name != "" {
		return "", errors.New("launch: Invocation.Name and EngineName are both set: a sandbox has one name")
	}
	if err := cgroup.CheckName(inv.EngineName); err != nil {
		return "", fmt.Errorf("engine name: %w", err)
	}
	return inv.EngineName, nil
}

// compileNamed compiles p as the sandbox name with init, and makes the
// plan of a detached sandbox from it when inv asks for one.
func compileNamed(p *spec.Profile, facts *Facts, inv Invocation, name, init string) (*plan.Plan, error) {
	pl, err := compile.Profile(p, facts, compile.Invocation{
		Args: inv.Args, Name: name, TTY: inv.TTY, KeepUpper: inv.KeepUpper, Pooled: inv.Pooled || inv.Detached,
		Detached: inv.Detached, Self: init,
	})
	if err != nil {
		return nil, classify(err)
	}
	if inv.Detached {
		if err := checkDetached(pl); err != nil {
			return nil, err
		}
	}
	return pl, nil
}

// HostFacts probes the facts of this host that every profile is
// compiled against (the caller's ids, home and working directory, the
// kernel's features): what Prepare probes when Invocation.Facts is nil.
// Compile adds, through Probe, what a profile needs beyond them.
func HostFacts() (*Facts, error) { return probe.Host() }

// Probe fills the facts that compiling p needs and that are not probed
// for every profile (probe.Host): cgroups, Landlock, the network's
// helpers, the caller's subordinate IDs and the pool that outside: pick
// leases from. Compile probes through it, and so must any caller that
// compiles a profile itself, so that none compiles against facts
// another would have known.
func Probe(p *spec.Profile, facts *Facts) error {
	if p.NeedsCgroup(facts.NestedUserNS) && facts.Cgroup == nil {
		if err := probe.Cgroup(facts); err != nil {
			return err
		}
	}
	if p.Security.Landlock.Mode != spec.LandlockOff {
		probe.Landlock(facts)
	}
	if m := p.Network.Mode; m == spec.NetBridge || m == spec.NetUser || p.Network.Egress.HasDomains() {
		probe.Network(facts)
	}
	if facts.Rootless() && (len(p.IDs.UIDMap) > 0 || len(p.IDs.GIDMap) > 0) && facts.SubIDs == nil {
		if err := probe.SubIDs(facts); err != nil {
			return err
		}
	}
	if !facts.Rootless() && p.IDs.Picks() && facts.IDPool == nil {
		if err := probe.IDPool(facts); err != nil {
			return err
		}
	}
	return nil
}
