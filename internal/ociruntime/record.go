package ociruntime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/state"
	"github.com/cellsandbox/cell/launcher/plan"
)

// Statuses of a container, as the runtime spec and runc name them.
const (
	StatusCreated = "created"
	StatusRunning = "running"
	StatusPaused  = "paused"
	StatusStopped = "stopped"
)

// record is what the runtime keeps of a container between commands, in
// ROOT/ID/state.json.
type record struct {
	ID          string            `json:"id"`
	Bundle      string            `json:"bundle"`
	Pid         int               `json:"pid"`
	PidStart    uint64            `json:"pidStart"`
	Created     time.Time         `json:"created"`
	Started     bool              `json:"started,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	OCIVersion  string            `json:"ociVersion"`
	Hooks       *specs.Hooks      `json:"hooks,omitempty"`
	// Process is config.json's process, which start runs.
	Process *specs.Process `json:"process"`
	// Sent is the sandbox's plan exactly as init received it
	// (launcher.Sandbox.SentPlan); Plan is it decoded by plan.Decode, which
	// refuses another cell's plan version: its cgroups, and what the
	// monitor needs to talk to init.
	Sent json.RawMessage `json:"plan"`
	Plan *plan.Plan      `json:"-"`
}

// decodeRecord parses a state record and its plan.
func decodeRecord(b []byte) (*record, error) {
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, err
	}
	p, err := plan.Decode(rec.Sent)
	if err != nil {
		return nil, err
	}
	rec.Plan = p
	return &rec, nil
}

// idPattern is runc's rule for container IDs; it keeps an ID a single
// path element.
var idPattern = regexp.MustCompile(`^[\w+.-]+$`)

func checkID(id string) error {
	if id == "" || id == "." || id == ".." || !idPattern.MatchString(id) || len(id) > 1024 {
		return fmt.Errorf("invalid container id %q: use letters, digits, '_', '+', '-' and '.'", id)
	}
	return nil
}

// dir is the container's state directory.
func (r *Runtime) dir(id string) string { return filepath.Join(r.Root, id) }

// NotExist is the error for an unknown container; callers match its
// text ("does not exist", as runc says it).
type NotExist struct{ ID string }

func (e *NotExist) Error() string { return fmt.Sprintf("container %q does not exist", e.ID) }

// load reads the record of id.
func (r *Runtime) load(id string) (*record, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(r.dir(id), "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, &NotExist{id}
	}
	if err != nil {
		return nil, err
	}
	rec, err := decodeRecord(b)
	if err != nil {
		return nil, fmt.Errorf("container %q: state record: %w", id, err)
	}
	return rec, nil
}

// save writes the record atomically.
func (r *Runtime) save(rec *record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	tmp := filepath.Join(r.dir(rec.ID), "state.json.tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(r.dir(rec.ID), "state.json"))
}

// lock takes the container's lock, which serialises the commands that
// change it; the returned function releases it.
func (r *Runtime) lock(id string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(r.dir(id), "lock"), os.O_RDONLY|os.O_CREATE, 0o600)
	if errors.Is(err, os.ErrNotExist) {
		return nil, &NotExist{id}
	}
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, &os.PathError{Op: "flock", Path: f.Name(), Err: err}
	}
	return func() { f.Close() }, nil
}

// alive reports whether the container's init still runs (a zombie has
// ended: only its parent's wait is missing).
func (rec *record) alive() bool {
	if rec.Pid <= 0 {
		return false
	}
	st, err := state.StartTime(rec.Pid)
	return err == nil && st == rec.PidStart
}

// status is the container's status now.
func (r *Runtime) status(rec *record) string {
	switch {
	case !rec.alive():
		return StatusStopped
	case !rec.Started:
		return StatusCreated
	case rec.Plan.Cgroup != nil && frozen(rec):
		return StatusPaused
	}
	return StatusRunning
}

// State is the runtime spec's state of a container, with runc's extra
// fields that callers read (rootfs, created, owner).
type State struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Status      string            `json:"status"`
	Pid         int               `json:"pid,omitempty"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs,omitempty"`
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

func (r *Runtime) stateOf(rec *record, status string) State {
	s := State{OCIVersion: rec.OCIVersion, ID: rec.ID, Status: status, Bundle: rec.Bundle, Created: rec.Created, Annotations: rec.Annotations}
	if status != StatusStopped {
		s.Pid = rec.Pid
	}
	return s
}
