package lint_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/cellsandbox/cell/profiles"
	"github.com/cellsandbox/cell/spec"
	"github.com/cellsandbox/cell/spec/lint"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// vars are fixed, so that results do not depend on who runs the tests.
var vars = spec.Vars{Home: "/home/dev", User: "dev", PWD: "/home/dev/project", UID: 1000, GID: 1000}

var opts = lint.Options{Home: "/home/dev", PWD: "/home/dev/project"}

func parse(t *testing.T, file, src string) *spec.Profile {
	t.Helper()
	p, err := spec.Parse(file, []byte(src), spec.Options{Vars: vars})
	if err != nil {
		t.Fatalf("parse %s:\n%v", file, err)
	}
	return p
}

const head = "apiVersion: cell/v1\nname: t\n"

// TestRules triggers each rule and shows a near miss that does not.
func TestRules(t *testing.T) {
	tests := []struct {
		rule    string
		trigger string
		sev     lint.Severity
		at      string // file:line:col of the finding
		clean   string
	}{
		{"CELL001", "namespaces: {net: host}\nnetwork: {mode: host}\n", lint.High, "t.yaml:4:17", "network: {mode: none}\n"},
		{"CELL001", "namespaces: {net: host}\nnetwork: {mode: host}\n", lint.High, "t.yaml:4:17", "namespaces: {net: new}\n"},
		{"CELL001", "namespaces: {net: host}\nnetwork: {mode: host}\nsecurity: {landlock: {mode: require, connectTcp: [443]}}\n", lint.Medium, "t.yaml:4:17", "namespaces: {net: new}\n"},
		{"CELL007", "network: {mode: bridge}\n", lint.Low, "t.yaml:3:17", "network: {mode: bridge, egress: {default: deny}}\n"},
		{"CELL008", "network: {mode: user, hostLoopback: true}\n", lint.Medium, "t.yaml:3:37", "network: {mode: user, hostLoopback: true, egress: {default: deny}}\n"},
		{"CELL009", "network: {dns: [192.0.2.53], egress: {default: deny, allow: [{domain: \"*.com\", ports: [443]}]}}\n", lint.Medium, "t.yaml:3:71",
			"network: {dns: [192.0.2.53], egress: {default: deny, allow: [{domain: \"*.example.com\", ports: [443]}]}}\n"},
		{"CELL009", "network: {dns: [192.0.2.53], egress: {default: deny, allow: [{domain: pypi.org}]}}\n", lint.Low, "t.yaml:3:62",
			"network: {dns: [192.0.2.53], egress: {default: deny, allow: [{domain: pypi.org, ports: [443]}]}}\n"},
		{"CELL002", "namespaces: {user: host}\n", lint.High, "t.yaml:3:20", "namespaces: {user: new}\n"},
		{"CELL003", "namespaces: {pid: host}\n", lint.High, "t.yaml:3:19", "namespaces: {pid: new}\n"},
		{"CELL004", "namespaces: {ipc: host}\n", lint.Medium, "t.yaml:3:19", "namespaces: {ipc: new}\n"},
		{"CELL005", "namespaces: {mount: host}\n", lint.Critical, "t.yaml:3:21", "namespaces: {mount: new}\n"},
		{"CELL006", "namespaces: {uts: host}\n", lint.Low, "t.yaml:3:19", "namespaces: {uts: new}\n"},
		{"CELL006", "namespaces: {time: host}\n", lint.Info, "t.yaml:3:20", "namespaces: {time: new}\n"},
		{"CELL060", "namespaces: {user: host, join: {net: /run/netns/pod1}}\n", lint.High, "t.yaml:3:38", "namespaces: {user: host}\n"},
		{"CELL060", "namespaces: {user: host, join: {mount: /proc/1/ns/mnt}}\n", lint.Critical, "t.yaml:3:40", "namespaces: {user: host}\n"},
		{"CELL060", "namespaces: {user: host, join: {uts: /proc/42/ns/uts}}\n", lint.Low, "t.yaml:3:38", "namespaces: {user: host}\n"},
		{"CELL010", mounts("{type: bind, source: /etc, target: /etc, writable: true}"), lint.High, "t.yaml:5:58",
			mounts("{type: bind, source: /etc, target: /etc}")},
		{"CELL010", mounts("{type: bind, source: /, target: /host, writable: true}"), lint.Critical, "t.yaml:5:56",
			mounts("{type: bind, source: /srv2, target: /srv, writable: true}")},
		{"CELL011", mounts("{type: bind, source: /home/dev, target: /h, writable: true}"), lint.High, "t.yaml:5:61",
			mounts("{type: bind, source: /home/dev/project, target: /src, writable: true}")},
		{"CELL011", mounts("{type: bind, source: /home, target: /h, writable: true}"), lint.High, "t.yaml:5:57",
			mounts("{type: bind, source: /homework, target: /h, writable: true}")},
		{"CELL012", mounts("{type: bind, source: /home/dev, target: /h}"), lint.Medium, "t.yaml:5:28",
			mounts("{type: bind, source: /home/dev/project, target: /h}")},
		{"CELL012", mounts("{type: bind, source: /home/ann/.ssh, target: /k}"), lint.High, "t.yaml:5:28",
			mounts("{type: bind, source: /home/ann/.sshx, target: /k}")},
		{"CELL012", mounts("{type: bind, source: /home/dev/.config, target: /c}"), lint.High, "t.yaml:5:28",
			mounts("{type: bind, source: /home/dev/.config/nvim, target: /c}")},
		{"CELL023", mounts("{type: bind, source: /etc/shadow, target: /s}"), lint.High, "t.yaml:5:28",
			mounts("{type: bind, source: /etc/passwd, target: /s}")},
		{"CELL023", mounts("{type: bind, source: /etc/sudoers.d, target: /s, writable: true}"), lint.Critical, "t.yaml:5:28",
			mounts("{type: bind, source: /etc/sudoers.dist, target: /s, writable: true}")},
		{"CELL023", mounts("{type: bind, source: /etc, target: /etc}"), lint.High, "t.yaml:5:28",
			mounts("{type: bind, source: /etc/ssl/certs, target: /etc/ssl/certs}")},
		{"CELL023", mounts("{type: bind, source: /etc/ssh, target: /k}"), lint.High, "t.yaml:5:28",
			mounts("{type: bind, source: /etc/ssh_config, target: /k}")},
		{"CELL023", mounts("{type: bind, source: /etc/gshadow, target: /k}"), lint.High, "t.yaml:5:28",
			mounts("{type: bind, source: /etc/group, target: /k}")},
		{"CELL024", mounts("{type: bind, source: /etc, target: /etc, writable: true}"), lint.Critical, "t.yaml:5:58",
			"ids:\n  uidMap: [{inside: 0, outside: 100000, count: 65536}]\n" + mounts("{type: bind, source: /etc, target: /etc, writable: true}")},
		{"CELL024", "ids:\n  uidMap: [{inside: 0, outside: 0, count: 1}]\n" + mounts("{type: bind, source: /etc/passwd, target: /etc/passwd, writable: true}"), lint.Critical, "t.yaml:7:72",
			"ids:\n  uidMap: [{inside: 0, outside: 0, count: 1}]\n" + mounts("{type: bind, source: /etc/passwd, target: /etc/passwd}")},
		{"CELL026", "security: {setIDGuard: false}\n" + mounts("{type: bind, source: /srv/data, target: /d, writable: true}"), lint.Critical, "t.yaml:6:61",
			mounts("{type: bind, source: /srv/data, target: /d, writable: true}")},
		{"CELL026", "security: {setIDGuard: false}\nids:\n  uidMap: [{inside: 0, outside: 100000, count: 65536}]\n" + mounts("{type: bind, source: /srv/data, target: /d, writable: true}"), lint.High, "t.yaml:8:61",
			"security: {setIDGuard: false}\n" + mounts("{type: bind, source: /srv/data, target: /d}")},
		{"CELL025", mounts("{type: bind, source: /home/dev/project, target: /src, writable: true}"), lint.High, "t.yaml:5:71",
			"filesystem:\n  mounts:\n" +
				"    - {type: bind, source: /home/dev/project, target: /src, writable: true}\n" +
				"    - {type: bind, source: /home/dev/project/.git, target: /src/.git, writable: true, optional: true}\n" +
				"    - {type: bind, source: /home/dev/project/.git/hooks, target: /src/.git/hooks, optional: true}\n" +
				"    - {type: bind, source: /home/dev/project/.git/config, target: /src/.git/config, optional: true}\n"},
		{"CELL025", "filesystem:\n  mounts:\n" +
			"    - {type: bind, source: /home/dev, target: /home/dev, writable: true}\n" +
			"    - {type: bind, source: /home/dev/project/.git/hooks, target: /home/dev/project/.git/hooks, optional: true}\n" +
			"    - {type: bind, source: /home/dev/project/.git/config, target: /home/dev/project/.git/config, optional: true}\n", lint.High, "t.yaml:5:68",
			mounts("{type: bind, source: /home/dev/other, target: /o, writable: true}")},
		{"CELL014", mounts("{type: bind, source: /run/user/1000/podman/podman.sock, target: /p}"), lint.Critical, "t.yaml:5:28",
			mounts("{type: bind, source: /srv/user/1000/podman, target: /p}")},
		{"CELL014", mounts("{type: bind, source: /run/user/1000, target: /r}"), lint.Critical, "t.yaml:5:28",
			mounts("{type: bind, source: /srv/run/user/1000, target: /r}")},
		{"CELL013", mounts("{type: bind, source: /, target: /host}"), lint.High, "t.yaml:5:28",
			mounts("{type: bind, source: /usr, target: /usr}")},
		{"CELL014", mounts("{type: bind, source: /var/run/docker.sock, target: /var/run/docker.sock}"), lint.Critical, "t.yaml:5:28",
			mounts("{type: bind, source: /var/lib/docker-config, target: /cfg}")},
		{"CELL014", mounts("{type: bind, source: /run, target: /run}"), lint.Critical, "t.yaml:5:28",
			mounts("{type: dir, target: /run}")},
		{"CELL014", mounts("{type: bind, source: /run/user/1000/bus, target: /bus}"), lint.High, "t.yaml:5:28",
			mounts("{type: bind, source: /runner, target: /runner}")},
		{"CELL015", mounts("{type: tmpfs, target: /tmp, size: 1Mi}"), lint.Low, "t.yaml:5:7",
			mounts("{type: tmpfs, target: /tmp, size: 1Mi, noexec: true}")},
		{"CELL015", mounts("{type: bind, source: /srv, target: /srv, writable: true}"), lint.Low, "t.yaml:5:58",
			mounts("{type: bind, source: /srv, target: /srv}")},
		{"CELL016", mounts("{type: tmpfs, target: /tmp}"), lint.Medium, "t.yaml:5:7",
			"filesystem:\n  root: {readOnly: true}\n  mounts:\n    - {type: tmpfs, target: /tmp, size: 64Mi}\n"},
		{"CELL016", "filesystem: {root: {readOnly: false}}\n", lint.Medium, "t.yaml:3:14",
			"filesystem: {root: {readOnly: true}}\n"},
		{"CELL017", "filesystem: {root: {size: 1Mi}}\n", lint.Low, "t.yaml:3:14", "filesystem: {root: {size: 1Mi, readOnly: true}}\n"},
		{"CELL018", mounts("{type: bind, source: /sys, target: /sys}"), lint.Medium, "t.yaml:5:28",
			mounts("{type: proc, target: /proc}")},
		{"CELL019", mounts("{type: bind, source: /dev/kvm, target: /dev/kvm}"), lint.Medium, "t.yaml:5:28",
			mounts("{type: dev, target: /dev}")},
		{"CELL020", "ids:\n  uidMap: [{inside: 0, outside: 0, count: 1}]\n", lint.Critical, "t.yaml:4:33",
			"ids:\n  uidMap: [{inside: 0, outside: 100000, count: 65536}]\n"},
		{"CELL020", "ids:\n  gidMap: [{inside: 0, outside: 0, count: 1}]\n", lint.High, "t.yaml:4:33",
			"ids:\n  gidMap: [{inside: 0, outside: 1000, count: 1}]\n"},
		{"CELL021", "ids: {uid: 0}\n", lint.Info, "t.yaml:3:12", "ids: {uid: 1000}\n"},
		{"CELL030", "process: {passEnv: [GITHUB_TOKEN]}\n", lint.High, "t.yaml:3:21", "process: {passEnv: [TERM]}\n"},
		{"CELL030", "process: {env: {DB_PASSWORD: x}}\n", lint.Medium, "t.yaml:3:30", "process: {env: {DB_HOST: x}}\n"},
		{"CELL031", "process: {passEnv: [LD_PRELOAD]}\n", lint.Medium, "t.yaml:3:21", "process: {env: {PATH: /usr/bin}}\n"},
		{"CELL032", "process: {passEnv: [SSH_AUTH_SOCK]}\n", lint.Medium, "t.yaml:3:21", "process: {passEnv: [LANG]}\n"},
		{"CELL033", "process: {inheritFds: [3]}\n", lint.Low, "t.yaml:3:24", "process: {inheritFds: []}\n"},
		{"CELL022", mounts("{type: proc, target: /proc, unmasked: true}"), lint.Medium, "t.yaml:5:45", mounts("{type: proc, target: /proc}")},
		{"CELL029", mounts("{type: bind, source: /srv/p, target: /p, writable: true, followSymlinks: true}"), lint.High, "t.yaml:5:80", mounts("{type: bind, source: /srv/p, target: /p, followSymlinks: true}")},
		{"CELL034", "process: {newSession: false}\n", lint.Medium, "t.yaml:3:23", "process: {newSession: true}\n"},
		{"CELL040", "security: {capabilities: [CAP_NET_BIND_SERVICE]}\n", lint.Medium, "t.yaml:3:26", "security: {capabilities: []}\n"},
		{"CELL041", "security: {capabilities: [sys_admin]}\n", lint.High, "t.yaml:3:26", "security: {capabilities: [CAP_CHOWN]}\n"},
		{"CELL042", "security: {seccomp: {mode: unconfined}}\n", lint.High, "t.yaml:3:28", "security: {seccomp: {mode: default}}\n"},
		{"CELL042", "security: {seccomp: {allowNestedNamespaces: true}}\n", lint.Medium, "t.yaml:3:45", "security: {seccomp: {allowNestedNamespaces: false}}\n"},
		{"CELL043", "security: {noNewPrivileges: false}\n", lint.High, "t.yaml:3:29", "security: {noNewPrivileges: true}\n"},
		{"CELL050", "resources: {memory: {max: max}}\n", lint.Medium, "t.yaml:3:27", "resources: {memory: {max: 1Gi}}\n"},
		{"CELL051", "resources: {pids: {}}\n", lint.Medium, "t.yaml:3:13", "resources: {pids: {max: 100}}\n"},
		{"CELL052", "resources: {cpu: {weight: 100}}\n", lint.Low, "t.yaml:3:13", "resources: {cpu: {max: 1.5}}\n"},
	}
	covered := make(map[string]bool)
	for _, tt := range tests {
		covered[tt.rule] = true
		t.Run(tt.rule, func(t *testing.T) {
			r := lint.Profile(parse(t, "t.yaml", head+tt.trigger), opts)
			var got *lint.Finding
			for i, f := range r.Findings {
				if f.Rule == tt.rule {
					got = &r.Findings[i]
				}
			}
			if got == nil {
				t.Fatalf("%s not reported for\n%s\ngot: %v", tt.rule, tt.trigger, r.Findings)
			}
			if got.Severity != tt.sev || got.Pos.String() != tt.at {
				t.Errorf("got %s at %s, want %s at %s: %s", got.Severity, got.Pos, tt.sev, tt.at, got)
			}
			if got.Message == "" || got.Hint == "" || got.Path == "" {
				t.Errorf("finding lacks a message, hint or path: %+v", got)
			}
			r = lint.Profile(parse(t, "t.yaml", head+tt.clean), opts)
			for _, f := range r.Findings {
				if f.Rule == tt.rule {
					t.Errorf("%s reported for the near miss\n%s: %s", tt.rule, tt.clean, f)
				}
			}
		})
	}
	for _, r := range lint.Rules() {
		if !covered[r.ID] {
			t.Errorf("rule %s has no test", r.ID)
		}
	}
}

func mounts(m string) string { return "filesystem:\n  mounts:\n    - " + m + "\n" }

// TestRuleTable checks the rules' IDs, names and texts.
func TestRuleTable(t *testing.T) {
	id := regexp.MustCompile(`^CELL[0-9]{3}$`)
	name := regexp.MustCompile(`^[a-z]+(-[a-z]+)*$`)
	seen := make(map[string]bool)
	prev := ""
	for _, r := range lint.Rules() {
		if !id.MatchString(r.ID) || !name.MatchString(r.Name) {
			t.Errorf("bad ID or name: %q %q", r.ID, r.Name)
		}
		if r.ID <= prev {
			t.Errorf("%s is out of order (after %s)", r.ID, prev)
		}
		prev = r.ID
		if seen[r.Name] {
			t.Errorf("name %q used twice", r.Name)
		}
		seen[r.Name] = true
		if !strings.HasSuffix(r.Summary, ".") || !strings.HasSuffix(r.Help, ".") {
			t.Errorf("%s: summary and help must be sentences", r.ID)
		}
	}
}

func TestScore(t *testing.T) {
	f := func(s ...lint.Severity) []lint.Finding {
		var out []lint.Finding
		for _, v := range s {
			out = append(out, lint.Finding{Severity: v})
		}
		return out
	}
	tests := []struct {
		findings []lint.Finding
		want     float64
		verdict  string
	}{
		{nil, 0, "ok"},
		{f(lint.Info, lint.Info), 0, "ok"},
		{f(lint.Low), 0.4, "ok"},
		{f(lint.Medium), 1.2, "ok"},
		{f(lint.High), 3, "medium"},
		{f(lint.High, lint.High), 5.1, "exposed"},
		{f(lint.Critical), 5, "exposed"},
		{f(lint.Critical, lint.Critical, lint.Critical, lint.High), 9.1, "unsafe"},
		{f(lint.Critical, lint.Critical, lint.Critical, lint.Critical, lint.Critical, lint.Critical, lint.Critical, lint.Critical, lint.Critical, lint.Critical, lint.Critical, lint.Critical), 10, "unsafe"},
	}
	for _, tt := range tests {
		got := lint.Score(tt.findings)
		if got != tt.want || lint.Verdict(got) != tt.verdict {
			t.Errorf("Score(%d findings) = %v (%s), want %v (%s)", len(tt.findings), got, lint.Verdict(got), tt.want, tt.verdict)
		}
	}
}

func TestSeverity(t *testing.T) {
	for _, s := range lint.Severities {
		got, err := lint.ParseSeverity(s.String())
		if err != nil || got != s {
			t.Errorf("ParseSeverity(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := lint.ParseSeverity("severe"); err == nil || !strings.Contains(err.Error(), "critical") {
		t.Errorf("ParseSeverity(severe) = %v, want an error listing the names", err)
	}
	if s := lint.Severity(9).String(); s != "Severity(9)" {
		t.Errorf("String of an unknown severity: %q", s)
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
		t.Fatalf("%v (run go test ./spec/lint -update)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s is stale (-want +got); run go test ./spec/lint -update if intended:\n%s", file, diff)
	}
}

// reports lints the profiles of testdata.
func reports(t *testing.T) []*lint.Report {
	t.Helper()
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no profiles in testdata: %v", err)
	}
	var out []*lint.Report
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, lint.Profile(parse(t, filepath.ToSlash(file), string(data)), opts))
	}
	return out
}

// TestGolden pins the three output formats.
func TestGolden(t *testing.T) {
	rs := reports(t)
	for _, f := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"lint.golden.txt", func(b *bytes.Buffer) error { return lint.Write(b, rs) }},
		{"lint.golden.json", func(b *bytes.Buffer) error { return lint.WriteJSON(b, rs) }},
		{"lint.golden.sarif", func(b *bytes.Buffer) error { return lint.WriteSARIF(b, rs) }},
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

// TestSARIFSchema validates SARIF output against the SARIF 2.1.0 JSON
// Schema, with an independent validator.
func TestSARIFSchema(t *testing.T) {
	f, err := os.Open("testdata/sarif-2.1.0.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("sarif.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("sarif.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		rs   []*lint.Report
	}{
		{"findings", reports(t)},
		{"none", []*lint.Report{lint.Profile(parse(t, "/abs/clean profile.yaml", head), opts)}},
		{"no reports", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := lint.WriteSARIF(&b, tc.rs); err != nil {
				t.Fatal(err)
			}
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(inst); err != nil {
				t.Errorf("SARIF output fails the schema: %v\n%s", err, b.String())
			}
		})
	}
	// The schema is strict enough to catch a broken log.
	bad := map[string]any{"version": "2.1.0", "runs": []any{map[string]any{"tool": map[string]any{}}}}
	js, _ := json.Marshal(bad)
	inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err := s.Validate(inst); err == nil {
		t.Error("the schema accepts a run whose tool has no driver")
	}
}

// builtinLoad reads built-in profiles for extends.
func builtinLoad(name, _ string) (string, []byte, error) {
	data, err := profiles.Get(name)
	return "builtin:" + name, data, err
}

// levels are the severities each built-in profile must stay below: the
// level it is meant to pass `cell lint --fail-on` at.
var levels = map[string]lint.Severity{
	"default":      lint.High,
	"build":        lint.High,
	"dev":          lint.High,
	"python":       lint.High,
	"node":         lint.High,
	"go":           lint.High,
	"agent":        lint.High,
	"build-worker": lint.Medium,
	"offline-test": lint.Medium,
}

// TestLibrary lints every built-in profile: each is clean at its level,
// and the findings are pinned in testdata/profiles.golden.txt.
func TestLibrary(t *testing.T) {
	var reps []*lint.Report
	for _, name := range profiles.Names() {
		level, ok := levels[name]
		if !ok {
			t.Errorf("built-in %s has no intended lint level in TestLibrary", name)
			continue
		}
		data, err := profiles.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		p, err := spec.Parse("builtin:"+name, data, spec.Options{Vars: vars, Load: builtinLoad})
		if err != nil {
			t.Fatalf("parse %s:\n%v", name, err)
		}
		r := lint.Profile(p, opts)
		for _, f := range r.AtLeast(level) {
			t.Errorf("%s is meant to pass --fail-on %s: %s", name, level, f)
		}
		reps = append(reps, r)
	}
	var b bytes.Buffer
	if err := lint.Write(&b, reps); err != nil {
		t.Fatal(err)
	}
	golden(t, "profiles.golden.txt", b.Bytes())
}

// TestHostMountRoot: with namespaces.mount: host and a root directory,
// CELL005 says what the sandbox then is (a chroot, no boundary against
// CAP_SYS_CHROOT, mounts in the host's table) rather than that the
// command sees the host's whole file system, and stays critical.
func TestHostMountRoot(t *testing.T) {
	src := head + "namespaces: {mount: host, user: host}\nfilesystem:\n  root: {path: /srv/rootfs}\n  mounts:\n    - {type: proc, target: /proc}\n"
	r := lint.Profile(parse(t, "t.yaml", src), lint.Options{})
	for _, f := range r.Findings {
		if f.Rule != "CELL005" {
			continue
		}
		for _, want := range []string{"chrooted into /srv/rootfs", "CAP_SYS_CHROOT", "host's mount table"} {
			if !strings.Contains(f.Message, want) {
				t.Errorf("CELL005 says %q, want it to mention %q", f.Message, want)
			}
		}
		if f.Severity != lint.Critical {
			t.Errorf("CELL005 is %s, want critical", f.Severity)
		}
		return
	}
	t.Fatalf("CELL005 not reported: %v", r.Findings)
}
