package explain_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cellsandbox/cell/spec"
	"github.com/cellsandbox/cell/spec/explain"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var (
	vars = spec.Vars{Home: "/home/dev", User: "dev", PWD: "/home/dev/project", UID: 1000, GID: 1000}
	opts = explain.Options{UID: 1000, GID: 1000, User: "dev", Home: "/home/dev", PWD: "/home/dev/project"}
)

func parse(t *testing.T, file, src string) *spec.Profile {
	t.Helper()
	p, err := spec.Parse(file, []byte(src), spec.Options{Vars: vars})
	if err != nil {
		t.Fatalf("parse %s:\n%v", file, err)
	}
	return p
}

// TestGolden pins the text and Markdown explanations of the profiles in
// testdata.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.yaml")
	if len(files) == 0 {
		t.Fatal("no profiles in testdata")
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		e := explain.Profile(parse(t, filepath.Base(file), string(data)), opts)
		base := strings.TrimSuffix(file, ".yaml")
		for _, f := range []struct {
			ext   string
			write func(*bytes.Buffer) error
		}{
			{".golden.txt", func(b *bytes.Buffer) error { return explain.Write(b, e) }},
			{".golden.md", func(b *bytes.Buffer) error { return explain.WriteMarkdown(b, e) }},
		} {
			var b bytes.Buffer
			if err := f.write(&b); err != nil {
				t.Fatal(err)
			}
			golden(t, base+f.ext, b.Bytes())
		}
	}
}

func golden(t *testing.T, file string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./spec/explain -update)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s is stale (-want +got); run go test ./spec/explain -update if intended:\n%s", file, d)
	}
}

// TestHost shows what this host enforces in Defences.
func TestHost(t *testing.T) {
	o := opts
	o.Host = "landlock ABI 5 best-effort; read-only /usr; dropped: scope signal (ABI 6)"
	var b bytes.Buffer
	if err := explain.Write(&b, explain.Profile(parse(t, "t.yaml", "apiVersion: cell/v1\nname: t\n"), o)); err != nil {
		t.Fatal(err)
	}
	if want := "  - On this host: landlock ABI 5 best-effort; read-only /usr; dropped: scope signal (ABI 6).\n"; !strings.Contains(b.String(), want) {
		t.Errorf("explanation lacks %q:\n%s", want, b.String())
	}
}

// TestSentences checks what the explanation says of single choices.
func TestSentences(t *testing.T) {
	const head = "apiVersion: cell/v1\nname: t\n"
	tests := []struct {
		name, src, want string
	}{
		{"own network", "", "only loopback"},
		{"bridge", "network: {mode: bridge}\n", "on the host's bridge cell0 (subnet 10.88.0.0/24) with an address of its own: it reaches the host (at the bridge's address) and the other sandboxes on that bridge; nothing beyond the host (no NAT)."},
		{"bridge with NAT", "network: {mode: bridge, nat: true}\n", "through NAT behind the host's address, everything the host reaches."},
		{"user", "network: {mode: user}\n", "the host's loopback services are out of reach."},
		{"user and host loopback", "network: {mode: user, hostLoopback: true}\n", "including the host's loopback services at 10.0.2.2."},
		{"published port", "network: {mode: user, ports: [\"8080:80\"]}\n", "Its tcp port 80 is published on the host's port 8080"},
		{"egress", "network: {egress: {default: deny, allow: [{to: 192.0.2.0/24, ports: [443, 80], proto: tcp}, {to: 192.0.2.53}]}}\n",
			"connect only to 192.0.2.0/24 (tcp, port 443, 80); 192.0.2.53 (tcp and udp, every port), and loopback"},
		{"egress, nothing", "network: {egress: {default: deny}}\n", "Egress rules refuse every connection beyond loopback"},
		{"egress by name", "network: {dns: [192.0.2.53], egress: {default: deny, allow: [{domain: pypi.org, ports: [443]}, {domain: \"*.example.com\"}]}}\n",
			"it reaches only pypi.org (port 443); any name under example.com (every port). A TLS connection must name the host"},
		{"egress by name, mode none", "network: {dns: [192.0.2.53], egress: {default: deny, allow: [{domain: pypi.org}]}}\n",
			"nothing outside the sandbox is reachable but the names that cell's proxy lets it reach"},
		{"host network", "namespaces: {net: host}\nnetwork: {mode: host}\n", "It uses the host's network"},
		{"no user namespace", "namespaces: {user: host}\n", "runs as the caller, uid 1000"},
		{"caller's uid", "ids: {uid: 1000}\n", "Outside, uid 1000 is the caller's uid 1000"},
		{"subordinate range", "ids:\n  uidMap: [{inside: 0, outside: 100000, count: 65536}]\n", "Uids 0-65535 inside are uids 100000-165535 outside (the command is uid 100000 outside)."},
		{"subordinate", "ids:\n  uidMap: [{inside: 0, outside: subuid, count: 65536}]\n", "Uids 0-65535 inside are 65536 uids of the caller's subordinate range (/etc/subuid) outside."},
		{"host root", "ids:\n  uidMap: [{inside: 0, outside: 0, count: 1}]\n", "this includes the host's root"},
		{"host file system", "namespaces: {mount: host}\n", "the host's whole file system"},
		{"chroot", "namespaces: {mount: host, user: host}\nfilesystem:\n  root: {path: /srv/rootfs}\n  mounts: [{type: proc, target: /proc}]\n",
			"chrooted into the host's directory /srv/rootfs, writable: the command can change its files on the host.\n  - A chroot is no boundary: a process with CAP_SYS_CHROOT can leave it"},
		{"chroot mounts", "namespaces: {mount: host, user: host}\nfilesystem:\n  root: {path: /srv/rootfs}\n  mounts: [{type: proc, target: /proc}]\n",
			"cell makes its mounts under /srv/rootfs in the host's mount table, where the host's processes see them, and unmounts them when the sandbox ends: /proc (proc)."},
		{"writable bind", "filesystem:\n  mounts: [{type: bind, source: /srv, target: /data, writable: true}]\n", "It can read and write the host's: /srv at /data."},
		{"set-ID guard off", "security: {setIDGuard: false}\nfilesystem:\n  mounts: [{type: bind, source: /srv, target: /data, writable: true}]\n",
			"Off: the set-ID guard: the command can leave set-user-ID and file-capability programs in its writable binds"},
		{"cgroup mount", "resources: {pids: {max: 9}}\nfilesystem:\n  mounts: [{type: cgroup, target: /sys/fs/cgroup}]\n", "/sys/fs/cgroup shows the sandbox's own cgroups, read-only"},
		{"empty cgroup mount", "filesystem:\n  mounts: [{type: cgroup, target: /sys/fs/cgroup}]\n", "/sys/fs/cgroup is empty: the sandbox has no cgroup of its own without a limit"},
		{"noexec", "filesystem:\n  mounts: [{type: tmpfs, target: /t, noexec: true}]\n", "It can execute nothing from the mounts."},
		{"unbounded tmpfs", "filesystem:\n  mounts: [{type: tmpfs, target: /t}]\n", "/t (tmpfs, no size limit)"},
		{"passEnv", "process: {passEnv: [TERM, LANG]}\n", "only these are passed in, when set: TERM, LANG."},
		{"memory", "resources: {memory: {max: 1Gi}}\n", "Memory: at most 1Gi."},
		{"huge pages", "resources: {hugetlb: {1GB: max, 2MB: 64Mi}}\n", "Huge pages of 2MB: at most 64Mi.\n  - Huge pages of 1GB: no limit."},
		{"traffic class", "resources: {net: {classID: 0x100001, priorities: {lo: 5}}}\n", "Its packets carry traffic class 10:1 (net_cls, for the host's traffic control; needs cgroup v1).\n  - Its packets get priorities on the host's interfaces lo 5 (net_prio; needs cgroup v1)."},
		{"no limits", "", "Off: no cgroup limits."},
		{"score", "", "Exposure 3.7/10 (medium)."},
		{"capabilities", "security: {capabilities: [CAP_NET_RAW]}\n", "It keeps the capabilities CAP_NET_RAW (in its own user namespace) and no other; no_new_privs is set"},
		{"no seccomp", "security: {seccomp: {mode: unconfined}}\n", "Off: no system call filter."},
		{"no nnp", "security: {noNewPrivileges: false}\n", "Off: no_new_privs."},
		{"landlock", "security: {landlock: {mode: require, readOnly: [/usr]}}\n", "On: landlock (require): read-only /usr; read-write nothing"},
		{"landlock refuses exec", "filesystem:\n  mounts: [{type: tmpfs, target: /t, size: 1Mi}]\nsecurity: {landlock: {mode: require, readWrite: [/t]}}\n",
			"Execution is refused by landlock (execve only: the dynamic loader can still run a program from these, as in ld.so ./prog; only a noexec mount stops that) in: /t."},
		{"landlock and noexec", "filesystem:\n  mounts: [{type: tmpfs, target: /t, size: 1Mi, noexec: true}]\nsecurity: {landlock: {mode: require, readWrite: [/t]}}\n",
			"Execution is refused by a noexec mount and landlock in: /t."},
		{"landlock keeps read-only", "filesystem:\n  mounts: [{type: bind, source: /srv, target: /srv, writable: true}]\nsecurity: {landlock: {mode: require, readOnly: [/srv]}}\n",
			"Landlock keeps these writable mounts read-only: /srv."},
		{"landlock tcp on the host's network", "namespaces: {net: host}\nnetwork: {mode: host}\nsecurity: {landlock: {mode: require, connectTcp: [443, 80]}}\n",
			"It uses the host's network namespace: landlock lets it connect only to TCP ports 443, 80 (UDP, MPTCP and every other protocol are not restricted by landlock), can listen on the host's ports and can use the host's abstract Unix sockets."},
		{"landlock scope on the host's network", "namespaces: {net: host}\nnetwork: {mode: host}\nsecurity: {landlock: {mode: require, scope: [abstractUnixSocket]}}\n",
			"landlock keeps the host's abstract Unix sockets out of reach."},
		{"own network namespace", "network: {mode: user}\n", "the host's abstract Unix sockets are out of reach"},
		{"egress to anywhere", "network: {mode: user, egress: {default: deny, allow: [{to: 0.0.0.0/0, ports: [443], proto: tcp}]}}\n",
			"Egress rules let it connect only to any IPv4 address (tcp, port 443), and loopback"},
		{"egress defence", "network: {mode: user, egress: {default: deny}}\n", "On: egress rules (nftables in its own network namespace)"},
		{"shared pid", "namespaces: {pid: host}\n", "Off: it shares the host's pid namespaces."},
		{"joined network", "namespaces: {user: host, join: {net: /run/netns/pod1}}\n", "It enters the existing network namespace /run/netns/pod1 instead of one of its own"},
		{"joined network, at worst", "namespaces: {user: host, join: {net: /run/netns/pod1}}\n", "At worst (the host's): it reaches everything the host reaches"},
		{"joined mount namespace", "namespaces: {user: host, join: {mount: /proc/42/ns/mnt}}\n", "Its root and mounts are made in the existing mount namespace /proc/42/ns/mnt, which other processes share"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := explain.Write(&b, explain.Profile(parse(t, "t.yaml", head+tt.src), opts)); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), tt.want) {
				t.Errorf("explanation lacks %q:\n%s", tt.want, b.String())
			}
		})
	}
}
