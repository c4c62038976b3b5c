package spec

import "testing"

// TestKernelFieldErrors covers sysctl, propagation types, device nodes
// and device rules.
func TestKernelFieldErrors(t *testing.T) {
	const head = "apiVersion: cell/v1\nname: k\n"
	runErrorCases(t, []errorCase{
		{name: "valid", src: head + "sysctl: {net.ipv4.ip_forward: \"1\"}\nfilesystem:\n  root: {propagation: rshared}\n  mounts:\n    - {type: dev, target: /dev, devices: [{path: /dev/fuse, type: c, major: 10, minor: 229}, {path: /dev/f, type: p}]}\n    - {type: tmpfs, target: /t, propagation: shared}\nresources: {devices: [{type: c, major: 10, access: rwm}, {type: a, access: m}]}\n"},
		{name: "sysctl name", src: head + "sysctl: {../x: \"1\"}\n",
			want: []string{`p.yaml:3:16: sysctl.../x: must be a kernel parameter's name such as "net.ipv4.ip_forward": lower-case letters, digits, "_" and "-" in parts joined by ".", not "../x"`}},
		{name: "propagation name", src: head + "filesystem:\n  root: {propagation: everywhere}\n",
			want: []string{`p.yaml:4:23: filesystem.root.propagation: must be one of private, rprivate, shared, rshared, slave, rslave, unbindable, runbindable, not "everywhere"`}},
		{name: "propagation of a proc mount", src: head + "filesystem:\n  mounts: [{type: proc, target: /proc, propagation: shared}]\n",
			want: []string{"p.yaml:4:53: filesystem.mounts[0].propagation: only applies to bind and tmpfs mounts, not proc"}},
		{name: "device outside /dev", src: head + "filesystem:\n  mounts: [{type: dev, target: /dev, devices: [{path: /etc/x, type: c}]}]\n",
			want: []string{"p.yaml:4:55: filesystem.mounts[0].devices[0].path: needs to be under the dev mount's target /dev"}},
		{name: "fifo number", src: head + "filesystem:\n  mounts: [{type: dev, target: /dev, devices: [{path: /dev/x, type: p, major: 1}]}]\n",
			want: []string{"p.yaml:4:79: filesystem.mounts[0].devices[0].major: only applies to c and b devices, not a FIFO"}},
		{name: "devices of a tmpfs", src: head + "filesystem:\n  mounts: [{type: tmpfs, target: /t, devices: [{path: /t/x, type: p}]}]\n",
			want: []string{"p.yaml:4:47: filesystem.mounts[0].devices: only applies to dev mounts, not tmpfs"}},
		{name: "rule access", src: head + "resources: {devices: [{type: c, access: rww}]}\n",
			want: []string{`p.yaml:3:41: resources.devices[0].access: must be r, w and m, each at most once (such as "rwm" or "r"), not "rww"`}},
		{name: "rule of all with a number", src: head + "resources: {devices: [{type: a, major: 1, access: r}]}\n",
			want: []string{"p.yaml:3:30: resources.devices[0].type: needs no major or minor (a is every device)"}},
		{name: "join and host", src: head + "namespaces: {net: host, join: {net: /run/netns/x}}\nnetwork: {mode: host}\n",
			want: []string{"p.yaml:3:37: namespaces.join.net: cannot be given with namespaces.net: host"}},
		{name: "join path", src: head + "namespaces: {join: {ipc: x}}\n",
			want: []string{`p.yaml:3:26: namespaces.join.ipc: must be an absolute path, not "x"`}},
		{name: "rule for a fifo", src: head + "resources: {devices: [{type: p, access: r}]}\n",
			want: []string{`p.yaml:3:30: resources.devices[0].type: must be one of c, b, a, not "p"`}},
	})
}
