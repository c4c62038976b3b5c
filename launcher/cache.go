package launcher

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/codec"
	"github.com/cellsandbox/cell/internal/host/probe"
	"github.com/cellsandbox/cell/internal/state"
	"github.com/cellsandbox/cell/launcher/plan"
	"github.com/cellsandbox/cell/spec"
)

// The plan cache keeps what Prepare compiled, so that a launch of the
// same profile, with the same overrides, invocation and host facts, skips
// parsing, validating and compiling it (issue 16). An entry is a file
// named by the SHA-256 of everything Prepare reads before it parses (the
// executable, the profile's bytes, the overrides, the invocation and the
// host facts, the environment among them), and it records what was read
// while parsing and compiling: each file the profile extends (read again
// through Source.Load, and compared by its SHA-256), the probes the
// profile needed (run again, and the facts compared), and each device
// number looked up. Any difference is a miss. Source.Vet runs on a hit as
// on a miss, with the profile decoded from the entry.
//
// The directory is the caller's own (state.CheckDir's rules: owned by
// the effective user, mode 0700, in a parent nobody else can replace it
// in), and an entry is used only when it is a regular file of that user
// that nobody else can write: a cache is never shared between users.

// cacheVersion changes with the entry's format.
const cacheVersion = 4

// maxEntries bounds the cache: past it, the oldest entries go.
const maxEntries = 64

// maxEntrySize bounds what load reads of an entry (the default profile's
// is ~40 KB).
const maxEntrySize = 16 << 20

// profileOnly is the CacheNote of an entry that keeps the profile but not
// the plan, which depends on the sandbox's name.
const profileOnly = "the parsed profile only: its plan depends on the sandbox's name, and is compiled for each"

// CacheState says what the plan cache did for one Prepare.
type CacheState string

// The states of the plan cache. Off: no cache directory was given. Hit:
// the plan came from the cache, or, for a plan that depends on the
// sandbox's name (cgroups, a bridge, leased IDs), the parsed and validated
// profile did and the plan was compiled from it (CacheNote says so).
// Stored: it was compiled and kept (or its profile, as for a hit).
// Uncacheable: it was compiled and not kept (Prepared.CacheNote says
// why). Missed: an entry was found and did not fit (CacheNote says why),
// and the new plan replaced it.
const (
	CacheOff         CacheState = "off"
	CacheHit         CacheState = "hit"
	CacheStored      CacheState = "stored"
	CacheUncacheable CacheState = "not cacheable"
	CacheMissed      CacheState = "stale"
)

// CacheDir is the plan cache of the effective user euid whose runtime
// directory is runtime ($XDG_RUNTIME_DIR): "plans" in the state
// directory (state.Dir).
func CacheDir(euid int, runtime string) (string, error) {
	dir, err := state.Dir(euid, runtime)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "plans"), nil
}

// CacheEntries checks the plan cache dir as Prepare does and counts its
// plans; an error wrapping fs.ErrNotExist is a cache not yet made.
func CacheEntries(dir string) (int, error) {
	if _, err := os.Lstat(dir); err != nil {
		return 0, err
	}
	if err := state.CheckDir(dir, os.Geteuid()); err != nil {
		return 0, err
	}
	ents, err := os.ReadDir(dir)
	n := 0
	for _, e := range ents {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			n++
		}
	}
	return n, err
}

// parentDep is a file the profile extends, as Load returned it.
type parentDep struct {
	Name, From, File string
	Sum              [32]byte
}

// deviceDep is a device number that compiling looked up.
type deviceDep struct {
	Path         string
	Major, Minor uint32
	Err          string
}

// needs are the probes beyond probe.Host that a profile needed.
type needs struct {
	Cgroup, Landlock, Network, SubIDs, IDPool bool
}

// cacheEntry is one cached plan.
type cacheEntry struct {
	Version int
	Parents []parentDep
	Devices []deviceDep
	Needs   needs
	// Facts is the hash of the facts after the probes of Needs.
	Facts   [32]byte
	Profile *spec.Profile
	// Plan is the plan in plan's own versioned encoding, the bytes init
	// receives, or nil when the plan depends on the sandbox's name: the
	// entry keeps the parsed profile, and a hit compiles it. Plan
	// is in a one-pass decoding (~0.25 ms), and a plan of an
	// older encoding version is refused by it, which makes the entry
	// stale. entryFor keeps only a plan that decodes to one that prints
	// and encodes exactly as the compiled one.
	Plan []byte
}

// planCache is the cache of one Prepare.
type planCache struct {
	dir  string
	euid int
	key  string
}

// openCache makes (or checks) dir as the plan cache of the effective
// user; the key is that of the inputs of one Prepare.
func openCache(dir string, src Source, overrides []string, inv Invocation, init string, facts *Facts) (*planCache, error) {
	euid := os.Geteuid()
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return nil, fmt.Errorf("plan cache: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("plan cache: %w", err)
	}
	if err := state.CheckDir(dir, euid); err != nil {
		return nil, fmt.Errorf("plan cache: %w", err)
	}
	exe, err := exeID()
	if err != nil {
		return nil, err
	}
	fj, err := factsJSON(facts)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	// Each input is written with its length, so that no two sets of
	// inputs write the same bytes.
	field := func(b []byte) { fmt.Fprintf(h, "%d:", len(b)); h.Write(b) }
	field([]byte(fmt.Sprint(cacheVersion)))
	field([]byte(exe))
	field([]byte(src.File))
	field(src.Data)
	field([]byte(fmt.Sprint(src.Bundle)))
	for _, list := range [][]string{overrides, {"--"}, inv.Args, {"--"}} {
		for _, s := range list {
			field([]byte(s))
		}
	}
	field([]byte(fmt.Sprint(inv.TTY, inv.Pooled)))
	if inv.Detached {
		// Written only when set, so that the keys of the plans cached
		// before Detached existed stay as they were.
		field([]byte("detached"))
	}
	field([]byte(inv.KeepUpper))
	field([]byte(init))
	field(fj)
	return &planCache{dir: dir, euid: euid, key: hex.EncodeToString(h.Sum(nil))}, nil
}

// exeID identifies this process's executable, whose code compiled the
// plan: a rebuilt or replaced cell is another cache key.
func exeID() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	var st unix.Stat_t
	if err := unix.Stat(self, &st); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s %d:%d %d %d.%d", self, st.Dev, st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec), nil
}

// factsJSON is the facts' JSON, without the device lookup (a function,
// recorded per call instead).
func factsJSON(f *Facts) ([]byte, error) {
	return json.Marshal(struct {
		*Facts
		// Device hides the function of the same name (a field
		// tagged "-" would not).
		Device *struct{} `json:"Device,omitempty"`
	}{Facts: f})
}

func (c *planCache) path() string { return filepath.Join(c.dir, c.key) }

// load reads the entry of the key, when there is one that the caller
// owns and nobody else can write.
func (c *planCache) load() (*cacheEntry, error) {
	f, err := os.OpenFile(c.path(), os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || int(st.Uid) != c.euid || st.Mode&0o077 != 0 {
		return nil, fmt.Errorf("%s is not a private file of uid %d", c.path(), c.euid)
	}
	// Read at its size in one buffer: io.ReadAll's doubling buffers
	// took 0.5 ms of a hit (fresh heap pages for each) for a 40 KB
	// entry, 0.1 ms this way.
	if st.Size > maxEntrySize {
		return nil, fmt.Errorf("%s: %d bytes, more than an entry's %d", c.path(), st.Size, maxEntrySize)
	}
	b := make([]byte, st.Size)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, err
	}
	var e cacheEntry
	if err := codec.Unmarshal(b, &e); err != nil {
		return nil, err
	}
	if e.Version != cacheVersion || e.Profile == nil {
		return nil, errors.New("an entry of another format")
	}
	return &e, nil
}

// use checks that e still fits: the files the profile extends read the
// same through load, the profile's probes find the same facts, the
// devices have the same numbers. It returns the plan and the probed
// facts.
func (e *cacheEntry) use(load func(name, from string) (string, []byte, error), facts *Facts) (*plan.Plan, *Facts, error) {
	for _, d := range e.Parents {
		file, data, err := load(d.Name, d.From)
		if err != nil {
			return nil, nil, err
		}
		if file != d.File || sha256.Sum256(data) != d.Sum {
			return nil, nil, fmt.Errorf("%s changed", d.File)
		}
	}
	probed := *facts
	if err := runProbes(e.Needs, &probed); err != nil {
		return nil, nil, err
	}
	fj, err := factsJSON(&probed)
	if err != nil {
		return nil, nil, err
	}
	if sha256.Sum256(fj) != e.Facts {
		return nil, nil, errors.New("the host's facts changed")
	}
	for _, d := range e.Devices {
		maj, min, err := probed.Device(d.Path)
		if maj != d.Major || min != d.Minor || errString(err) != d.Err {
			return nil, nil, fmt.Errorf("device %s changed", d.Path)
		}
	}
	if e.Plan == nil {
		return nil, &probed, nil
	}
	pl, err := plan.Decode(e.Plan)
	if err != nil {
		return nil, nil, err
	}
	return pl, &probed, nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// store keeps e under the key, written whole or not at all, and removes
// the oldest entries past maxEntries.
func (c *planCache) store(e *cacheEntry) error {
	b, err := codec.Marshal(e)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(c.dir, ".tmp-")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), c.path())
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	c.prune()
	return nil
}

// prune removes the oldest entries past maxEntries. Other launches
// store and prune the same directory at the same time: an entry may be
// gone between the listing and its stat, and another writer's temporary
// file is not an entry (removing it would fail that writer's rename).
func (c *planCache) prune() {
	ents, err := os.ReadDir(c.dir)
	if err != nil || len(ents) <= maxEntries {
		return
	}
	type aged struct {
		name string
		mod  int64
	}
	var all []aged
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			continue
		}
		if fi, err := e.Info(); err == nil {
			all = append(all, aged{e.Name(), fi.ModTime().UnixNano()})
		}
	}
	if len(all) <= maxEntries {
		return
	}
	sort.Slice(all, func(i, j int) bool { return all[i].mod < all[j].mod })
	for _, a := range all[:len(all)-maxEntries] {
		os.Remove(filepath.Join(c.dir, a.name))
	}
}

// needsOf are the probes that Probe runs for p.
func needsOf(p *spec.Profile, facts *Facts) needs {
	return needs{
		Cgroup:   p.NeedsCgroup(facts.NestedUserNS) && facts.Cgroup == nil,
		Landlock: p.Security.Landlock.Mode != spec.LandlockOff,
		Network:  p.Network.Mode == spec.NetBridge || p.Network.Mode == spec.NetUser,
		SubIDs:   facts.Rootless() && (len(p.IDs.UIDMap) > 0 || len(p.IDs.GIDMap) > 0) && facts.SubIDs == nil,
		IDPool:   !facts.Rootless() && p.IDs.Picks() && facts.IDPool == nil,
	}
}

// runProbes runs the probes of n on facts.
func runProbes(n needs, facts *Facts) error {
	if n.Cgroup {
		if err := probe.Cgroup(facts); err != nil {
			return err
		}
	}
	if n.Landlock {
		probe.Landlock(facts)
	}
	if n.Network {
		probe.Network(facts)
	}
	if n.SubIDs {
		if err := probe.SubIDs(facts); err != nil {
			return err
		}
	}
	if n.IDPool {
		if err := probe.IDPool(facts); err != nil {
			return err
		}
	}
	return nil
}

// entryFor is the cache entry of a plan just compiled, or why it cannot
// be kept: a plan that depends on the sandbox's name (cgroups, a bridge,
// leased IDs: other is nil, or compiled under another name and differs)
// is not kept, since every launch has a name of its own, but its parsed
// profile is; a plan or profile that would not decode to the same value
// is not kept at all.
func entryFor(p *spec.Profile, pl *plan.Plan, other *plan.Plan, n needs, facts *Facts, parents []parentDep, devices []deviceDep) (*cacheEntry, string) {
	var pj []byte
	if other != nil {
		var err error
		if pj, err = json.Marshal(pl); err != nil {
			return nil, err.Error()
		}
		o := *other
		o.Name = pl.Name
		oj, err := json.Marshal(&o)
		if err != nil {
			return nil, err.Error()
		}
		if !bytes.Equal(pj, oj) {
			pj = nil // the plan depends on the sandbox's name
		}
	}
	if pj != nil {
		back, err := plan.Decode(pj)
		if err != nil {
			return nil, "the plan does not decode: " + err.Error()
		}
		if bj, err := json.Marshal(back); err != nil || !bytes.Equal(bj, pj) || back.String() != pl.String() {
			return nil, "the plan does not decode to the same plan"
		}
	}
	pb, err := p.MarshalBinary()
	if err != nil {
		return nil, "the profile does not encode: " + err.Error()
	}
	var pback spec.Profile
	if err := pback.UnmarshalBinary(pb); err != nil || !reflect.DeepEqual(&pback, p) {
		return nil, "the profile does not decode to the same profile"
	}
	fj, err := factsJSON(facts)
	if err != nil {
		return nil, err.Error()
	}
	return &cacheEntry{Version: cacheVersion, Parents: parents, Devices: devices, Needs: n, Facts: sha256.Sum256(fj), Profile: p, Plan: pj}, ""
}

// namesItsSandbox reports what makes p's plan depend on the sandbox's
// name: cgroups (named after it), a bridge (its veth and lease) or
// leased IDs. Another dependence is found by compiling twice (keep).
func namesItsSandbox(p *spec.Profile, facts *Facts) bool {
	return p.NeedsCgroup(facts.NestedUserNS) || p.Network.Mode == spec.NetBridge || p.IDs.Picks()
}

// recordParents wraps load so that it records each file it returns.
func recordParents(load func(name, from string) (string, []byte, error), into *[]parentDep) func(name, from string) (string, []byte, error) {
	return func(name, from string) (string, []byte, error) {
		file, data, err := load(name, from)
		if err == nil {
			*into = append(*into, parentDep{Name: name, From: from, File: file, Sum: sha256.Sum256(data)})
		}
		return file, data, err
	}
}

// recordDevices wraps a device lookup so that it records each answer.
func recordDevices(dev func(string) (uint32, uint32, error), into *[]deviceDep) func(string) (uint32, uint32, error) {
	if dev == nil {
		return nil
	}
	return func(path string) (uint32, uint32, error) {
		maj, min, err := dev(path)
		*into = append(*into, deviceDep{Path: path, Major: maj, Minor: min, Err: errString(err)})
		return maj, min, err
	}
}
