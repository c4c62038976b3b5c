package cgroup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fixture parses testdata/NAME.mountinfo and testdata/NAME.cgroup:
// hybrid (this project's CI host, as read), v2vm (the cgroup v2 test VM, as
// read), v2systemd (a systemd desktop, a user's scope), v1 (a systemd host
// without cgroup2, cpu and cpuacct co-mounted), v2container (a container
// without a cgroup namespace: a subtree bind-mounted).
func fixture(t *testing.T, name string) *Layout {
	t.Helper()
	mi, err := os.ReadFile(filepath.Join("testdata", name+".mountinfo"))
	if err != nil {
		t.Fatal(err)
	}
	pc, err := os.ReadFile(filepath.Join("testdata", name+".cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := ParseLayout(mi, pc)
	if err != nil {
		t.Fatalf("ParseLayout(%s): %v", name, err)
	}
	return l
}

func TestParseLayout(t *testing.T) {
	for _, tt := range []struct {
		name string
		want *Layout
	}{
		{"hybrid", &Layout{
			Unified: "/sys/fs/cgroup/unified",
			V1: map[string]string{
				"cpu": "/sys/fs/cgroup/cpu", "cpuacct": "/sys/fs/cgroup/cpuacct", "cpuset": "/sys/fs/cgroup/cpuset",
				"memory": "/sys/fs/cgroup/memory", "devices": "/sys/fs/cgroup/devices", "freezer": "/sys/fs/cgroup/freezer",
				"blkio": "/sys/fs/cgroup/blkio", "pids": "/sys/fs/cgroup/pids",
			},
			Self: "/",
			SelfV1: map[string]string{
				"cpu": "/", "cpuacct": "/", "cpuset": "/", "memory": "/process_api/049e3426a9b52ce0fbb47c7ae884d0bb",
				"devices": "/", "freezer": "/", "blkio": "/", "pids": "/",
			},
		}},
		{"v2vm", &Layout{Unified: "/sys/fs/cgroup", Self: "/"}},
		{"v2systemd", &Layout{Unified: "/sys/fs/cgroup", Self: "/user.slice/user-1000.slice/user@1000.service/app.slice/run-r3c2a9f.scope"}},
		{"v2container", &Layout{Unified: "/sys/fs/cgroup", Self: "/app"}},
		{"v1", &Layout{
			V1: map[string]string{
				"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct", "memory": "/sys/fs/cgroup/memory",
				"pids": "/sys/fs/cgroup/pids", "blkio": "/sys/fs/cgroup/blkio", "cpuset": "/sys/fs/cgroup/cpuset",
				"freezer": "/sys/fs/cgroup/freezer", "devices": "/sys/fs/cgroup/devices", "net_cls": "/sys/fs/cgroup/net_cls,net_prio",
				"net_prio": "/sys/fs/cgroup/net_cls,net_prio", "perf_event": "/sys/fs/cgroup/perf_event", "hugetlb": "/sys/fs/cgroup/hugetlb",
			},
			SelfV1: map[string]string{
				"cpuset": "/", "memory": "/user.slice", "pids": "/user.slice", "blkio": "/user.slice", "freezer": "/",
				"devices": "/user.slice", "cpuacct": "/user.slice", "cpu": "/user.slice", "net_prio": "/", "net_cls": "/",
				"perf_event": "/", "hugetlb": "/",
			},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, fixture(t, tt.name)); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestParseLayoutEdges(t *testing.T) {
	for _, tt := range []struct {
		name, mountinfo, cgroup string
		want                    *Layout
		err                     string
	}{
		{
			name:      "escaped mount point",
			mountinfo: "40 31 0:38 / /mnt/my\\040cgroups rw,relatime - cgroup2 cgroup2 rw\n",
			cgroup:    "0::/a\n",
			want:      &Layout{Unified: "/mnt/my cgroups", Self: "/a"},
		},
		{
			name: "the mount under /sys/fs/cgroup wins",
			mountinfo: "40 31 0:38 / /tmp/cg rw - cgroup2 cgroup2 rw\n" +
				"41 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n" +
				"42 31 0:38 / /tmp/cg2 rw - cgroup2 cgroup2 rw\n",
			cgroup: "0::/\n",
			want:   &Layout{Unified: "/sys/fs/cgroup", Self: "/"},
		},
		{
			name:      "optional fields before the separator",
			mountinfo: "32 25 0:26 / /sys/fs/cgroup/pids rw,nosuid shared:12 master:3 - cgroup cgroup rw,pids\n",
			cgroup:    "9:pids:/x\n",
			want:      &Layout{V1: map[string]string{"pids": "/sys/fs/cgroup/pids"}, SelfV1: map[string]string{"pids": "/x"}},
		},
		{
			name:      "our cgroup outside the mounted subtree",
			mountinfo: "607 606 0:28 /system.slice/a.scope /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
			cgroup:    "0::/system.slice/b.scope\n",
			want:      &Layout{Unified: "/sys/fs/cgroup"},
		},
		{
			name:      "no cgroups at all",
			mountinfo: "22 1 0:21 / /proc rw - proc proc rw\n",
			cgroup:    "",
			want:      &Layout{},
		},
		{
			name:      "malformed mountinfo",
			mountinfo: "22 1 0:21 / /proc rw proc proc rw\n",
			err:       `mountinfo line 1: malformed: "22 1 0:21 / /proc rw proc proc rw"`,
		},
		{
			name:   "malformed cgroup",
			cgroup: "0::/\nmemory:/x\n",
			err:    `/proc/self/cgroup line 2: malformed: "memory:/x"`,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLayout([]byte(tt.mountinfo), []byte(tt.cgroup))
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error = %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestLayoutString(t *testing.T) {
	l := hybridHost(t)
	want := strings.Join([]string{
		"cgroups hybrid",
		"unified /sys/fs/cgroup/unified self=/ controllers=[hugetlb] enabled=[]",
		"v1 blkio /sys/fs/cgroup/blkio self=/",
		"v1 cpu /sys/fs/cgroup/cpu self=/",
		"v1 cpuacct /sys/fs/cgroup/cpuacct self=/",
		"v1 cpuset /sys/fs/cgroup/cpuset self=/",
		"v1 devices /sys/fs/cgroup/devices self=/",
		"v1 freezer /sys/fs/cgroup/freezer self=/",
		"v1 memory /sys/fs/cgroup/memory self=/process_api/049e3426a9b52ce0fbb47c7ae884d0bb",
		"v1 pids /sys/fs/cgroup/pids self=/",
		"features [swap bfq blkio.throttle] cpuset cpus=0-1 mems=0",
	}, "\n")
	if d := cmp.Diff(want, l.String()); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	r := v2Rootless(t, false)
	if got, want := strings.SplitN(r.String(), "\n", 2)[0], "cgroups v2 rootless delegated=/user.slice/user-1000.slice/user@1000.service/app.slice/run-r3c2a9f.scope"; got != want {
		t.Errorf("first line %q, want %q", got, want)
	}
	for _, v := range []struct{ name, want string }{{"v1", "v1"}, {"v2vm", "v2"}, {"hybrid", "hybrid"}} {
		if got := fixture(t, v.name).Version(); got != v.want {
			t.Errorf("%s: Version() = %q, want %q", v.name, got, v.want)
		}
	}
	if got := (&Layout{}).Version(); got != "none" {
		t.Errorf("empty layout: Version() = %q", got)
	}
}
