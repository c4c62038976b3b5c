package compile_test

import (
	"strings"
	"testing"

	"github.com/cellsandbox/cell/internal/compile"
	"github.com/cellsandbox/cell/launcher/plan"
)

const cgroupMountProfile = `apiVersion: cell/v1
name: cgmount
resources:
  memory: {max: 64Mi}
  pids: {max: 64}
filesystem:
  mounts:
    - {type: proc, target: /proc}
    - {type: cgroup, target: /sys/fs/cgroup}
`

// TestGoldenCgroupMount pins how a cgroup mount shows the sandbox's own
// cgroups read-only: its unified leaf bound at the target on cgroup v2,
// a read-only tmpfs with each hierarchy's leaf on a hybrid host; and an
// empty read-only tmpfs for a sandbox without a cgroup of its own, which
// shows nothing of the caller's.
func TestGoldenCgroupMount(t *testing.T) {
	for _, tc := range []struct{ name, layout string }{{"hybrid", "hybrid"}, {"v2", "v2vm"}} {
		t.Run(tc.name, func(t *testing.T) {
			f := rootFacts
			f.Cgroup = layout(t, tc.layout, tc.layout == "v2vm")
			p := parse(t, "cgmount.yaml", []byte(cgroupMountProfile), &f)
			pl, err := compile.Profile(p, &f, compile.Invocation{Args: []string{"true"}, Name: "cgmount-1"})
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "cgmount."+tc.name+".plan", []byte(pl.String()))
			for _, b := range find[*plan.Bind](pl) {
				if strings.HasPrefix(b.Target, "/sys/fs/cgroup") && b.Attr&plan.AttrFlags(0x1) == 0 { // MOUNT_ATTR_RDONLY
					t.Errorf("bind %s -> %s is writable", b.Source, b.Target)
				}
			}
			bare := strings.Replace(cgroupMountProfile, "resources:\n  memory: {max: 64Mi}\n  pids: {max: 64}\n", "", 1)
			pl, err = compile.Profile(parse(t, "cgmount.yaml", []byte(bare), &f), &f, compile.Invocation{Args: []string{"true"}, Name: "cgmount-1"})
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range find[*plan.Bind](pl) {
				if strings.Contains(b.Source, "cgroup") {
					t.Errorf("without a cgroup of its own: bind of %s", b.Source)
				}
			}
			var empty bool
			for _, m := range find[*plan.MountFS](pl) {
				empty = empty || m.Target == "/sys/fs/cgroup" && m.FSType == "tmpfs" && m.Attr&plan.AttrFlags(0x1) != 0
			}
			if !empty {
				t.Error("without a cgroup of its own: want a read-only tmpfs at /sys/fs/cgroup")
			}
		})
	}
}
