package spec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestShowRoundTrip checks that the printed profile parses back to one
// that prints the same, for every valid example and built-in.
func TestShowRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid/*.yaml")
	builtins, _ := filepath.Glob("../profiles/*.yaml")
	for _, file := range append(files, builtins...) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Parse(file, data, Options{Vars: testVars, Load: func(name, _ string) (string, []byte, error) {
				b, err := os.ReadFile(filepath.Join("../profiles", name+".yaml"))
				return name, b, err
			}})
			if err != nil {
				t.Fatal(err)
			}
			first, err := p.YAML(false)
			if err != nil {
				t.Fatal(err)
			}
			q, err := Parse("shown.yaml", first, Options{Vars: testVars})
			if err != nil {
				t.Fatalf("the printed profile does not parse:\n%v\n%s", err, first)
			}
			second, err := q.YAML(false)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(string(first), string(second)); d != "" {
				t.Errorf("printing is not stable (-first +second):\n%s", d)
			}
		})
	}
}

func TestShowOrigins(t *testing.T) {
	files := map[string]string{
		"base":   base,
		"c.yaml": "apiVersion: cell/v1\nname: c\nextends: base\nfilesystem:\n  mounts:\n    - {type: bind, source: /srv, target: /srv}\n",
	}
	p, err := compose(t, files, "c.yaml", "filesystem.mounts[0].writable=true")
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.YAML(true)
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	for _, want := range []string{
		"name: c # c.yaml:2:7\n",
		"hostname: base # base:3:11\n",
		"  user: new # default\n",
		"    - type: bind # base:7:14\n",
		"      writable: true # --set:1:31\n",
		"    - {type: tmpfs, target: /tmp, size: 64Mi} # base:8\n",
		"    - {type: bind, target: /srv, source: /srv} # c.yaml:6\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "extends") {
		t.Errorf("extends is printed:\n%s", out)
	}
}
