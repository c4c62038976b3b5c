package spec

import (
	"errors"
	"path"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// loader serves files from a map, as the CLI serves files and built-ins:
// a name with a slash is relative to the including file.
func loader(files map[string]string) func(name, from string) (string, []byte, error) {
	return func(name, from string) (string, []byte, error) {
		file := name
		if strings.Contains(name, "/") {
			file = path.Join(path.Dir(from), name)
		}
		data, ok := files[file]
		if !ok {
			return "", nil, errors.New("no such file")
		}
		return file, []byte(data), nil
	}
}

func compose(t *testing.T, files map[string]string, main string, sets ...string) (*Profile, error) {
	t.Helper()
	return Parse(main, []byte(files[main]), Options{Vars: testVars, Load: loader(files), Sets: sets})
}

const base = `apiVersion: cell/v1
name: base
hostname: base
filesystem:
  root: {size: 16Mi, readOnly: true}
  mounts:
    - {type: bind, source: /usr, target: /usr}
    - {type: tmpfs, target: /tmp, size: 64Mi}
process:
  args: [sh]
  env: {PATH: /usr/bin, LANG: C}
  passEnv: [TERM]
`

func TestComposeMerge(t *testing.T) {
	files := map[string]string{
		"base": base,
		"dir/child.yaml": `apiVersion: cell/v1
name: child
extends: base
filesystem:
  mounts:
    - {type: tmpfs, target: /tmp, size: 1Gi}
    - {type: bind, source: /srv, target: /srv, writable: true}
process:
  args: [make]
  env: {LANG: null, CC: gcc}
  passEnv: [TERM, TZ]
`,
	}
	p, err := compose(t, files, "dir/child.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "child" || p.Hostname != "base" {
		t.Errorf("name %q hostname %q: want the child's name and the parent's hostname", p.Name, p.Hostname)
	}
	var targets []string
	for _, m := range p.Filesystem.Mounts {
		targets = append(targets, m.Target+"="+m.Size.String())
	}
	if d := cmp.Diff([]string{"/usr=0", "/tmp=1Gi", "/srv=0"}, targets); d != "" {
		t.Errorf("mounts (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"make"}, p.Process.Args); d != "" {
		t.Errorf("args are replaced (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]string{"PATH": "/usr/bin", "CC": "gcc"}, p.Process.Env); d != "" {
		t.Errorf("env merges, null removes (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"TERM", "TZ"}, p.Process.PassEnv); d != "" {
		t.Errorf("passEnv appends without duplicates (-want +got):\n%s", d)
	}
	if d := cmp.Diff(Parents{"base"}, p.Extends); d != "" {
		t.Errorf("extends (-want +got):\n%s", d)
	}
	// Every value is positioned in the file that wrote it.
	for path, want := range map[string]string{
		"hostname":                      "base:3:11",
		"filesystem.mounts[0].source":   "base:7:28",
		"filesystem.mounts[1].size":     "dir/child.yaml:6:41",
		"filesystem.mounts[2].writable": "dir/child.yaml:7:58",
		"process.env.PATH":              "base:11:15",
		"process.env.CC":                "dir/child.yaml:10:25",
		"name":                          "dir/child.yaml:2:7",
	} {
		if got := p.At(path).String(); got != want {
			t.Errorf("At(%s) = %s, want %s", path, got, want)
		}
	}
}

func TestComposeReplaceAndChain(t *testing.T) {
	files := map[string]string{
		"base": base,
		"mid.yaml": `extends: [base]
hostname: mid
process:
  passEnv: [LANG]
`,
		"top.yaml": `apiVersion: cell/v1
name: top
extends: [./mid.yaml]
filesystem:
  mounts: !replace
    - {type: tmpfs, target: /work, size: 1Mi}
process:
  passEnv: !replace [TZ]
`,
	}
	p, err := compose(t, files, "top.yaml", "hostname=set")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Filesystem.Mounts) != 1 || p.Filesystem.Mounts[0].Target != "/work" {
		t.Errorf("!replace kept the parents' mounts: %+v", p.Filesystem.Mounts)
	}
	if d := cmp.Diff([]string{"TZ"}, p.Process.PassEnv); d != "" {
		t.Errorf("passEnv (-want +got):\n%s", d)
	}
	if p.Hostname != "set" || p.At("hostname").File != "--set" {
		t.Errorf("--set applies after composition: %q at %s", p.Hostname, p.At("hostname"))
	}
	if got := p.At("filesystem.root.size").String(); got != "base:5:16" {
		t.Errorf("a grandparent's value is at %s", got)
	}
}

func TestComposeErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"missing parent", map[string]string{"a.yaml": "apiVersion: cell/v1\nname: a\nextends: [nosuch]\n"},
			[]string{`a.yaml:3:11: extends[0]: extends "nosuch": no such file`}},
		{"cycle", map[string]string{
			"a.yaml": "apiVersion: cell/v1\nname: a\nextends: ./b.yaml\n",
			"b.yaml": "extends: ./c.yaml\n",
			"c.yaml": "extends: [./a.yaml]\n",
		}, []string{`c.yaml:1:11: extends[0]: extends "./a.yaml": a cycle: a.yaml -> b.yaml -> c.yaml -> a.yaml (extended at b.yaml:1:10, extended at a.yaml:3:10)`}},
		{"error in a parent", map[string]string{
			"a.yaml": "apiVersion: cell/v1\nname: a\nextends: ./b.yaml\n",
			"b.yaml": "extends: ./c.yaml\nhostnme: x\n",
			"c.yaml": "filesystem:\n  mounts:\n    - {type: tmpfs, target: relative}\n",
		}, []string{
			`b.yaml:2:1: hostnme: unknown key "hostnme" (did you mean "hostname"?) (extended at a.yaml:3:10)`,
			`c.yaml:3:29: filesystem.mounts[0].target: must be an absolute path, not "relative" (extended at b.yaml:1:10, extended at a.yaml:3:10)`,
		}},
		{"invalid YAML in a parent", map[string]string{
			"a.yaml": "apiVersion: cell/v1\nname: a\nextends: ./b.yaml\n",
			"b.yaml": "hostname: [\n",
		}, []string{`b.yaml:1:1: invalid YAML: did not find expected node content (extended at a.yaml:3:10)`}},
		{"a parent that is not a mapping", map[string]string{
			"a.yaml": "apiVersion: cell/v1\nname: a\nextends: ./b.yaml\n",
			"b.yaml": "- x\n",
		}, []string{`b.yaml:1:1: a profile must be a mapping (extended at a.yaml:3:10)`}},
		{"bad extends", map[string]string{"a.yaml": "apiVersion: cell/v1\nname: a\nextends: {x: y}\n"},
			[]string{`a.yaml:3:10: extends: must be a list`}},
		{"validation across files", map[string]string{
			"a.yaml": "apiVersion: cell/v1\nname: a\nextends: ./b.yaml\nnamespaces: {uts: host}\n",
			"b.yaml": "hostname: box\n",
		}, []string{`b.yaml:1:11: hostname: needs namespaces.uts: new (extended at a.yaml:3:10)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compose(t, tt.files, "a.yaml")
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("got %v, want an ErrorList", err)
			}
			var got []string
			for _, e := range list {
				got = append(got, e.Error())
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("errors (-want +got):\n%s", d)
			}
		})
	}
}

func TestComposeWithoutLoader(t *testing.T) {
	_, err := Parse("a.yaml", []byte("apiVersion: cell/v1\nname: a\nextends: default\n"), Options{Vars: testVars})
	if err == nil || !strings.Contains(err.Error(), `a.yaml:3:10: extends[0]: extends "default": parents cannot be read here`) {
		t.Errorf("got %v", err)
	}
}
