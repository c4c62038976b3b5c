package spec

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// hdr is the two lines every valid profile starts with; cases' own lines
// start at line 3.
const hdr = "apiVersion: cell/v1\nname: t\n"

// errorLines returns the lines of err, which must be an ErrorList or nil.
func errorLines(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var l ErrorList
	if !errors.As(err, &l) {
		t.Fatalf("error is a %T, not an ErrorList: %v", err, err)
	}
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return lines
}

type errorCase struct {
	name string
	src  string
	sets []string
	want []string
}

// runErrorCases parses each case's src as p.yaml with testVars and the
// case's sets and compares the error lines.
func runErrorCases(t *testing.T, cases []errorCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse("p.yaml", []byte(tc.src), Options{Vars: testVars, Sets: tc.sets})
			got := errorLines(t, err)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if (err == nil) != (p != nil) {
				t.Errorf("Parse returned profile %v with error %v", p != nil, err)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	runErrorCases(t, []errorCase{
		{
			name: "unknown key suggests the closest",
			src:  hdr + "hostnme: box\n",
			want: []string{`p.yaml:3:1: hostnme: unknown key "hostnme" (did you mean "hostname"?)`},
		},
		{
			name: "unknown key lists the allowed ones",
			src:  hdr + "network:\n  speed: 10\n",
			want: []string{`p.yaml:4:3: network.speed: unknown key "speed" (allowed: mode, bridge, nat, ports, dns, hostLoopback, egress)`},
		},
		{
			name: "unknown key in a list element",
			src:  hdr + "filesystem:\n  mounts:\n    - {type: bind, target: /a, sorce: /a}\n",
			want: []string{
				`p.yaml:5:7: filesystem.mounts[0].source: is required for bind mounts`,
				`p.yaml:5:32: filesystem.mounts[0].sorce: unknown key "sorce" (did you mean "source"?)`,
			},
		},
		{
			name: "duplicate key",
			src:  hdr + "hostname: a\nhostname: b\n",
			want: []string{`p.yaml:4:1: hostname: duplicate key "hostname" (first set at 3:1)`},
		},
		{
			name: "duplicate map key",
			src:  hdr + "process:\n  env:\n    A: x\n    A: y\n",
			want: []string{`p.yaml:6:5: process.env.A: duplicate key "A" (first set at 5:5)`},
		},
		{
			name: "scalar for a list",
			src:  hdr + "process:\n  args: sh -c true\n",
			want: []string{`p.yaml:4:9: process.args: must be a list`},
		},
		{
			name: "scalar for a struct",
			src:  hdr + "namespaces: new\n",
			want: []string{`p.yaml:3:13: namespaces: must be a mapping`},
		},
		{
			name: "list for a map",
			src:  hdr + "process:\n  env: [A=b]\n",
			want: []string{`p.yaml:4:8: process.env: must be a mapping`},
		},
		{
			name: "mapping for a string",
			src:  hdr + "hostname: {a: b}\n",
			want: []string{`p.yaml:3:11: hostname: must be a string`},
		},
		{
			name: "yes is not a boolean",
			src:  hdr + "filesystem:\n  root:\n    readOnly: yes\n",
			want: []string{`p.yaml:5:15: filesystem.root.readOnly: must be true or false, not yes (a string in YAML 1.2, which profiles are)`},
		},
		{
			name: "list for a boolean",
			src:  hdr + "filesystem:\n  root:\n    readOnly: [true]\n",
			want: []string{`p.yaml:5:15: filesystem.root.readOnly: must be true or false`},
		},
		{
			name: "word for an integer",
			src:  hdr + "ids:\n  uid: abc\n",
			want: []string{`p.yaml:4:8: ids.uid: must be an integer, not "abc"`},
		},
		{
			name: "fraction for an integer",
			src:  hdr + "ids:\n  uid: 1.5\n",
			want: []string{`p.yaml:4:8: ids.uid: must be an integer, not "1.5"`},
		},
		{
			name: "mapping for an integer",
			src:  hdr + "ids:\n  uid: {}\n",
			want: []string{`p.yaml:4:8: ids.uid: must be an integer`},
		},
		{
			name: "negative uint32",
			src:  hdr + "ids:\n  uid: -1\n",
			want: []string{`p.yaml:4:8: ids.uid: must be an integer from 0 to 4294967295, not -1`},
		},
		{
			name: "uint32 overflow",
			src:  hdr + "ids:\n  groups: [4294967296]\n",
			want: []string{`p.yaml:4:12: ids.groups[0]: must be an integer from 0 to 4294967295, not 4294967296`},
		},
		{
			name: "uint64 overflow",
			src:  hdr + "ids:\n  gid: 18446744073709551616\n",
			want: []string{`p.yaml:4:8: ids.gid: must be an integer from 0 to 4294967295, not 18446744073709551616`},
		},
		{
			name: "int overflow",
			src:  hdr + "process:\n  inheritFds: [-9223372036854775809]\n",
			want: []string{`p.yaml:4:16: process.inheritFds[0]: must be an integer from -9223372036854775808 to 9223372036854775807, not -9223372036854775809`},
		},
		{
			name: "unknown enum word",
			src:  hdr + "namespaces:\n  user: maybe\n",
			want: []string{`p.yaml:4:9: namespaces.user: must be new or host, not "maybe"`},
		},
		{
			name: "list for an enum",
			src:  hdr + "network:\n  mode: [none]\n",
			want: []string{`p.yaml:4:9: network.mode: must be none, host, bridge or user`},
		},
		{
			name: "bad size",
			src:  hdr + "filesystem:\n  root:\n    size: 1.5G\n",
			want: []string{`p.yaml:5:11: filesystem.root.size: must be a size such as 65536, 64Mi or 2G, not "1.5G"`},
		},
		{
			name: "bad mode",
			src:  hdr + "filesystem:\n  root:\n    mode: 0789\n",
			want: []string{`p.yaml:5:11: filesystem.root.mode: must be an octal mode such as "0755", not "0789"`},
		},
		{
			name: "mode above 07777",
			src:  hdr + "filesystem:\n  root:\n    mode: 017777\n",
			want: []string{`p.yaml:5:11: filesystem.root.mode: must be an octal mode such as "0755", not "017777"`},
		},
		{
			name: "merge key",
			src:  hdr + "process:\n  <<: {cwd: /}\n",
			want: []string{`p.yaml:4:3: process: merge keys (<<) are not supported: write the entries out`},
		},
		{
			name: "non-string key",
			src:  hdr + "? [a]\n: b\n",
			want: []string{`p.yaml:3:3: keys must be strings`},
		},
		{
			name: "two documents",
			src:  hdr + "---\nname: u\n",
			want: []string{`p.yaml:3:1: more than one YAML document`},
		},
		{
			name: "empty file",
			src:  "",
			want: []string{`p.yaml:1:1: the profile is empty`},
		},
		{
			name: "only comments",
			src:  "# nothing\n",
			want: []string{`p.yaml:1:1: the profile is empty`},
		},
		{
			name: "null document",
			src:  "---\n~\n",
			want: []string{`p.yaml:2:1: the profile is empty`},
		},
		{
			name: "syntax error",
			src:  hdr + "process:\n  args: [sh\n",
			want: []string{`p.yaml:3:1: invalid YAML: did not find expected ',' or ']'`},
		},
		{
			name: "syntax error in a second document",
			src:  hdr + "---\n[\n",
			want: []string{`p.yaml:4:1: invalid YAML: did not find expected node content`},
		},
		{
			name: "syntax error without a line",
			src:  "\t",
			want: []string{`p.yaml:1:1: invalid YAML: found character that cannot start any token`},
		},
		{
			name: "top level not a mapping",
			src:  "- a\n",
			want: []string{`p.yaml:1:1: must be a mapping`},
		},
		{
			name: "null is absent",
			src:  hdr + "hostname:\nprocess: ~\nfilesystem:\n  mounts: null\n",
		},
		{
			name: "alias to a wrong kind",
			src:  hdr + "description: &d text\nprocess:\n  args: *d\n",
			want: []string{`p.yaml:3:14: process.args: must be a list`},
		},
		{
			name: "error in an aliased value is reported for each use",
			src:  hdr + "process:\n  args: &a [{}]\n  passEnv: *a\n",
			want: []string{
				`p.yaml:4:13: process.args[0]: must be a string`,
				`p.yaml:4:13: process.passEnv[0]: must be a string`,
			},
		},
		{
			name: "values bounded",
			src:  hdr + "process:\n  args: [" + strings.TrimSuffix(strings.Repeat("a, ", maxValues+1), ", ") + "]\n",
			want: []string{
				`p.yaml:4:299995: process.args[99995]: the profile is too large: more than 100000 values, counting each use of an alias`,
			},
		},
	})
}

func ptr[T any](v T) *T { return &v }

func TestParseFull(t *testing.T) {
	const file = "testdata/valid/full.yaml"
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(file, data, Options{Vars: testVars})
	if err != nil {
		t.Fatal(err)
	}
	want := &Profile{
		APIVersion:  "cell/v1",
		Name:        "full-example",
		Description: "Every field of a profile.",
		Namespaces:  Namespaces{Cgroup: Host},
		IDs: IDs{
			UIDMap: []IDRange{{Inside: 0, Outside: 100000, Count: 65536}, {Inside: 65536, Outside: 1000, Count: 1}},
			GIDMap: []IDRange{{Inside: 0, Outside: 100000, Count: 65536}},
			UID:    1000,
			GID:    1000,
			Groups: []uint32{1000, 27},
		},
		Hostname:   "sandbox",
		Domainname: "cell.internal",
		Filesystem: Filesystem{
			Root: Root{Size: 64 << 20, Mode: ptr[FileMode](0o755), ReadOnly: true},
			Mounts: []Mount{
				{Type: MountBind, Source: "/usr", Target: "/usr", Recursive: ptr(false)},
				{Type: MountBind, Source: "/home/alice/work", Target: "/work", Writable: true, Optional: true, NoExec: true},
				{Type: MountTmpfs, Target: "/tmp", Size: 1e9, Mode: ptr[FileMode](0o1777), NoExec: true},
				{Type: MountProc, Target: "/proc"},
				{Type: MountDev, Target: "/dev"},
				{Type: MountDir, Target: "/home/user", Mode: ptr[FileMode](0o700)},
				{Type: MountFile, Target: "/etc/hosts", Mode: ptr[FileMode](0o644), Content: "127.0.0.1 localhost sandbox\n"},
				{Type: MountSymlink, Target: "/bin", LinkTo: "usr/bin"},
			},
		},
		Process: Process{
			Args:       []string{"/bin/sh", "-c", "echo $HOME"},
			Env:        map[string]string{"PATH": "/usr/bin:/bin", "HOME": "/home/user", "LANG": "C.UTF-8"},
			PassEnv:    []string{"TERM"},
			Cwd:        "/work",
			Umask:      ptr[FileMode](0o022),
			InheritFDs: []int{3, 4},
		},
		Network: Network{Mode: NetNone},
		File:    file,
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Profile{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	for path, want := range map[string]Pos{
		"":                             {file, 2, 1},
		"apiVersion":                   {file, 2, 13},
		"namespaces.cgroup":            {file, 12, 11},
		"ids.uidMap[1]":                {file, 17, 7},
		"ids.uidMap[1].outside":        {file, 17, 32},
		"filesystem.root.mode":         {file, 30, 11},
		"filesystem.mounts[2].size":    {file, 35, 41},
		"filesystem.mounts[6]":         {file, 39, 7},
		"filesystem.mounts[6].content": {file, 42, 16},
		"process.env.LANG":             {file, 50, 11},
		"process.inheritFds[1]":        {file, 54, 19},
		// Absent values: the key of their nearest ancestor.
		"filesystem.mounts[3].size": {file, 36, 7},
		"network.mode.x":            {file, 56, 3},
		"nothing.here":              {file, 2, 1},
	} {
		if got := got.At(path); got != want {
			t.Errorf("At(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestAtWithoutPositions(t *testing.T) {
	if got, want := (&Profile{File: "x.yaml"}).At("name"), (Pos{File: "x.yaml"}); got != want {
		t.Errorf("At = %v, want %v", got, want)
	}
	if got := (*Profile)(nil).At("name"); got != (Pos{}) {
		t.Errorf("nil At = %v, want zero", got)
	}
}

// TestAllErrors checks that a file with many errors reports each, in
// position order, whatever the order the steps found them in.
func TestAllErrors(t *testing.T) {
	src := `apiVersion: cell/v2
name: Bad
hostnme: x
ids:
  uid: -1
  uidMap:
    - {inside: 0, outside: 0, count: 0}
filesystem:
  mounts:
    - {type: tmpfs, target: /usr, source: /x}
    - {type: bogus, target: usr}
process:
  env: {1A: "${HOEM}"}
  inheritFds: [1]
network:
  mode: host
`
	_, err := Parse("p.yaml", []byte(src), Options{Vars: testVars, Sets: []string{"filesystem.mounts[0].size=0"}})
	want := []string{
		`p.yaml:1:13: apiVersion: must be "cell/v1", not "cell/v2"`,
		`p.yaml:2:7: name: ` + nameRule,
		`p.yaml:3:1: hostnme: unknown key "hostnme" (did you mean "hostname"?)`,
		`p.yaml:5:8: ids.uid: must be an integer from 0 to 4294967295, not -1`,
		`p.yaml:7:38: ids.uidMap[0].count: must not be 0`,
		`p.yaml:10:43: filesystem.mounts[0].source: only applies to bind mounts, not tmpfs`,
		`p.yaml:11:14: filesystem.mounts[1].type: must be one of bind, tmpfs, proc, dev, dir, file, symlink, overlay, sysfs, mqueue, cgroup, not "bogus"`,
		`p.yaml:11:29: filesystem.mounts[1].target: must be an absolute path, not "usr"`,
		// The bad name is not reported: validation skips a value that
		// failed to decode.
		`p.yaml:13:14: process.env.1A: unknown variable ${HOEM} (did you mean ${HOME}?)`,
		`p.yaml:14:16: process.inheritFds[0]: must be at least 3, not 1`,
		`p.yaml:16:9: network.mode: host needs namespaces.net: host`,
		`--set:1:27: filesystem.mounts[0].size: must be greater than 0`,
	}
	if diff := cmp.Diff(want, errorLines(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestErrorString(t *testing.T) {
	l := ErrorList{
		{Pos: Pos{"p.yaml", 3, 5}, Path: "process.cwd", Msg: "must be an absolute path"},
		{Pos: Pos{"p.yaml", 1, 1}, Msg: "the profile is empty"},
	}
	want := "p.yaml:3:5: process.cwd: must be an absolute path\np.yaml:1:1: the profile is empty"
	if got := l.Error(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	set := &Error{Pos: Pos{File: "--set", Line: 2, Col: 9}, Path: "ids.uid", Msg: "must be an integer"}
	if got, want := set.Error(), "--set:2:9: ids.uid: must be an integer"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
