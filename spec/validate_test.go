package spec

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// mounts returns a profile whose filesystem.mounts are the given flow
// mappings; mount i is on line 5+i, its "{" at column 7.
func mounts(ms ...string) string {
	var b strings.Builder
	b.WriteString(hdr + "filesystem:\n  mounts:\n")
	for _, m := range ms {
		b.WriteString("    - " + m + "\n")
	}
	return b.String()
}

// uidMap returns a profile whose ids.uidMap ranges are the given flow
// mappings; range i is on line 5+i, its "{" at column 7.
func uidMap(rs ...string) string {
	var b strings.Builder
	b.WriteString(hdr + "ids:\n  uidMap:\n")
	for _, r := range rs {
		b.WriteString("    - " + r + "\n")
	}
	return b.String()
}

const (
	nameRule     = `must be 1 to 63 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit`
	hostnameRule = `must be a host name (RFC 1123): labels of letters, digits and "-" joined by "."`
	envNameRule  = `must be a variable name: a letter or "_", then letters, digits or "_"`
)

func TestValidationErrors(t *testing.T) {
	ranges341 := make([]string, 341)
	for i := range ranges341 {
		ranges341[i] = fmt.Sprintf("{inside: %d, outside: %d, count: 1}", i, i)
	}
	runErrorCases(t, []errorCase{
		// apiVersion, name, hostname, domainname.
		{
			name: "wrong apiVersion",
			src:  "apiVersion: cell/v2\nname: t\n",
			want: []string{`p.yaml:1:13: apiVersion: must be "cell/v1", not "cell/v2"`},
		},
		{
			name: "missing apiVersion",
			src:  "name: t\n",
			want: []string{`p.yaml:1:1: apiVersion: is required`},
		},
		{
			name: "empty name",
			src:  "apiVersion: cell/v1\nname: \"\"\n",
			want: []string{`p.yaml:2:7: name: must not be empty`},
		},
		{
			name: "name with capitals and underscore",
			src:  "apiVersion: cell/v1\nname: Web_App\n",
			want: []string{`p.yaml:2:7: name: ` + nameRule},
		},
		{
			name: "name starting with a dash",
			src:  "apiVersion: cell/v1\nname: -x\n",
			want: []string{`p.yaml:2:7: name: ` + nameRule},
		},
		{
			name: "name of 64 characters",
			src:  "apiVersion: cell/v1\nname: " + strings.Repeat("a", 64) + "\n",
			want: []string{`p.yaml:2:7: name: ` + nameRule},
		},
		{
			name: "name of 63 characters",
			src:  "apiVersion: cell/v1\nname: " + strings.Repeat("a", 63) + "\n",
		},
		{
			name: "hostname starting with a dash",
			src:  hdr + "hostname: -bad\n",
			want: []string{`p.yaml:3:11: hostname: ` + hostnameRule},
		},
		{
			name: "hostname with an underscore",
			src:  hdr + "hostname: a_b\n",
			want: []string{`p.yaml:3:11: hostname: ` + hostnameRule},
		},
		{
			name: "domainname of 65 characters",
			src:  hdr + "domainname: " + strings.Repeat("a.", 32) + "a\n",
			want: []string{`p.yaml:3:13: domainname: must be at most 64 characters long`},
		},
		{
			name: "hostname of 64 characters",
			src:  hdr + "hostname: " + strings.Repeat("a.", 31) + "ab\n",
		},

		// abspath.
		{
			name: "relative cwd",
			src:  hdr + "process:\n  cwd: work\n",
			want: []string{`p.yaml:4:8: process.cwd: must be an absolute path, not "work"`},
		},
		{
			name: "double slash",
			src:  mounts("{type: tmpfs, target: /a//b}"),
			want: []string{`p.yaml:5:29: filesystem.mounts[0].target: must be a clean path: write "/a/b"`},
		},
		{
			name: "trailing slash",
			src:  mounts("{type: tmpfs, target: /a/}"),
			want: []string{`p.yaml:5:29: filesystem.mounts[0].target: must be a clean path: write "/a"`},
		},
		{
			name: "dot dot",
			src:  mounts("{type: tmpfs, target: /a/../b}"),
			want: []string{`p.yaml:5:29: filesystem.mounts[0].target: must not contain ".."`},
		},
		{
			name: "NUL in a target",
			src:  mounts(`{type: tmpfs, target: "/a\0b"}`),
			want: []string{`p.yaml:5:29: filesystem.mounts[0].target: must not contain a NUL byte`},
		},
		{
			name: "relative bind source",
			src:  mounts("{type: bind, target: /x, source: x}"),
			want: []string{`p.yaml:5:40: filesystem.mounts[0].source: must be an absolute path, not "x"`},
		},

		// Fields that apply to some mount types only.
		{
			name: "source on tmpfs",
			src:  mounts("{type: tmpfs, target: /x, source: /y}"),
			want: []string{`p.yaml:5:41: filesystem.mounts[0].source: only applies to bind mounts, not tmpfs`},
		},
		{
			name: "writable false on tmpfs",
			src:  mounts("{type: tmpfs, target: /x, writable: false}"),
			want: []string{`p.yaml:5:43: filesystem.mounts[0].writable: only applies to bind mounts, not tmpfs`},
		},
		{
			name: "recursive on proc",
			src:  mounts("{type: proc, target: /x, recursive: true}"),
			want: []string{`p.yaml:5:43: filesystem.mounts[0].recursive: only applies to bind mounts, not proc`},
		},
		{
			name: "optional on dir",
			src:  mounts("{type: dir, target: /x, optional: true}"),
			want: []string{`p.yaml:5:41: filesystem.mounts[0].optional: only applies to bind mounts, not dir`},
		},
		{
			name: "noexec on proc",
			src:  mounts("{type: proc, target: /x, noexec: true}"),
			want: []string{`p.yaml:5:40: filesystem.mounts[0].noexec: only applies to bind and tmpfs mounts, not proc`},
		},
		{
			name: "handBack on a read-only bind",
			src:  mounts("{type: bind, target: /x, source: /x, handBack: true}"),
			want: []string{`p.yaml:5:54: filesystem.mounts[0].handBack: needs writable: true`},
		},
		{
			name: "keepSymlinks without handBack",
			src:  mounts("{type: bind, target: /x, source: /x, writable: true, keepSymlinks: true}"),
			want: []string{`p.yaml:5:74: filesystem.mounts[0].keepSymlinks: needs handBack: true`},
		},
		{
			name: "followSymlinks on tmpfs",
			src:  mounts("{type: tmpfs, target: /x, followSymlinks: true}"),
			want: []string{`p.yaml:5:49: filesystem.mounts[0].followSymlinks: only applies to bind and overlay mounts, not tmpfs`},
		},
		{
			name: "size on bind",
			src:  mounts("{type: bind, target: /x, source: /x, size: 1M}"),
			want: []string{`p.yaml:5:50: filesystem.mounts[0].size: only applies to tmpfs and overlay mounts, not bind`},
		},
		{
			name: "mode on symlink",
			src:  mounts("{type: symlink, target: /x, linkTo: z, mode: 0755}"),
			want: []string{`p.yaml:5:52: filesystem.mounts[0].mode: only applies to tmpfs, dir and file mounts, not symlink`},
		},
		{
			name: "content on dir",
			src:  mounts("{type: dir, target: /x, content: hi}"),
			want: []string{`p.yaml:5:40: filesystem.mounts[0].content: only applies to file mounts, not dir`},
		},
		{
			name: "linkTo on file",
			src:  mounts("{type: file, target: /x, linkTo: /y}"),
			want: []string{`p.yaml:5:40: filesystem.mounts[0].linkTo: only applies to symlink mounts, not file`},
		},
		{
			name: "bind without source",
			src:  mounts("{type: bind, target: /x}"),
			want: []string{`p.yaml:5:7: filesystem.mounts[0].source: is required for bind mounts`},
		},
		{
			name: "symlink without linkTo",
			src:  mounts("{type: symlink, target: /x}"),
			want: []string{`p.yaml:5:7: filesystem.mounts[0].linkTo: is required for symlink mounts`},
		},
		{
			name: "NUL in linkTo",
			src:  mounts(`{type: symlink, target: /x, linkTo: "a\0"}`),
			want: []string{`p.yaml:5:43: filesystem.mounts[0].linkTo: must not contain a NUL byte`},
		},
		{
			name: "missing type and target",
			src:  mounts("{}"),
			want: []string{
				`p.yaml:5:7: filesystem.mounts[0].type: is required`,
				`p.yaml:5:7: filesystem.mounts[0].target: is required`,
			},
		},
		{
			name: "tmpfs size 0",
			src:  mounts("{type: tmpfs, target: /x, size: 0}"),
			want: []string{`p.yaml:5:39: filesystem.mounts[0].size: must be greater than 0`},
		},
		{
			name: "root path with tmpfs options",
			src:  hdr + "filesystem:\n  root: {path: rel, size: 1Mi, mode: \"0700\"}\n",
			want: []string{
				`p.yaml:4:16: filesystem.root.path: must be an absolute path, not "rel"`,
				`p.yaml:4:27: filesystem.root.size: only applies to a tmpfs root, not filesystem.root.path`,
				`p.yaml:4:38: filesystem.root.mode: only applies to a tmpfs root, not filesystem.root.path`,
			},
		},
		{
			name: "root size 0",
			src:  hdr + "filesystem:\n  root:\n    size: 0\n",
			want: []string{`p.yaml:5:11: filesystem.root.size: must be greater than 0`},
		},
		{
			name: "every field where it applies",
			src: mounts(
				"{type: bind, target: /b, source: /b, writable: true, recursive: false, optional: true, noexec: true}",
				"{type: tmpfs, target: /t, size: 1Mi, mode: 01777, noexec: true}",
				"{type: proc, target: /proc}",
				"{type: dev, target: /dev}",
				"{type: dir, target: /d, mode: 0700}",
				"{type: file, target: /f, mode: 0600, content: hi}",
				"{type: symlink, target: /s, linkTo: /b}",
			),
		},

		// Mount targets.
		{
			name: "duplicate target",
			src:  mounts("{type: tmpfs, target: /x}", "{type: dir, target: /x}"),
			want: []string{`p.yaml:6:27: filesystem.mounts[1].target: has the same target as mounts[0]`},
		},
		{
			name: "target /",
			src:  mounts("{type: tmpfs, target: /}"),
			want: []string{`p.yaml:5:29: filesystem.mounts[0].target: must not be "/": the root is set up by filesystem.root`},
		},
		{
			name: "under a file",
			src:  mounts("{type: file, target: /etc/hosts}", "{type: dir, target: /etc/hosts/x}"),
			want: []string{`p.yaml:6:27: filesystem.mounts[1].target: is under mounts[0] (/etc/hosts), which is a file, not a directory`},
		},
		{
			name: "under a symlink",
			src:  mounts("{type: symlink, target: /lib, linkTo: usr/lib}", "{type: tmpfs, target: /lib/x}"),
			want: []string{`p.yaml:6:29: filesystem.mounts[1].target: is under mounts[0] (/lib), which is a symlink, not a directory`},
		},
		{
			name: "shadows an earlier mount",
			src:  mounts("{type: bind, target: /usr/lib, source: /usr/lib}", "{type: tmpfs, target: /usr}"),
			want: []string{`p.yaml:6:29: filesystem.mounts[1].target: shadows mounts[0] (/usr/lib): list /usr before it`},
		},
		{
			name: "parents first and shared prefixes",
			src:  mounts("{type: tmpfs, target: /usr}", "{type: dir, target: /usr/lib}", "{type: dir, target: /usrx}", "{type: file, target: /usrx2}"),
		},

		// ID maps.
		{
			name: "count 0",
			src:  uidMap("{inside: 0, outside: 0, count: 0}"),
			want: []string{
				`p.yaml:3:1: ids.uid: 0 is not in any inside range of uidMap`,
				`p.yaml:5:38: ids.uidMap[0].count: must not be 0`,
			},
		},
		{
			name: "count missing",
			src:  uidMap("{inside: 0, outside: 0}"),
			want: []string{
				`p.yaml:3:1: ids.uid: 0 is not in any inside range of uidMap`,
				`p.yaml:5:7: ids.uidMap[0].count: is required`,
			},
		},
		{
			name: "inside range past the last ID",
			src:  uidMap("{inside: 4294967295, outside: 0, count: 1}", "{inside: 0, outside: 1, count: 1}"),
			want: []string{`p.yaml:5:47: ids.uidMap[0].count: inside + count must be at most 4294967295`},
		},
		{
			name: "outside range past the last ID",
			src:  uidMap("{inside: 0, outside: 4294967293, count: 3}"),
			want: []string{`p.yaml:5:47: ids.uidMap[0].count: outside + count must be at most 4294967295`},
		},
		{
			name: "outside (uid_t)-1",
			src:  uidMap("{inside: 0, outside: 4294967295, count: 1}"),
			want: []string{`p.yaml:5:28: ids.uidMap[0].outside: must be an ID from 0 to 4294967293, "subuid"/"subgid" for the caller's subordinate range, or "pick" for a range the sandbox alone holds, not "4294967295"`},
		},
		{
			// (uid_t)-2 is what pick is stored as.
			name: "outside (uid_t)-2",
			src:  uidMap("{inside: 0, outside: 4294967294, count: 1}"),
			want: []string{`p.yaml:5:28: ids.uidMap[0].outside: must be an ID from 0 to 4294967293, "subuid"/"subgid" for the caller's subordinate range, or "pick" for a range the sandbox alone holds, not "4294967294"`},
		},
		{
			name: "subordinate ranges do not overlap by their outside",
			src:  uidMap("{inside: 0, outside: subuid, count: 10}", "{inside: 10, outside: subuid, count: 10}"),
		},
		{
			name: "ranges up to the last ID",
			src:  uidMap("{inside: 0, outside: 1, count: 4294967294}"),
		},
		{
			name: "inside ranges overlap",
			src:  uidMap("{inside: 0, outside: 1000, count: 10}", "{inside: 5, outside: 2000, count: 10}"),
			want: []string{`p.yaml:6:16: ids.uidMap[1].inside: overlaps uidMap[0] (inside 0-9)`},
		},
		{
			name: "outside ranges overlap",
			src:  uidMap("{inside: 0, outside: 1000, count: 10}", "{inside: 100, outside: 1009, count: 1}"),
			want: []string{`p.yaml:6:30: ids.uidMap[1].outside: overlaps uidMap[0] (outside 1000-1009)`},
		},
		{
			name: "adjacent ranges",
			src:  uidMap("{inside: 0, outside: 1000, count: 10}", "{inside: 10, outside: 1010, count: 10}"),
		},
		{
			name: "gidMap ranges overlap",
			src:  hdr + "ids:\n  gidMap:\n    - {inside: 0, outside: 0, count: 2}\n    - {inside: 1, outside: 9, count: 1}\n",
			want: []string{`p.yaml:6:16: ids.gidMap[1].inside: overlaps gidMap[0] (inside 0-1)`},
		},
		{
			name: "uidMap and gidMap are separate",
			src: hdr + "ids:\n  uidMap: [{inside: 0, outside: 1000, count: 1}]\n" +
				"  gidMap: [{inside: 0, outside: 1000, count: 1}]\n",
		},
		{
			name: "too many ranges",
			src:  uidMap(ranges341...),
			want: []string{`p.yaml:5:5: ids.uidMap: must have at most 340 entries`},
		},
		{
			name: "uid not mapped",
			src:  hdr + "ids:\n  uid: 5000\n  uidMap:\n    - {inside: 0, outside: 1000, count: 1}\n",
			want: []string{`p.yaml:4:8: ids.uid: 5000 is not in any inside range of uidMap`},
		},
		{
			name: "default uid not mapped",
			src:  uidMap("{inside: 1, outside: 1000, count: 1}"),
			want: []string{`p.yaml:3:1: ids.uid: 0 is not in any inside range of uidMap`},
		},
		{
			name: "gid and groups not mapped, groups repeated",
			src:  hdr + "ids:\n  gid: 7\n  groups: [0, 8, 0]\n  gidMap:\n    - {inside: 0, outside: 1000, count: 1}\n",
			want: []string{
				`p.yaml:4:8: ids.gid: 7 is not in any inside range of gidMap`,
				`p.yaml:5:15: ids.groups[1]: 8 is not in any inside range of gidMap`,
				`p.yaml:5:18: ids.groups[2]: duplicates groups[0]`,
			},
		},
		{
			name: "uid not checked without a map",
			src:  hdr + "ids:\n  uid: 5000\n  gid: 5000\n  groups: [1, 2]\n",
		},

		// Namespaces.
		{
			name: "uidMap without a new user namespace",
			src:  hdr + "namespaces:\n  user: host\nids:\n  uidMap:\n    - {inside: 0, outside: 0, count: 1}\n",
			want: []string{`p.yaml:7:5: ids.uidMap: needs namespaces.user: new`},
		},
		{
			name: "gidMap without a new user namespace",
			src:  hdr + "namespaces: {user: host}\nids:\n  gidMap: [{inside: 0, outside: 0, count: 1}]\n",
			want: []string{`p.yaml:5:11: ids.gidMap: needs namespaces.user: new`},
		},
		{
			name: "hostname without a new UTS namespace",
			src:  hdr + "namespaces: {uts: host}\nhostname: box\ndomainname: lan\n",
			want: []string{
				`p.yaml:4:11: hostname: needs namespaces.uts: new`,
				`p.yaml:5:13: domainname: needs namespaces.uts: new`,
			},
		},
		{
			name: "network none with the host's net namespace",
			src:  hdr + "namespaces: {net: host}\nnetwork: {mode: none}\n",
			want: []string{`p.yaml:4:17: network.mode: none needs namespaces.net: new`},
		},
		{
			name: "default network with the host's net namespace",
			src:  hdr + "namespaces: {net: host}\n",
			want: []string{`p.yaml:3:19: namespaces.net: host needs network.mode: host (the default network.mode is none)`},
		},
		{
			name: "host network with a new net namespace",
			src:  hdr + "network: {mode: host}\n",
			want: []string{`p.yaml:3:17: network.mode: host needs namespaces.net: host`},
		},
		{
			name: "host network",
			src:  hdr + "namespaces: {net: host}\nnetwork: {mode: host}\n",
		},
		{
			name: "filesystem without a new mount namespace",
			src: hdr + "namespaces: {mount: host}\nfilesystem:\n  root: {readOnly: true, size: 1M, mode: 0700}\n" +
				"  mounts:\n    - {type: proc, target: /proc}\n",
			want: []string{
				`p.yaml:5:20: filesystem.root.readOnly: needs filesystem.root.path or namespaces.mount: new (it would remount the host's root read-only)`,
				`p.yaml:5:32: filesystem.root.size: needs namespaces.mount: new (with namespaces.mount: host the root is filesystem.root.path, a directory, not a tmpfs)`,
				`p.yaml:5:42: filesystem.root.mode: needs namespaces.mount: new (with namespaces.mount: host the root is filesystem.root.path, a directory, not a tmpfs)`,
				`p.yaml:7:5: filesystem.mounts: needs filesystem.root.path or namespaces.mount: new (they would be made on the host's root)`,
			},
		},
		{
			// cell chroots the command into the directory and makes
			// the mounts under it on the host, and unmounts them after.
			name: "root directory without a new mount namespace",
			src: hdr + "namespaces: {mount: host, user: host}\nfilesystem:\n  root: {path: /srv/rootfs, readOnly: true}\n" +
				"  mounts:\n    - {type: proc, target: /proc}\n    - {type: dev, target: /dev}\n",
		},
		{
			name: "what a root directory on the host cannot have",
			src: hdr + "namespaces: {mount: host, user: new}\nfilesystem:\n  root: {path: /, propagation: shared}\n" +
				"  mounts:\n    - {type: overlay, target: /o, lower: [/usr]}\n    - {type: bind, source: /a, target: /a, writable: true, handBack: true}\n",
			want: []string{
				`p.yaml:3:33: namespaces.user: needs host with namespaces.mount: host and filesystem.root.path (init's mounts are made in the host's mount namespace, over which a user namespace of the sandbox's own has no privilege)`,
				`p.yaml:5:16: filesystem.root.path: needs a directory other than "/" with namespaces.mount: host (the command would be chrooted into the host's root, and cell's mounts made over the host's)`,
				`p.yaml:5:32: filesystem.root.propagation: needs namespaces.mount: new (with namespaces.mount: host, cell makes its bind of filesystem.root.path private, so that its mounts do not reach the host's other mounts)`,
				`p.yaml:7:14: filesystem.mounts[0].type: needs namespaces.mount: new (an overlay's upper and work layers are made where the host would not see them)`,
				`p.yaml:8:70: filesystem.mounts[1].handBack: needs namespaces.mount: new`,
			},
		},

		// Process.
		{
			name: "bad env name",
			src:  hdr + "process:\n  env:\n    1A: x\n",
			want: []string{`p.yaml:5:5: process.env.1A: ` + envNameRule},
		},
		{
			name: "NUL in an env value",
			src:  hdr + "process:\n  env:\n    A: \"a\\0\"\n",
			want: []string{`p.yaml:5:8: process.env.A: must not contain a NUL byte`},
		},
		{
			name: "bad passEnv name",
			src:  hdr + "process:\n  passEnv: [OK, bad-name]\n",
			want: []string{`p.yaml:4:17: process.passEnv[1]: ` + envNameRule},
		},
		{
			name: "NUL in an argument",
			src:  hdr + "process:\n  args: [\"a\\0\"]\n",
			want: []string{`p.yaml:4:10: process.args[0]: must not contain a NUL byte`},
		},
		{
			name: "umask above 0777",
			src:  hdr + "process:\n  umask: 1777\n",
			want: []string{`p.yaml:4:10: process.umask: must be at most 0777, not 1777`},
		},
		{
			name: "inheritFds out of range and repeated",
			src:  hdr + "process:\n  inheritFds: [2, 3, 1024, 3, 1023]\n",
			want: []string{
				`p.yaml:4:16: process.inheritFds[0]: must be at least 3, not 2`,
				`p.yaml:4:22: process.inheritFds[2]: must be at most 1023, not 1024`,
				`p.yaml:4:28: process.inheritFds[3]: duplicates inheritFds[1]`,
			},
		},

		// Validation after decode errors.
		{
			name: "no validation of a value that failed to decode",
			src:  hdr + "ids:\n  uid: x\n  uidMap:\n    - {inside: 5, outside: 0, count: 1}\n",
			want: []string{`p.yaml:4:8: ids.uid: must be an integer, not "x"`},
		},
		{
			name: "no validation under a value that failed to decode",
			src:  mounts("{type: bogus, target: rel}", "[]"),
			want: []string{
				`p.yaml:5:14: filesystem.mounts[0].type: must be one of bind, tmpfs, proc, dev, dir, file, symlink, overlay, sysfs, mqueue, cgroup, not "bogus"`,
				`p.yaml:5:29: filesystem.mounts[0].target: must be an absolute path, not "rel"`,
				`p.yaml:6:7: filesystem.mounts[1]: must be a mapping`,
			},
		},
	})
}

// TestEveryTagHasAMessage checks that each validate tag on Profile's
// fields, and each tag the struct-level rules report, has its own message.
func TestEveryTagHasAMessage(t *testing.T) {
	tags := map[string]bool{}
	var walk func(reflect.Type)
	seen := map[reflect.Type]bool{}
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for _, f := range YAMLFields(t) {
			sf := t.FieldByIndex(f.Index)
			for _, tag := range strings.Split(sf.Tag.Get("validate"), ",") {
				name, _, _ := strings.Cut(tag, "=")
				switch name {
				case "", "dive", "keys", "endkeys", "omitempty":
				default:
					tags[name] = true
				}
			}
			walk(sf.Type)
		}
	}
	walk(reflect.TypeFor[Profile]())
	if len(tags) < 5 {
		t.Fatalf("found only tags %v", tags)
	}
	for _, tag := range []string{"gt", "onlyfor", "requiredfor", "notroot", "sametarget", "undernondir",
		"shadows", "rangeend", "overlaps", "unmapped", "duplicate", "needs", "netneeds", "ifname", "subnet", "ipaddr", "cidr"} {
		tags[tag] = true
	}
	fallback := message("no-such-tag", "", reflect.String, "", true)
	for tag := range tags {
		if got := message(tag, "1", reflect.String, "x", true); got == strings.ReplaceAll(fallback, "no-such-tag", tag) {
			t.Errorf("tag %q has no message", tag)
		}
	}
}

func TestOverlayFields(t *testing.T) {
	runErrorCases(t, []errorCase{
		{name: "overlay", src: mounts("{type: overlay, target: /w, lower: [/a], size: 1Mi}")},
		{name: "overlay without lower", src: mounts("{type: overlay, target: /w}"),
			want: []string{"p.yaml:5:7: filesystem.mounts[0].lower: is required for overlay mounts"}},
		{name: "lower on a bind", src: mounts("{type: bind, source: /a, target: /w, lower: [/b]}"),
			want: []string{"p.yaml:5:51: filesystem.mounts[0].lower: only applies to overlay mounts, not bind"}},
	})
}

// TestNetworkValidation checks the network section's rules, all errors of
// a profile at once, each at its position.
func TestNetworkValidation(t *testing.T) {
	runErrorCases(t, []errorCase{
		{
			name: "fields of other modes",
			src:  hdr + "network:\n  mode: none\n  nat: true\n  ports: [\"80\"]\n  hostLoopback: true\n  bridge: {name: br0}\n",
			want: []string{
				"p.yaml:5:8: network.nat: only applies to network.mode bridge",
				"p.yaml:6:10: network.ports: only applies to network.mode bridge and user",
				"p.yaml:7:17: network.hostLoopback: only applies to network.mode user",
				"p.yaml:8:11: network.bridge: only applies to network.mode bridge",
			},
		},
		{
			name: "bad bridge, dns, ports and egress",
			src: hdr + "network:\n  mode: bridge\n  bridge: {name: \"a/b\", subnet: 10.0.0.1/24}\n  dns: [not-an-ip]\n" +
				"  ports: [\"80:8080\", \"80:81\"]\n  egress:\n    allow:\n      - {to: 10.0.0.1/8, ports: [0]}\n",
			want: []string{
				`p.yaml:5:18: network.bridge.name: must be an interface name: 1 to 15 characters without "/", ":" or spaces, not "a/b"`,
				`p.yaml:5:33: network.bridge.subnet: must be an IPv4 subnet from /8 to /29 without host bits, such as "10.88.0.0/24", not "10.0.0.1/24"`,
				`p.yaml:6:9: network.dns[0]: must be an IPv4 or IPv6 address, not "not-an-ip"`,
				`p.yaml:7:22: network.ports[1]: duplicates network.ports[0]: host port 80/tcp`,
				`p.yaml:10:7: network.egress.allow: needs egress.default: deny`,
				`p.yaml:10:14: network.egress.allow[0].to: must be an address or a CIDR without host bits, such as "192.0.2.0/24" or "2001:db8::1", not "10.0.0.1/8"`,
				`p.yaml:10:34: network.egress.allow[0].ports[0]: must be greater than 0`,
			},
		},
		{
			name: "bad port map",
			src:  hdr + "network:\n  mode: user\n  ports: [\"80:99999/sctp\"]\n",
			want: []string{`p.yaml:5:11: network.ports[0]: protocol must be tcp or udp, not "sctp"`},
		},
		{
			name: "egress with the host's network",
			src:  hdr + "namespaces: {net: host}\nnetwork:\n  mode: host\n  egress: {default: deny}\n",
			want: []string{`p.yaml:6:11: network.egress: needs a network namespace of its own (network.mode none, bridge or user)`},
		},
		{
			name: "egress domains",
			src: hdr + "network:\n  mode: user\n  egress:\n    default: deny\n    allow:\n" +
				"      - {domain: example.com, ports: [443]}\n" +
				"      - {domain: \"*.example.org\"}\n" +
				"      - {domain: \"a.*.example.org\"}\n" +
				"      - {domain: example.com, to: 192.0.2.1}\n" +
				"      - {ports: [80]}\n" +
				"      - {domain: example.net, proto: udp}\n" +
				"      - {domain: 192.0.2.1}\n",
			want: []string{
				`p.yaml:10:18: network.egress.allow[2].domain: must be a host name such as "example.com", or "*." and one such as "*.example.com", not "a.*.example.org"`,
				`p.yaml:11:18: network.egress.allow[3].domain: cannot be given with to: a rule names addresses or a domain`,
				`p.yaml:12:9: network.egress.allow[4]: needs to (an address) or domain (a name)`,
				`p.yaml:13:38: network.egress.allow[5].proto: only applies to address rules: a domain is reached over TCP, through the proxy`,
				`p.yaml:14:18: network.egress.allow[6].domain: "192.0.2.1" is an address: name it with to:`,
			},
		},
		{
			name: "egress sni",
			src: hdr + "network:\n  mode: user\n  egress:\n    default: deny\n    allow:\n" +
				"      - {domain: example.com, sni: optional}\n" +
				"      - {to: 192.0.2.1, sni: optional}\n" +
				"      - {domain: example.org, sni: maybe}\n",
			want: []string{
				`p.yaml:9:30: network.egress.allow[1].sni: only applies to domain rules`,
				`p.yaml:10:36: network.egress.allow[2].sni: must be one of required, optional, not "maybe"`,
			},
		},
		{
			name: "bridge with the host's namespace",
			src:  hdr + "namespaces: {net: host}\nnetwork: {mode: bridge}\n",
			want: []string{`p.yaml:4:17: network.mode: bridge needs namespaces.net: new`},
		},
	})
}
