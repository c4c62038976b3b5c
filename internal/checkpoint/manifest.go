package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/launcher/plan"
)

// ManifestFile is the manifest's name in a checkpoint directory.
const ManifestFile = "manifest.json"

// Format is the manifest's format version.
const Format = 1

// Manifest describes a checkpoint: what was checkpointed, from what, and
// what a restore must provide and check.
type Manifest struct {
	Format int `json:"format"`
	// Name is the sandbox's name when it was checkpointed.
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	// Profile is the profile the sandbox was built from (after extends
	// and --set), as JSON; ProfileSHA256 its hash.
	Profile       json.RawMessage `json:"profile"`
	ProfileSHA256 string          `json:"profileSHA256"`
	// Plan is the plan the sandbox was built from; PlanSHA256 the hash
	// of its JSON as written here.
	Plan       json.RawMessage `json:"plan"`
	PlanSHA256 string          `json:"planSHA256"`
	// Host is what the images depend on.
	Host HostFacts `json:"host"`
	// CRIU is the version of criu that wrote the images.
	CRIU string `json:"criu"`
	// Images is the final dump's directory; PreDumps the pre-dumps it
	// builds on, oldest first (relative to the checkpoint directory).
	Images   string   `json:"images"`
	PreDumps []string `json:"preDumps,omitempty"`
	// External is what the images take from outside the sandbox.
	External External `json:"external"`
	// Network is a bridged sandbox's address and hardware address, nil
	// without a bridge.
	Network *Network `json:"network,omitempty"`
	// LeftRunning says the sandbox went on running after the dump.
	LeftRunning bool `json:"leftRunning"`
	// Dump is CRIU's account of the final dump.
	Dump DumpStats `json:"dump"`
	// Files are the SHA-256 of every file under the directory but the
	// manifest, by relative path; of memory pages only the size
	// ("size:N"), and of CRIU's parent links the target ("symlink:T").
	Files map[string]string `json:"files"`
}

// HostFacts are the facts of the host a checkpoint depends on.
type HostFacts struct {
	Kernel string `json:"kernel"`
	Arch   string `json:"arch"`
	// CgroupV2 says the sandbox's cgroup (when it has one) is a v2 leaf.
	CgroupV2 bool `json:"cgroupV2"`
}

// External lists the descriptors that init held to the world outside:
// a restore hands new ones in their place.
type External struct {
	// InitSocket is init's socket to cell (CRIU's key socket:[INO]) and
	// its descriptor number in init.
	InitSocket   string `json:"initSocket"`
	InitSocketFD int    `json:"initSocketFD"`
	// Stdio are the keys of init's descriptors 0, 1 and 2 (pipe:[INO],
	// socket:[INO] or tty[RDEV:DEV]); a restore gives its own 0, 1 and 2
	// in their place. "" where init's descriptor was /dev/null.
	Stdio [3]string `json:"stdio"`
	// Console says the command's terminal was a pty of the sandbox's
	// devpts whose master cell held: CRIU makes a new master on restore.
	Console bool `json:"console"`
	// Init is CRIU's key of init's executable (file[MNT_ID:INODE]), cell's
	// init on the host's root, which the sandbox detached; InitSHA256
	// its hash: a restore hands the same init back.
	Init       string `json:"init"`
	InitSHA256 string `json:"initSHA256"`
}

// DumpStats is CRIU's account of a dump.
type DumpStats struct {
	// FrozenMicros is how long the processes were frozen.
	FrozenMicros uint32 `json:"frozenMicros"`
	// PagesWritten is the number of memory pages written (4 KiB each);
	// PagesSkipped those a pre-dump had written and that had not
	// changed since.
	PagesWritten uint64 `json:"pagesWritten"`
	PagesSkipped uint64 `json:"pagesSkipped"`
	// Micros is the whole dump's wall time as cell saw it.
	Micros int64 `json:"micros"`
}

// hostFacts returns this host's facts.
func hostFacts() HostFacts {
	var u unix.Utsname
	_ = unix.Uname(&u)
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return HostFacts{Kernel: unix.ByteSliceToString(u.Release[:]), Arch: runtime.GOARCH, CgroupV2: err == nil}
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func fileSHA(f *os.File) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashFiles returns the SHA-256 of every regular file under dir but the
// manifest. Anything else (a link, a device) is an error: CRIU writes
// only files and directories.
func hashFiles(dir string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.IsDir():
			return nil
		case d.Type()&fs.ModeSymlink != 0 && d.Name() == "parent":
			// CRIU's link from a dump to the pre-dump it builds on:
			// relative, and inside the checkpoint.
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			to := filepath.Join(filepath.Dir(p), target)
			if filepath.IsAbs(target) || !strings.HasPrefix(to, filepath.Clean(dir)+"/") {
				return fmt.Errorf("%s: a link to %s, outside the checkpoint", p, target)
			}
			out[rel] = "symlink:" + target
			return nil
		case !d.Type().IsRegular():
			return fmt.Errorf("%s: not a regular file", p)
		case rel == ManifestFile:
			return nil
		}
		if isPages(d.Name()) {
			// Memory pages: the processes' own, which they could have
			// written anything to anyway; the isolation (credentials,
			// seccomp filters, namespaces, mounts) is in the other
			// images, which are hashed. Hashing every page made a
			// restore of 240 MiB take 40 s more under emulation.
			info, err := d.Info()
			if err != nil {
				return err
			}
			out[rel] = fmt.Sprintf("size:%d", info.Size())
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		out[rel] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	return out, err
}

// isPages reports whether a file of CRIU's holds memory pages.
func isPages(name string) bool {
	return strings.HasPrefix(name, "pages-") && strings.HasSuffix(name, ".img")
}

// writeManifest writes m into dir, atomically.
func writeManifest(dir string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+ManifestFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, ManifestFile))
}

// Read reads and checks the checkpoint in dir: the manifest's format,
// the hashes of its profile and plan, the plan's own rules (plan.Check),
// and every file's hash, with no file missing and none added. It returns
// the manifest and its plan.
func Read(dir string) (*Manifest, *plan.Plan, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: %s: %w", dir, ManifestFile, err)
	}
	if m.Format != Format {
		return nil, nil, fmt.Errorf("checkpoint %s: manifest format %d, cell reads %d", dir, m.Format, Format)
	}
	// The hashes are of the compact JSON that cell run kept; the
	// manifest holds it indented.
	for _, raw := range []*json.RawMessage{&m.Profile, &m.Plan} {
		var b bytes.Buffer
		if err := json.Compact(&b, *raw); err != nil {
			return nil, nil, fmt.Errorf("checkpoint %s: %s: %w", dir, ManifestFile, err)
		}
		*raw = b.Bytes()
	}
	if got := sha(m.Profile); got != m.ProfileSHA256 {
		return nil, nil, fmt.Errorf("checkpoint %s: the profile's hash is %s, the manifest says %s: the manifest was changed", dir, got, m.ProfileSHA256)
	}
	if got := sha(m.Plan); got != m.PlanSHA256 {
		return nil, nil, fmt.Errorf("checkpoint %s: the plan's hash is %s, the manifest says %s: the manifest was changed", dir, got, m.PlanSHA256)
	}
	var p plan.Plan
	if err := json.Unmarshal(m.Plan, &p); err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: plan: %w", dir, err)
	}
	if err := p.Check(); err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: plan: %w", dir, err)
	}
	if bl := Blockers(&p); len(bl) > 0 {
		return nil, nil, fmt.Errorf("checkpoint %s: its plan cannot be restored: %s", dir, strings.Join(bl, "; "))
	}
	if err := checkNetwork(&m, &p); err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	files, err := hashFiles(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	var bad []string
	for f, h := range m.Files {
		switch got, ok := files[f]; {
		case !ok:
			bad = append(bad, f+" is missing")
		case got != h:
			bad = append(bad, f+" was changed")
		}
	}
	for f := range files {
		if _, ok := m.Files[f]; !ok {
			bad = append(bad, f+" was added")
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return nil, nil, fmt.Errorf("checkpoint %s: not as it was written: %s", dir, strings.Join(bad, ", "))
	}
	if m.Host.Arch != runtime.GOARCH {
		return nil, nil, fmt.Errorf("checkpoint %s: written on %s, this is %s", dir, m.Host.Arch, runtime.GOARCH)
	}
	return &m, &p, nil
}
