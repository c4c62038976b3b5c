package diff_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/cellsandbox/cell/spec"
	"github.com/cellsandbox/cell/spec/diff"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var vars = spec.Vars{Home: "/home/dev", User: "dev", PWD: "/home/dev/project", UID: 1000, GID: 1000}

func parse(t *testing.T, file, src string) *spec.Profile {
	t.Helper()
	p, err := spec.Parse(file, []byte(src), spec.Options{Vars: vars})
	if err != nil {
		t.Fatalf("parse %s:\n%v", file, err)
	}
	return p
}

const head = "apiVersion: cell/v1\nname: t\n"

func mounts(ms ...string) string {
	return "filesystem:\n  mounts:\n    - " + strings.Join(ms, "\n    - ") + "\n"
}

// TestClassify checks each classification on one change.
func TestClassify(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		key      string
		kind     diff.Kind
		class    diff.Class
		oldAt    string
		newAt    string
	}{
		{"host network", "", "namespaces: {net: host}\nnetwork: {mode: host}\n", "network.mode", diff.Changed, diff.Widens, "a.yaml:1:1", "b.yaml:4:17"},
		{"own network", "namespaces: {net: host}\nnetwork: {mode: host}\n", "", "namespaces.net", diff.Changed, diff.Narrows, "a.yaml:3:19", "b.yaml:1:1"},
		{"shared pid", "namespaces: {pid: new}\n", "namespaces: {pid: host}\n", "namespaces.pid", diff.Changed, diff.Widens, "a.yaml:3:19", "b.yaml:3:19"},
		{"new bind", mounts("{type: tmpfs, target: /tmp, size: 1Mi}"), mounts("{type: tmpfs, target: /tmp, size: 1Mi}", "{type: bind, source: /srv, target: /srv}"),
			"filesystem.mounts[/srv]", diff.Added, diff.Widens, "a.yaml:5:5", "b.yaml:6:7"},
		{"removed bind", mounts("{type: bind, source: /srv, target: /srv}"), "", "filesystem.mounts[/srv]", diff.Removed, diff.Narrows, "a.yaml:5:7", "b.yaml:1:1"},
		{"new tmpfs", "", mounts("{type: tmpfs, target: /tmp, size: 1Mi}"), "filesystem.mounts[/tmp]", diff.Added, diff.Neutral, "a.yaml:1:1", "b.yaml:5:7"},
		{"writable bind", mounts("{type: bind, source: /srv, target: /srv}"), mounts("{type: bind, source: /srv, target: /srv, writable: true}"),
			"filesystem.mounts[/srv].writable", diff.Added, diff.Widens, "a.yaml:5:7", "b.yaml:5:58"},
		{"read-only bind", mounts("{type: bind, source: /srv, target: /srv, writable: true}"), mounts("{type: bind, source: /srv, target: /srv, writable: false}"),
			"filesystem.mounts[/srv].writable", diff.Changed, diff.Narrows, "a.yaml:5:58", "b.yaml:5:58"},
		{"other source", mounts("{type: bind, source: /srv, target: /srv}"), mounts("{type: bind, source: /srv2, target: /srv}"),
			"filesystem.mounts[/srv].source", diff.Changed, diff.Widens, "a.yaml:5:28", "b.yaml:5:28"},
		{"moved mount is the same", mounts("{type: dir, target: /a}", "{type: bind, source: /srv, target: /srv}"), mounts("{type: bind, source: /srv, target: /srv}", "{type: dir, target: /a}", "{type: dir, target: /b}"),
			"filesystem.mounts[/b]", diff.Added, diff.Neutral, "a.yaml:5:5", "b.yaml:7:7"},
		{"noexec", mounts("{type: tmpfs, target: /t, size: 1Mi, noexec: true}"), mounts("{type: tmpfs, target: /t, size: 1Mi}"),
			"filesystem.mounts[/t].noexec", diff.Removed, diff.Widens, "a.yaml:5:52", "b.yaml:5:7"},
		{"smaller tmpfs", mounts("{type: tmpfs, target: /t, size: 1Gi}"), mounts("{type: tmpfs, target: /t, size: 1Mi}"),
			"filesystem.mounts[/t].size", diff.Changed, diff.Narrows, "a.yaml:5:39", "b.yaml:5:39"},
		{"unbounded tmpfs", mounts("{type: tmpfs, target: /t, size: 1Gi}"), mounts("{type: tmpfs, target: /t}"),
			"filesystem.mounts[/t].size", diff.Removed, diff.Widens, "a.yaml:5:39", "b.yaml:5:7"},
		{"not recursive", mounts("{type: bind, source: /s, target: /s}"), mounts("{type: bind, source: /s, target: /s, recursive: false}"),
			"filesystem.mounts[/s].recursive", diff.Added, diff.Narrows, "a.yaml:5:7", "b.yaml:5:55"},
		{"writable root", "filesystem: {root: {readOnly: true}}\n", "filesystem: {root: {readOnly: false}}\n",
			"filesystem.root.readOnly", diff.Changed, diff.Widens, "a.yaml:3:31", "b.yaml:3:31"},
		{"root mode", "filesystem: {root: {mode: \"0755\"}}\n", "filesystem: {root: {mode: \"0777\"}}\n",
			"filesystem.root.mode", diff.Changed, diff.Widens, "a.yaml:3:27", "b.yaml:3:27"},
		{"lower memory limit", "resources: {memory: {max: 2Gi}}\n", "resources: {memory: {max: 1Gi}}\n",
			"resources.memory.max", diff.Changed, diff.Narrows, "a.yaml:3:27", "b.yaml:3:27"},
		{"no pids limit", "resources: {pids: {max: 10}}\n", "resources: {pids: {max: max}}\n",
			"resources.pids.max", diff.Changed, diff.Widens, "a.yaml:3:25", "b.yaml:3:25"},
		{"higher huge page limit", "resources: {hugetlb: {2MB: 4Mi}}\n", "resources: {hugetlb: {2MB: 8Mi}}\n",
			"resources.hugetlb.2MB", diff.Changed, diff.Widens, "a.yaml:3:28", "b.yaml:3:28"},
		{"removed huge page limit", "resources: {hugetlb: {2MB: 4Mi}}\n", "",
			"resources.hugetlb.2MB", diff.Removed, diff.Widens, "a.yaml:3:28", "b.yaml:1:1"},
		{"new huge page limit", "", "resources: {hugetlb: {1GB: 0}}\n",
			"resources.hugetlb.1GB", diff.Added, diff.Narrows, "a.yaml:1:1", "b.yaml:3:28"},
		{"traffic class", "", "resources: {net: {classID: 7}}\n",
			"resources.net.classID", diff.Added, diff.Neutral, "a.yaml:1:1", "b.yaml:3:28"},
		{"cpu weight", "resources: {cpu: {weight: 50}}\n", "resources: {cpu: {weight: 200}}\n",
			"resources.cpu.weight", diff.Changed, diff.Widens, "a.yaml:3:27", "b.yaml:3:27"},
		{"passEnv added", "process: {passEnv: [TERM]}\n", "process: {passEnv: [TERM, TOKEN]}\n",
			"process.passEnv[TOKEN]", diff.Added, diff.Widens, "a.yaml:3:20", "b.yaml:3:27"},
		{"passEnv removed", "process: {passEnv: [TERM, TOKEN]}\n", "process: {passEnv: [TOKEN]}\n",
			"process.passEnv[TERM]", diff.Removed, diff.Narrows, "a.yaml:3:21", "b.yaml:3:20"},
		{"env value", "process: {env: {A: x}}\n", "process: {env: {A: z}}\n", "process.env.A", diff.Changed, diff.Neutral, "a.yaml:3:20", "b.yaml:3:20"},
		{"umask", "process: {umask: \"0077\"}\n", "process: {umask: \"0002\"}\n", "process.umask", diff.Changed, diff.Widens, "a.yaml:3:18", "b.yaml:3:18"},
		{"inherited fd", "", "process: {inheritFds: [3]}\n", "process.inheritFds[3]", diff.Added, diff.Widens, "a.yaml:1:1", "b.yaml:3:24"},
		{"root inside", "ids: {uid: 1000}\n", "ids: {uid: 0}\n", "ids.uid", diff.Changed, diff.Widens, "a.yaml:3:12", "b.yaml:3:12"},
		{"mapped to host root", "", "ids:\n  uidMap: [{inside: 0, outside: 0, count: 1}]\n", "ids.uidMap[0]", diff.Added, diff.Widens, "a.yaml:1:1", "b.yaml:4:12"},
		{"group dropped", "ids: {groups: [0], gidMap: [{inside: 0, outside: 0, count: 1}]}\n", "ids: {gidMap: [{inside: 0, outside: 0, count: 1}]}\n",
			"ids.groups[0]", diff.Removed, diff.Narrows, "a.yaml:3:16", "b.yaml:3:1"},
		{"hostname", "hostname: a\n", "hostname: b\n", "hostname", diff.Changed, diff.Neutral, "a.yaml:3:11", "b.yaml:3:11"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := diff.Profiles(parse(t, "a.yaml", head+tt.old), parse(t, "b.yaml", head+tt.new))
			var got *diff.Change
			for i, c := range r.Changes {
				if c.Key == tt.key {
					got = &r.Changes[i]
				}
			}
			if got == nil {
				t.Fatalf("no change of %s in %v", tt.key, r.Changes)
			}
			if got.Kind != tt.kind || got.Class != tt.class {
				t.Errorf("got %s %s, want %s %s: %s", got.Kind, got.Class, tt.kind, tt.class, got)
			}
			if got.OldPos.String() != tt.oldAt || got.NewPos.String() != tt.newAt {
				t.Errorf("got positions %s -> %s, want %s -> %s", got.OldPos, got.NewPos, tt.oldAt, tt.newAt)
			}
			if got.Why == "" || strings.HasPrefix(got.Why, "unclassified") {
				t.Errorf("no reason given: %s", got)
			}
		})
	}
}

func TestSame(t *testing.T) {
	src := head + mounts("{type: bind, source: /usr, target: /usr}") + "process: {env: {A: b}, passEnv: [TERM]}\n"
	r := diff.Profiles(parse(t, "a.yaml", src), parse(t, "b.yaml", "# moved down\n"+src))
	if len(r.Changes) != 0 {
		t.Errorf("changes between equal profiles: %v", r.Changes)
	}
	if r.Summary() != "no changes" {
		t.Errorf("Summary() = %q", r.Summary())
	}
}

// patterns lists the key patterns flatten makes for values of type t at
// key, as the classifier table is keyed.
func patterns(t reflect.Type, key string, out map[string]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if leaf(t) {
		out[key] = true
		return
	}
	join := func(k string) string {
		if key == "" {
			return k
		}
		return key + "." + k
	}
	switch t.Kind() {
	case reflect.Struct:
		for _, f := range reflect.VisibleFields(t) {
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || f.Anonymous || name == "" || name == "-" {
				continue
			}
			patterns(f.Type, join(name), out)
		}
	case reflect.Map:
		patterns(t.Elem(), join("*"), out)
	case reflect.Slice:
		if key == "process.args" {
			out[key] = true
			return
		}
		if !leaf(t.Elem()) {
			out[key+"[*]"] = true
		}
		patterns(t.Elem(), key+"[*]", out)
	}
}

func leaf(t reflect.Type) bool {
	if t.Implements(reflect.TypeFor[interface{ String() string }]()) ||
		reflect.PointerTo(t).Implements(reflect.TypeFor[yaml.Unmarshaler]()) {
		return true
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map, reflect.Slice, reflect.Pointer:
		return false
	}
	return true
}

// TestEveryFieldClassified fails for a field of spec.Profile that no
// classification rule knows: a new field needs a decision on which way
// its changes move the boundary (spec/diff/classify.go).
func TestEveryFieldClassified(t *testing.T) {
	ps := make(map[string]bool)
	patterns(reflect.TypeFor[spec.Profile](), "", ps)
	if len(ps) < 40 {
		t.Fatalf("found only %d field patterns", len(ps))
	}
	for p := range ps {
		if !diff.Classified(p) {
			t.Errorf("spec.Profile field %s has no rule in spec/diff/classify.go: decide whether its changes widen or narrow", p)
		}
	}
}

func TestLines(t *testing.T) {
	tests := []struct {
		a, b string
		want string
	}{
		{"", "", ""},
		{"a b c", "a b c", " a  b  c"},
		{"a b c", "a x c", " a -b +x  c"},
		{"a b", "a b c", " a  b +c"},
		{"a b c", "c", "-a -b  c"},
		{"", "a", "+a"},
	}
	for _, tt := range tests {
		var got []string
		for _, l := range diff.Lines(strings.Fields(tt.a), strings.Fields(tt.b)) {
			got = append(got, l.Op.String()+l.Text)
		}
		if s := strings.Join(got, " "); s != tt.want {
			t.Errorf("Lines(%q, %q) = %q, want %q", tt.a, tt.b, s, tt.want)
		}
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	file := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./spec/diff -update)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s is stale (-want +got); run go test ./spec/diff -update if intended:\n%s", file, d)
	}
}

func TestGolden(t *testing.T) {
	read := func(f string) *spec.Profile {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		return parse(t, f, string(data))
	}
	r := diff.Profiles(read("testdata/old.yaml"), read("testdata/new.yaml"))
	r.Plan = diff.Lines(
		strings.Split("parent clone\ninit mount /usr\ninit mount /etc\ninit mount /tmp\ninit mount /cache\ninit pivot_root\ninit sethostname\ncommand execve", "\n"),
		strings.Split("parent clone\ninit mount /usr\ninit mount /etc rw\ninit mount /tmp\ninit mount /keys\ninit pivot_root\ninit sethostname\ncommand execve", "\n"))
	for _, f := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"diff.golden.txt", func(b *bytes.Buffer) error { return diff.Write(b, r) }},
		{"diff.golden.md", func(b *bytes.Buffer) error { return diff.WriteMarkdown(b, r) }},
		{"diff.golden.json", func(b *bytes.Buffer) error { return diff.WriteJSON(b, r) }},
	} {
		t.Run(f.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := f.write(&b); err != nil {
				t.Fatal(err)
			}
			golden(t, f.name, b.Bytes())
		})
	}
}
