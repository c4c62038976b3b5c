package oci

import "testing"

// FuzzParse checks that no config.json makes Parse panic, and that a
// failure is always a positioned error list.
func FuzzParse(f *testing.F) {
	f.Add([]byte(runcSpec))
	f.Add([]byte(`{"ociVersion": "1.0.2", "root": {"path": "r"}, "mounts": [{"destination": "/x", "options": ["rbind"]}], "linux": {"namespaces": [{"type": "mount"}]}}`))
	f.Add([]byte(`{"ociVersion": "1.0.2", "root": {"path": "\/r\\\/"}, "process": {"args": ["\/bin\/sh", "\u00e9\/"], "cwd": "\/"}, "linux": {"namespaces": [{"type": "mount"}]}}`))
	f.Add([]byte(`{"process": {"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 18446744073709551615, "hard": -1}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("config.json", data, "/b")
		if (p == nil) == (err == nil) {
			t.Fatalf("Parse = %v, %v: want a profile or an error", p, err)
		}
	})
}
