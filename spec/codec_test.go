package spec_test

import (
	"reflect"
	"testing"

	"github.com/cellsandbox/cell/profiles"
	"github.com/cellsandbox/cell/spec"
)

// TestBinaryRoundTrip decodes every built-in profile from its
// MarshalBinary to the same value, with the same positions: what the
// plan cache keeps of a profile.
func TestBinaryRoundTrip(t *testing.T) {
	vars := spec.Vars{Home: "/home/u", User: "u", PWD: "/work/p", UID: 1000, GID: 1000}
	for _, name := range profiles.Names() {
		data, err := profiles.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		p, err := spec.Parse("builtin:"+name, data, spec.Options{Vars: vars, Load: func(n, _ string) (string, []byte, error) {
			b, err := profiles.Get(n)
			return "builtin:" + n, b, err
		}})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := p.MarshalBinary()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var back spec.Profile
		if err := back.UnmarshalBinary(b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(&back, p) {
			t.Errorf("%s: decoded profile differs", name)
		}
		if got, want := back.At("filesystem.mounts[0].target"), p.At("filesystem.mounts[0].target"); got != want || want.Line == 0 {
			t.Errorf("%s: decoded position %v, want %v", name, got, want)
		}
	}
}
