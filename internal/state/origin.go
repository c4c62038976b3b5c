package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Origin is what a running sandbox was built from: cell run keeps it
// beside the sandbox's record (Store.Origin names the file), and a
// checkpoint copies it into its manifest. It lives here, not with the
// checkpoint code, so that the launch path keeps it without linking
// CRIU's RPC.
type Origin struct {
	Profile json.RawMessage `json:"profile"`
	Plan    json.RawMessage `json:"plan"`
}

// SaveOrigin keeps the plan and profile of a running sandbox for cell
// checkpoint: planJSON is the plan as init received it (the bytes cell
// plan --json prints, compact: sandbox.Sandbox.SentPlan, not encoded
// again), the profile is written as JSON. Without it a checkpoint of the
// sandbox is refused, never made from a plan compiled again (the host or
// the files may have changed since).
func (s *Store) SaveOrigin(name string, planJSON []byte, profile any) error {
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
	return s.WriteOrigin(name, Origin{Profile: prof, Plan: planJSON})
}

// WriteOrigin writes o as name's origin, atomically. Its two fields are
// JSON already: they are joined as they are, not marshalled again (which
// would compact and check a plan of some 40 KB once more on the launch).
func (s *Store) WriteOrigin(name string, o Origin) error {
	if len(o.Plan) == 0 || !json.Valid(o.Profile) && len(o.Profile) > 0 {
		return errors.New("origin: no plan, or a profile that is not JSON")
	}
	prof := []byte(o.Profile)
	if len(prof) == 0 {
		prof = []byte("null")
	}
	b := make([]byte, 0, len(prof)+len(o.Plan)+24)
	b = append(append(append(b, `{"profile":`...), prof...), `,"plan":`...)
	b = append(append(b, o.Plan...), '}')
	path := s.Origin(name)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// ReadOrigin reads the origin of name: a regular file of the caller's
// that nobody else may write, as the record itself.
func (s *Store) ReadOrigin(name string) (*Origin, error) {
	path := s.Origin(name)
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("sandbox %s has no plan kept beside its record (%s): it was started by a cell without checkpoints: %w", name, path, os.ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var fs unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &fs); err != nil {
		return nil, err
	}
	if fs.Mode&unix.S_IFMT != unix.S_IFREG || int(fs.Uid) != os.Geteuid() || fs.Mode&0o022 != 0 {
		return nil, &ForeignError{Path: path, UID: int(fs.Uid), EUID: os.Geteuid(), Mode: fs.Mode & 0o7777}
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
