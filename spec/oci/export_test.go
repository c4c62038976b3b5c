package oci

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cellsandbox/cell/spec"
)

// TestExportKernelFields: sysctls, propagation types, joined namespaces,
// device nodes, device rules, v1 CPU values, huge page limits, the
// traffic class and priorities leave in config.json and
// come back the same when it is read.
func TestExportKernelFields(t *testing.T) {
	const profile = `apiVersion: cell/v1
name: k
namespaces: {user: host, join: {net: /run/netns/ci}}
sysctl: {net.ipv4.ip_forward: "1"}
filesystem:
  root: {propagation: rslave}
  mounts:
    - {type: dev, target: /dev, devices: [{path: /dev/fuse, type: c, major: 10, minor: 229, mode: "0600", uid: 1, gid: 2}]}
    - {type: tmpfs, target: /t, propagation: shared}
    - {type: bind, source: /etc, target: /e, propagation: runbindable}
resources:
  cpu: {max: 0.1, period: 500000, shares: 2048}
  devices: [{type: b, major: 8, access: r}]
  hugetlb: {1GB: max, 2MB: 64Mi}
  net: {classID: 0x100001, priorities: {lo: 5, eth0: 1}}
process: {args: ["true"]}
`
	p, err := spec.Parse("k.yaml", []byte(profile), spec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := Export(p, ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(ex.Spec)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("config.json", data, "/b")
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	type view struct {
		Sysctl      map[string]string
		Join        spec.JoinPaths
		Root        string
		Propagation []string
		Devices     []spec.Device
		Rules       []spec.DeviceRule
		CPU         spec.CPULimits
		HugeTLB     map[string]spec.Limit
		Net         spec.NetLimits
	}
	see := func(p *spec.Profile) view {
		v := view{Sysctl: p.Sysctl, Join: p.Namespaces.Join, Root: p.Filesystem.Root.Propagation.String(), Rules: p.Resources.Devices, CPU: p.Resources.CPU, HugeTLB: p.Resources.HugeTLB, Net: p.Resources.Net}
		for _, m := range p.Filesystem.Mounts {
			if m.Propagation != spec.PropagationDefault {
				v.Propagation = append(v.Propagation, m.Target+" "+m.Propagation.String())
			}
			v.Devices = append(v.Devices, m.Devices...)
		}
		return v
	}
	want, got := see(p), see(back)
	if r := ex.Spec.Linux.Resources; len(r.HugepageLimits) != 2 || r.HugepageLimits[0].Pagesize != "2MB" || r.Network == nil || r.Network.Priorities[0].Name != "eth0" {
		t.Errorf("huge page limits %+v and priorities %+v: want page sizes smallest first, interfaces by name", r.HugepageLimits, r.Network)
	}
	// The bundle's rules also allow the node it makes, as cell does.
	major, minor := uint32(10), uint32(229)
	want.Rules = append(want.Rules, spec.DeviceRule{Type: spec.DeviceChar, Major: &major, Minor: &minor, Access: "rwm"})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after export and back (-want +got):\n%s\n%s", diff, data)
	}
}
