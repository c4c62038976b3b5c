package sandbox

import (
	"errors"
	"strings"
	"testing"
)

// TestGuard turns a step's panic into that step's error, and passes a
// step's own error and success through unchanged.
func TestGuard(t *testing.T) {
	var steps []int
	err := guard(func() error {
		steps = append(steps, 1)
		_ = steps[3] // index out of range
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "panic: ") || !strings.Contains(err.Error(), "index out of range") {
		t.Errorf("a panicking step: %v", err)
	}
	own := errors.New("mount: ENOENT")
	if err := guard(func() error { return own }); err != own {
		t.Errorf("a failing step: %v, want its own error", err)
	}
	if err := guard(func() error { return nil }); err != nil {
		t.Errorf("a step that succeeds: %v", err)
	}
}
