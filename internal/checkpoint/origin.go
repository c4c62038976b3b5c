package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/state"
)

// OriginFile is where a running sandbox's origin is kept, beside its
// record (state.Store.Delete removes it with the record).
func OriginFile(st *state.Store, name string) string {
	return st.Origin(name)
}

// SaveOrigin keeps the plan and profile of a running sandbox for cell
// checkpoint: planJSON is the plan as init received it (the bytes cell
// plan --json prints, compact: sandbox.Sandbox.SentPlan, not encoded
// again), the profile is written as JSON. Without it a checkpoint of the
// sandbox is refused, never made from a plan compiled again (the host or
// the files may have changed since).
func SaveOrigin(st *state.Store, name string, planJSON []byte, profile any) error {
	if len(planJSON) == 0 {
		return errors.New("no plan to keep")
	}
	var prof []byte
	if profile != nil {
		var err error
		if prof, err = json.Marshal(profile); err != nil {
			return err
		}
	}
	return WriteOrigin(st, name, Origin{Profile: prof, Plan: planJSON})
}

// WriteOrigin writes o as name's origin, atomically.
func WriteOrigin(st *state.Store, name string, o Origin) error {
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	path := OriginFile(st, name)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// ReadOrigin reads the origin of name: a regular file of the caller's
// that nobody else may write, as the record itself.
func ReadOrigin(st *state.Store, name string) (*Origin, error) {
	path := OriginFile(st, name)
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("sandbox %s has no plan kept beside its record (%s): it was started by a cell without checkpoints", name, path)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var s unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &s); err != nil {
		return nil, err
	}
	if s.Mode&unix.S_IFMT != unix.S_IFREG || int(s.Uid) != os.Geteuid() || s.Mode&0o022 != 0 {
		return nil, &state.ForeignError{Path: path, UID: int(s.Uid), EUID: os.Geteuid(), Mode: s.Mode & 0o7777}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	var o Origin
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &o, nil
}

// Load reads and checks the checkpoint in dir (Read) and returns what
// cell restore does with it, for a sandbox named name ("" keeps the
// checkpointed one's). cell plan --restore prints this plan and cell
// restore runs this plan: both come from here.
func Load(dir, name string) (*RestorePlan, error) {
	m, pl, err := Read(dir)
	if err != nil {
		return nil, err
	}
	if name != "" {
		if err := state.ValidName(name); err != nil {
			return nil, err
		}
	}
	return RestorePlanOf(m, Rename(pl, name), dir), nil
}
