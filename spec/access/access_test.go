package access_test

import (
	"testing"

	"github.com/cellsandbox/cell/spec"
	"github.com/cellsandbox/cell/spec/access"
)

func parse(t *testing.T, src string) *spec.Profile {
	t.Helper()
	p, err := spec.Parse("t.yaml", []byte("apiVersion: cell/v1\nname: t\n"+src), spec.Options{
		Vars: spec.Vars{Home: "/home/dev", User: "dev", PWD: "/home/dev/project", UID: 1000, GID: 1000},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFiles pins what each mechanism decides at a mount.
func TestFiles(t *testing.T) {
	const ll = "security: {landlock: {mode: require, readExec: [/usr], readWrite: [/t]}}\n"
	tests := []struct {
		name, src         string
		read, write, exec string
	}{
		{"read-only bind", "filesystem: {mounts: [{type: bind, source: /usr, target: /usr}]}\n",
			"allowed by mount", "denied by mount", "allowed by mount"},
		{"writable noexec bind", "filesystem: {mounts: [{type: bind, source: /srv, target: /srv, writable: true, noexec: true}]}\n",
			"allowed by mount", "allowed by mount", "denied by mount"},
		{"landlock read-exec", "filesystem: {mounts: [{type: bind, source: /usr, target: /usr}]}\n" + ll,
			"allowed by mount and landlock", "denied by mount", "allowed by mount and landlock"},
		{"landlock read-write, no exec", "filesystem: {mounts: [{type: tmpfs, target: /t, size: 1Mi}]}\n" + ll,
			"allowed by mount and landlock", "allowed by mount and landlock",
			"denied by landlock (landlock refuses execve only: the dynamic loader can still map and run a program from here (ld.so ./prog); a noexec mount stops that)"},
		{"landlock hides", "filesystem: {mounts: [{type: bind, source: /srv, target: /srv, writable: true}]}\n" + ll,
			"denied by landlock", "denied by landlock", "denied by landlock (landlock refuses execve only: the dynamic loader can still map and run a program from here (ld.so ./prog); a noexec mount stops that)"},
		{"proc", "filesystem: {mounts: [{type: proc, target: /proc}]}\n",
			"allowed by mount", "allowed by mount", "denied by mount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := access.Files(parse(t, tt.src))
			if len(f) != 1 {
				t.Fatalf("want one path, got %v", f)
			}
			for _, c := range []struct{ what, got, want string }{
				{"read", f[0].Read.String(), tt.read}, {"write", f[0].Write.String(), tt.write}, {"exec", f[0].Exec.String(), tt.exec},
			} {
				if c.got != c.want {
					t.Errorf("%s: got %q, want %q", c.what, c.got, c.want)
				}
			}
		})
	}
}

// TestReach pins the network and signal verdicts of the network modes.
func TestReach(t *testing.T) {
	const egress = "network:\n  mode: user\n  egress:\n    default: deny\n    allow: [{to: 0.0.0.0/0, ports: [443], proto: tcp}, {to: 10.0.2.3, ports: [53]}]\n"
	tests := []struct {
		name, src, what string
		port            uint16
		want            string
	}{
		{"none tcp", "", "tcp", 443, "denied by namespace"},
		{"host tcp", "namespaces: {net: host}\nnetwork: {mode: host}\n", "tcp", 22, "allowed by namespace"},
		{"host landlock tcp", "namespaces: {net: host}\nnetwork: {mode: host}\nsecurity: {landlock: {mode: require, connectTcp: [443]}}\n", "tcp", 22, "denied by landlock"},
		{"host landlock udp", "namespaces: {net: host}\nnetwork: {mode: host}\nsecurity: {landlock: {mode: require, connectTcp: [443]}}\n", "udp", 22, "allowed by namespace"},
		{"user open", "network: {mode: user}\n", "udp", 22, "allowed by network"},
		{"egress allowed", egress, "tcp", 443, "allowed by network and egress"},
		{"egress refused port", egress, "tcp", 22, "denied by egress"},
		{"egress refuses udp beyond the resolver", egress, "udp", 53, "denied by egress"},
		{"bridge without nat", "network: {mode: bridge}\n", "tcp", 443, "denied by network"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := access.Connect(parse(t, tt.src), tt.what, tt.port).String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	host := parse(t, "namespaces: {net: host}\nnetwork: {mode: host}\n")
	scoped := parse(t, "namespaces: {net: host}\nnetwork: {mode: host}\nsecurity: {landlock: {mode: require, scope: [abstractUnixSocket, signal]}}\n")
	for _, c := range []struct{ name, got, want string }{
		{"host abstract", access.AbstractUnix(host).String(), "allowed by namespace"},
		{"scoped abstract", access.AbstractUnix(scoped).String(), "denied by landlock"},
		{"own abstract", access.AbstractUnix(parse(t, "")).String(), "denied by namespace"},
		{"own pid signal", access.Signal(parse(t, "")).String(), "denied by namespace"},
		{"shared pid signal", access.Signal(parse(t, "namespaces: {pid: host}\n")).String(), "allowed by namespace"},
		{"shared pid scoped signal", access.Signal(parse(t, "namespaces: {pid: host}\nsecurity: {landlock: {mode: require, scope: [signal]}}\n")).String(), "denied by landlock"},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
}
