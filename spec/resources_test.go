package spec

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

const resHead = "apiVersion: cell/v1\nname: r\nresources:\n"

func TestResourcesErrors(t *testing.T) {
	runErrorCases(t, []errorCase{
		{name: "valid", src: resHead + "  memory: {max: 64Mi, high: 32Mi, swap: 0, oomGroup: true}\n  cpu: {max: 1.5, weight: 200, cpus: \"0-1,3\", mems: \"0\"}\n  pids: {max: 64}\n  io: {weight: 50, devices: [{path: /dev/vda, rbps: 10Mi, wiops: 100}]}\n"},
		{name: "max everywhere", src: resHead + "  memory: {max: max, swap: max}\n  cpu: {max: max}\n  pids: {max: max}\n"},
		{name: "bad size", src: resHead + "  memory: {max: 64MB}\n",
			want: []string{`p.yaml:4:17: resources.memory.max: must be "max" or a quantity such as 512Mi or 100, not "64MB"`}},
		{name: "zero memory", src: resHead + "  memory: {max: 0}\n",
			want: []string{"p.yaml:4:17: resources.memory.max: must be more than 0 (no process could run; remove the limit or raise it)"}},
		{name: "high above max", src: resHead + "  memory: {max: 1Gi, high: 2Gi}\n",
			want: []string{"p.yaml:4:28: resources.memory.high: must not be above resources.memory.max (1Gi)"}},
		{name: "cpus", src: resHead + "  cpu: {max: 0.0001}\n",
			want: []string{`p.yaml:4:14: resources.cpu.max: must be "max" or a number of CPUs such as 0.5 or 2, not "0.0001"`}},
		{name: "zero cpus", src: resHead + "  cpu: {max: 0}\n",
			want: []string{"p.yaml:4:14: resources.cpu.max: must be more than 0 CPUs"}},
		{name: "weight", src: resHead + "  cpu: {weight: 20000}\n",
			want: []string{"p.yaml:4:17: resources.cpu.weight: must be at most 10000, not 20000"}},
		{name: "v1 cpu values", src: resHead + "  cpu: {max: 0.1, period: 500000, shares: 2048}\n"},
		{name: "shares", src: resHead + "  cpu: {shares: 1}\n",
			want: []string{"p.yaml:4:17: resources.cpu.shares: must be at least 2, not 1"}},
		{name: "shares and weight", src: resHead + "  cpu: {shares: 1024, weight: 100}\n",
			want: []string{"p.yaml:4:17: resources.cpu.shares: cannot be given with resources.cpu.weight"}},
		{name: "period without max", src: resHead + "  cpu: {period: 500000}\n",
			want: []string{"p.yaml:4:17: resources.cpu.period: needs resources.cpu.max, a number of CPUs"}},
		{name: "period range", src: resHead + "  cpu: {max: 1, period: 100}\n",
			want: []string{"p.yaml:4:25: resources.cpu.period: must be at least 1000, not 100"}},
		{name: "cpu list", src: resHead + "  cpu: {cpus: \"3-1\"}\n",
			want: []string{`p.yaml:4:15: resources.cpu.cpus: must be a list of CPU or memory node numbers and ranges such as "0-3,6", not "3-1"`}},
		{name: "zero pids", src: resHead + "  pids: {max: 0}\n",
			want: []string{"p.yaml:4:15: resources.pids.max: must be more than 0 (not even the command could start)"}},
		{name: "device without limit", src: resHead + "  io: {devices: [{path: /dev/vda}]}\n",
			want: []string{"p.yaml:4:18: resources.io.devices[0]: must be more than 0 (set rbps, wbps, riops or wiops)"}},
		{name: "device path", src: resHead + "  io: {devices: [{path: vda, rbps: 1Mi}]}\n",
			want: []string{`p.yaml:4:25: resources.io.devices[0].path: must be an absolute path, not "vda"`}},
		{name: "huge pages and net", src: resHead + "  hugetlb: {2MB: 64Mi, 1GB: max, 64KB: 0}\n  net: {classID: 0x100001, priorities: {eth0: 5, lo: 0}}\n"},
		{name: "page size unit", src: resHead + "  hugetlb: {2M: 64Mi}\n",
			want: []string{`p.yaml:4:13: resources.hugetlb.2M: must be a huge page size as the kernel names it, such as "2MB", "1GB" or "64KB", not "2M"`}},
		{name: "page size as the kernel names it", src: resHead + "  hugetlb: {2048KB: 64Mi}\n",
			want: []string{`p.yaml:4:13: resources.hugetlb.2048KB: must be a huge page size as the kernel names it: 2048KB is 2MB`}},
		{name: "page size power of two", src: resHead + "  hugetlb: {3MB: 64Mi}\n",
			want: []string{`p.yaml:4:13: resources.hugetlb.3MB: must be a huge page size as the kernel names it, such as "2MB", "1GB" or "64KB", not "3MB"`}},
		{name: "huge page limit", src: resHead + "  hugetlb: {2MB: lots}\n",
			want: []string{`p.yaml:4:18: resources.hugetlb.2MB: must be "max" or a quantity such as 512Mi or 100, not "lots"`}},
		{name: "whole pages", src: resHead + "  hugetlb: {2MB: 3Mi}\n",
			want: []string{`p.yaml:4:18: resources.hugetlb.2MB: must be a whole number of pages of its size (the kernel would round it down to 2Mi)`}},
		{name: "class id range", src: resHead + "  net: {classID: 0x100000000}\n",
			want: []string{`p.yaml:4:18: resources.net.classID: must be an integer from 0 to 4294967295, not 0x100000000`}},
		{name: "interface name", src: resHead + "  net: {priorities: {a/b: 1}}\n",
			want: []string{`p.yaml:4:22: resources.net.priorities.a/b: must be an interface name: 1 to 15 characters without "/", ":" or spaces, not "a/b"`}},
		{name: "parent", src: resHead + "  parent: ../x\n",
			want: []string{`p.yaml:4:11: resources.parent: must be a relative cgroup path such as "cell" or "ci/workers", not "../x"`}},
	})
}

func TestResourcesValues(t *testing.T) {
	p, err := Parse("p.yaml", []byte(resHead+"  memory: {max: 512Mi, swap: max}\n  cpu: {max: 1.25}\n  pids: {max: 100}\n"), Options{Vars: testVars})
	if err != nil {
		t.Fatal(err)
	}
	r := p.Resources
	got := []any{*r.Memory.Max, *r.Memory.Swap, *r.CPU.Max, *r.Pids.Max, r.Memory.High == nil, r.Any()}
	want := []any{Limit{Value: 512 << 20}, Limit{Max: true}, CPUs{Millis: 1250}, Limit{Value: 100}, true, true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, r := range []Resources{{HugeTLB: map[string]Limit{"2MB": {}}}, {Net: NetLimits{ClassID: 1}}, {Net: NetLimits{Priorities: map[string]uint32{"lo": 1}}}} {
		if !r.Any() {
			t.Errorf("%+v: Any() is false", r)
		}
	}
	if (&Resources{}).Any() {
		t.Error("empty resources need a cgroup")
	}
	for in, want := range map[string]string{"1": "1", "0.5": "0.5", "2.125": "2.125", ".5": "0.5", "max": "max"} {
		c, err := ParseCPUs(in)
		if err != nil || c.String() != want {
			t.Errorf("ParseCPUs(%q) = %v, %v; want %s", in, c, err, want)
		}
	}
}
