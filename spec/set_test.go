package spec

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// setBase is the file the --set tests override: args on line 4, two
// mounts on lines 8 and 9.
const setBase = hdr + `process:
  args: &a [x]
  passEnv: *a
filesystem:
  mounts:
    - {type: tmpfs, target: /tmp}
    - {type: proc, target: /proc}
`

func TestSets(t *testing.T) {
	base, err := Parse("p.yaml", []byte(setBase), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		sets []string
		// edit turns the base profile into the expected one.
		edit func(p *Profile)
	}{
		{
			name: "scalar",
			sets: []string{"name=other"},
			edit: func(p *Profile) { p.Name = "other" },
		},
		{
			name: "list in flow style",
			sets: []string{`process.args=[sh, -c, "echo hi"]`},
			edit: func(p *Profile) { p.Process.Args = []string{"sh", "-c", "echo hi"} },
		},
		{
			name: "append a mapping",
			sets: []string{"filesystem.mounts[+]={type: tmpfs, target: /scratch}"},
			edit: func(p *Profile) {
				p.Filesystem.Mounts = append(p.Filesystem.Mounts, Mount{Type: MountTmpfs, Target: "/scratch"})
			},
		},
		{
			name: "field of a list element",
			sets: []string{"filesystem.mounts[0].target=/var/tmp"},
			edit: func(p *Profile) { p.Filesystem.Mounts[0].Target = "/var/tmp" },
		},
		{
			name: "new field of a list element",
			sets: []string{"filesystem.mounts[0].size=8Mi"},
			edit: func(p *Profile) { p.Filesystem.Mounts[0].Size = 8 << 20 },
		},
		{
			name: "replace a list element",
			sets: []string{"filesystem.mounts[1]={type: dev, target: /dev}"},
			edit: func(p *Profile) { p.Filesystem.Mounts[1] = Mount{Type: MountDev, Target: "/dev"} },
		},
		{
			name: "intermediate mappings created",
			sets: []string{"filesystem.root.size=1G", "ids.uid=7"},
			edit: func(p *Profile) { p.Filesystem.Root.Size = 1e9; p.IDs.UID = 7 },
		},
		{
			name: "append to an absent list",
			sets: []string{"ids.groups[+]=5", "ids.groups[+]=6"},
			edit: func(p *Profile) { p.IDs.Groups = []uint32{5, 6} },
		},
		{
			name: "map entry",
			sets: []string{"process.env.LANG=C", "process.env.TZ=UTC"},
			edit: func(p *Profile) { p.Process.Env = map[string]string{"LANG": "C", "TZ": "UTC"} },
		},
		{
			name: "empty value removes",
			sets: []string{"process.args=", "filesystem.mounts=~"},
			edit: func(p *Profile) { p.Process.Args = nil; p.Filesystem.Mounts = nil },
		},
		{
			name: "aliased value copied, not changed for every use",
			sets: []string{"process.args[0]=y", "process.args[+]=z"},
			edit: func(p *Profile) { p.Process.Args = []string{"y", "z"} },
		},
		{
			name: "later wins",
			sets: []string{"hostname=a", "hostname=b"},
			edit: func(p *Profile) { p.Hostname = "b" },
		},
		{
			name: "value after the first =",
			sets: []string{"process.env.A=b=c"},
			edit: func(p *Profile) { p.Process.Env = map[string]string{"A": "b=c"} },
		},
		{
			name: "variables expanded",
			sets: []string{"process.cwd=${HOME}"},
			edit: func(p *Profile) { p.Process.Cwd = "/home/alice" },
		},
		{
			name: "consistent namespaces",
			sets: []string{"namespaces.net=host", "network.mode=host"},
			edit: func(p *Profile) { p.Namespaces.Net = Host; p.Network.Mode = NetHost },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse("p.yaml", []byte(setBase), Options{Vars: testVars, Sets: tc.sets})
			if err != nil {
				t.Fatal(err)
			}
			want, _ := Parse("p.yaml", []byte(setBase), Options{})
			tc.edit(want)
			if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Profile{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// The base must not have been changed through the aliases.
	if diff := cmp.Diff([]string{"x"}, base.Process.PassEnv); diff != "" {
		t.Errorf("passEnv (-want +got):\n%s", diff)
	}
}

func TestSetPositions(t *testing.T) {
	p, err := Parse("p.yaml", []byte(setBase), Options{Sets: []string{
		"process.cwd=/w",
		"filesystem.mounts[+]={type: dir, target: /d}",
	}})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]Pos{
		"process.cwd":                 {File: "--set", Line: 1, Col: 13},
		"filesystem.mounts[2]":        {File: "--set", Line: 2, Col: 22},
		"filesystem.mounts[2].target": {File: "--set", Line: 2, Col: 42},
		"filesystem.mounts[1].target": {File: "p.yaml", Line: 9, Col: 28},
		"process.args[0]":             {File: "p.yaml", Line: 4, Col: 13},
	} {
		if got := p.At(path); got != want {
			t.Errorf("At(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestSetErrors(t *testing.T) {
	runErrorCases(t, []errorCase{
		{
			name: "no =",
			src:  setBase,
			sets: []string{"x"},
			want: []string{`--set:1:1: --set "x": missing "=": write KEY=VALUE`},
		},
		{
			name: "empty key",
			src:  setBase,
			sets: []string{"=1"},
			want: []string{`--set:1:1: --set key "": empty name`},
		},
		{
			name: "empty name between dots",
			src:  setBase,
			sets: []string{"a..b=1"},
			want: []string{`--set:1:3: --set key "a..b": empty name`},
		},
		{
			name: "trailing dot",
			src:  setBase,
			sets: []string{"a.=1"},
			want: []string{`--set:1:3: --set key "a.": empty name`},
		},
		{
			name: "index first",
			src:  setBase,
			sets: []string{"[0]=1"},
			want: []string{`--set:1:1: --set key "[0]": empty name`},
		},
		{
			name: "bad index",
			src:  setBase,
			sets: []string{"process.args[x]=1"},
			want: []string{`--set:1:13: --set key "process.args[x]": index "x" must be a number or +`},
		},
		{
			name: "negative index",
			src:  setBase,
			sets: []string{"process.args[-1]=1"},
			want: []string{`--set:1:13: --set key "process.args[-1]": index "-1" must be a number or +`},
		},
		{
			name: "unclosed index",
			src:  setBase,
			sets: []string{"process.args[0=1"},
			want: []string{`--set:1:13: --set key "process.args[0": missing "]"`},
		},
		{
			name: "stray ]",
			src:  setBase,
			sets: []string{"process]=1"},
			want: []string{`--set:1:8: --set key "process]": unexpected ']'`},
		},
		{
			name: "text after an index",
			src:  setBase,
			sets: []string{"process.args[0]x=1"},
			want: []string{`--set:1:16: --set key "process.args[0]x": unexpected 'x'`},
		},
		{
			name: "index out of range",
			src:  setBase,
			sets: []string{"filesystem.mounts[2].target=/x"},
			want: []string{`--set:1:18: filesystem.mounts[2]: index 2 out of range: filesystem.mounts has 2 entries (use [+] to append)`},
		},
		{
			name: "index into an absent list",
			src:  setBase,
			sets: []string{"ids.groups[0]=1"},
			want: []string{`--set:1:11: ids.groups[0]: index 0 out of range: ids.groups has 0 entries (use [+] to append)`},
		},
		{
			name: "key into a list",
			src:  setBase,
			sets: []string{"process.args.x=1"},
			want: []string{`--set:1:14: process.args: cannot set "x": process.args is a list, not a mapping`},
		},
		{
			name: "key into a scalar",
			src:  setBase,
			sets: []string{"name.first=x"},
			want: []string{`--set:1:6: name: cannot set "first": name is a scalar, not a mapping`},
		},
		{
			name: "index into a mapping",
			src:  setBase,
			sets: []string{"process[0]=x"},
			want: []string{`--set:1:8: process: cannot index: process is a mapping, not a list`},
		},
		{
			name: "bad YAML value",
			src:  setBase,
			sets: []string{"process.args=[a"},
			want: []string{`--set:1:14: process.args: invalid YAML: did not find expected ',' or ']'`},
		},
		{
			name: "two documents in a value",
			src:  setBase,
			sets: []string{"name=a\n---\nb"},
			want: []string{`--set:1:1: name: more than one YAML document`},
		},
		{
			name: "unknown key",
			src:  setBase,
			sets: []string{"hostnme=x"},
			want: []string{`--set:1:1: hostnme: unknown key "hostnme" (did you mean "hostname"?)`},
		},
		{
			name: "unknown key in a created mapping",
			src:  setBase,
			sets: []string{"network.speed.max=1"},
			want: []string{`--set:1:9: network.speed: unknown key "speed" (allowed: mode, bridge, nat, ports, dns, hostLoopback, egress)`},
		},
		{
			name: "decode error at the value's column",
			src:  setBase,
			sets: []string{"ids.uid=abc"},
			want: []string{`--set:1:9: ids.uid: must be an integer, not "abc"`},
		},
		{
			name: "error inside a flow value",
			src:  setBase,
			sets: []string{"filesystem.mounts[+]={type: tmpfs, target: rel}"},
			want: []string{`--set:1:44: filesystem.mounts[2].target: must be an absolute path, not "rel"`},
		},
		{
			name: "enum error inside a flow value",
			src:  setBase,
			sets: []string{"filesystem.mounts[+]={type: nfs, target: /n}"},
			want: []string{`--set:1:29: filesystem.mounts[2].type: must be one of bind, tmpfs, proc, dev, dir, file, symlink, overlay, sysfs, mqueue, cgroup, not "nfs"`},
		},
		{
			name: "validation error of a set value",
			src:  setBase,
			sets: []string{"name=ok", "network.mode=host"},
			want: []string{`--set:2:14: network.mode: host needs namespaces.net: host`},
		},
		{
			name: "file errors first, then each --set in order",
			src:  setBase + "hostnme: x\n",
			sets: []string{"x", "ids.uid=-1"},
			want: []string{
				`p.yaml:10:1: hostnme: unknown key "hostnme" (did you mean "hostname"?)`,
				`--set:1:1: --set "x": missing "=": write KEY=VALUE`,
				`--set:2:9: ids.uid: must be an integer from 0 to 4294967295, not -1`,
			},
		},
		{
			name: "a failed set changes nothing",
			src:  setBase,
			sets: []string{"network.speed[3]=1"},
			want: []string{`--set:1:14: network.speed[3]: index 3 out of range: network.speed has 0 entries (use [+] to append)`},
		},
		{
			name: "empty file with sets",
			src:  "",
			sets: []string{"apiVersion=cell/v1", "name=x"},
			want: []string{`p.yaml:1:1: the profile is empty`},
		},
	})
}
