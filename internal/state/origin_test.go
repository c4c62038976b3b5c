package state

import (
	"encoding/json"
	"errors"
	"os"
	"testing"
)

// TestOrigin writes an origin as cell run does (the plan's bytes as they
// are, the profile encoded) and reads it back as cell checkpoint does; a
// missing one reads as os.ErrNotExist, which checkpoint waits on.
func TestOrigin(t *testing.T) {
	s, err := Open(t.TempDir() + "/cell")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadOrigin("box"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("origin of a sandbox without one: %v, want os.ErrNotExist", err)
	}
	plan := []byte(`{"version":2,"steps":[{"side":"init","op":"umask","args":{"mask":18}}]}`)
	prof := map[string]any{"name": "box", "hostname": "h\u00e9"}
	if err := s.SaveOrigin("box", plan, prof); err != nil {
		t.Fatal(err)
	}
	o, err := s.ReadOrigin("box")
	if err != nil {
		t.Fatal(err)
	}
	if string(o.Plan) != string(plan) {
		t.Errorf("plan read back %s, want the bytes written %s", o.Plan, plan)
	}
	var got map[string]any
	if err := json.Unmarshal(o.Profile, &got); err != nil || got["hostname"] != "h\u00e9" || got["name"] != "box" {
		t.Errorf("profile read back %s: %v", o.Profile, err)
	}
	if err := s.SaveOrigin("box", nil, prof); err == nil {
		t.Error("an origin without a plan was written")
	}
	if err := s.WriteOrigin("box", Origin{Plan: plan, Profile: []byte(`{"a":`)}); err == nil {
		t.Error("an origin whose profile is not JSON was written")
	}
	if err := s.WriteOrigin("nil", Origin{Plan: plan}); err != nil {
		t.Fatal(err)
	}
	if o, err := s.ReadOrigin("nil"); err != nil || string(o.Profile) != "null" {
		t.Errorf("origin without a profile: %+v %v", o, err)
	}
}
