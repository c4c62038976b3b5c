package compile

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cellsandbox/cell/internal/cgroup"
	"github.com/cellsandbox/cell/launcher/plan"
	"github.com/cellsandbox/cell/spec"
)

// DefaultCgroupParent is where sandboxes' cgroups go unless the profile
// says otherwise.
const DefaultCgroupParent = "cell"

// limitPaths maps the cgroup package's limit names to profile paths, so
// that a limit the host cannot enforce is reported where it was written.
var limitPaths = map[string]string{
	"memoryMax": "resources.memory.max", "memoryHigh": "resources.memory.high",
	"swapMax": "resources.memory.swap", "oomGroup": "resources.memory.oomGroup",
	"cpuMax": "resources.cpu.max", "cpuWeight": "resources.cpu.weight", "cpuShares": "resources.cpu.shares",
	"cpus": "resources.cpu.cpus", "mems": "resources.cpu.mems",
	"pidsMax": "resources.pids.max", "ioWeight": "resources.io.weight",
	"ioDevices": "resources.io.devices", "devices": "resources.devices",
	"netClassID": "resources.net.classID", "netPriorities": "resources.net.priorities",
}

// cgroup plans the sandbox's cgroup, or returns nil when the profile sets
// no limit. Every limit the host cannot enforce is an error: a sandbox
// never runs with fewer limits than its profile shows.
func (c *compiler) cgroup(name string) (*cgroup.Setup, error) {
	r := &c.p.Resources
	if !r.Any() && !c.mknodGuard() {
		return nil, nil
	}
	if c.host.Cgroup == nil {
		return nil, c.errorf("resources", "the host's cgroups were not probed")
	}
	lim, err := c.limits(r)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, c.errorf("resources", "a sandbox with limits needs a name (cell gives one)")
	}
	parent := r.Parent
	if parent == "" && !c.host.Rootless() {
		parent = DefaultCgroupParent
	}
	setup, err := cgroup.Plan(c.host.Cgroup, parent, name, lim)
	if err != nil {
		return nil, c.limitErrors(err)
	}
	for _, d := range setup.Dirs {
		c.add("resources", plan.Parent, &plan.CgroupMkdir{Dir: d})
	}
	for _, w := range setup.Writes {
		at := writeSource(w.File, w.Value)
		if at == "resources.devices" {
			at = c.devicesSource()
		}
		c.add(at, plan.Parent, &plan.CgroupWrite{File: w.Path(), Value: w.Value})
	}
	if d := setup.Devices; d != nil {
		c.add(c.devicesSource(), plan.Parent, &plan.CgroupDevices{Dir: d.Dir, Allow: d.Allow})
	}
	// Teardown: kill what is left in each of the sandbox's cgroups, then
	// remove them.
	g := setup.Group
	c.group = &g
	for _, d := range g.Dirs() {
		c.cleanup = append(c.cleanup, plan.Step{Side: plan.Parent, Do: &plan.CgroupKill{Dir: d}, Pos: c.pos("resources")})
	}
	for _, d := range g.Dirs() {
		c.cleanup = append(c.cleanup, plan.Step{Side: plan.Parent, Do: &plan.CgroupRemove{Dir: d}, Pos: c.pos("resources")})
	}
	return setup, nil
}

// writeSource is the part of the profile a cgroup file's value comes
// from, for the step's position.
func writeSource(file, value string) string {
	if size, ok := strings.CutPrefix(file, "hugetlb."); ok {
		size, _, _ = strings.Cut(size, ".")
		return "resources.hugetlb." + size
	}
	switch file {
	case "net_cls.classid":
		return "resources.net.classID"
	case "net_prio.ifpriomap":
		name, _, _ := strings.Cut(value, " ")
		return "resources.net.priorities." + name
	}
	for _, p := range []struct{ prefix, path string }{
		{"memory.", "resources.memory"}, {"cpuset.", "resources.cpu"}, {"cpu.", "resources.cpu"},
		{"pids.", "resources.pids"}, {"io.", "resources.io"}, {"blkio.", "resources.io"},
		{"devices.", "resources.devices"},
	} {
		if strings.HasPrefix(file, p.prefix) {
			return p.path
		}
	}
	return "resources"
}

// limitErrors turns the cgroup package's errors into positioned ones.
func (c *compiler) limitErrors(err error) error {
	var le *cgroup.LimitError
	var joined interface{ Unwrap() []error }
	errs := []error{err}
	if errors.As(err, &joined) {
		errs = joined.Unwrap()
	}
	var out []error
	for _, e := range errs {
		if errors.As(e, &le) {
			at := limitPaths[le.Limit]
			if size, ok := strings.CutPrefix(le.Limit, "hugetlb."); ok {
				at = "resources.hugetlb." + size
			}
			if le.Limit == "devices" && len(c.p.Resources.Devices) == 0 {
				out = append(out, c.errorf(c.devicesSource(), "CAP_MKNOD without a user namespace of the sandbox's own lets the command make a node of any device (such as the host's disk) and open it, so cell confines it with a device cgroup that allows only the nodes of its /dev, and that cannot be had here: %s; drop CAP_MKNOD, or run in a user namespace", le.Why))
				continue
			}
			if at == "" {
				at = "resources"
			}
			out = append(out, c.errorf(at, "cannot be enforced here: %s", le.Why))
			continue
		}
		out = append(out, c.errorf("resources", "%s", e))
	}
	return errors.Join(out...)
}

func limitValue(l *spec.Limit) *cgroup.Value {
	switch {
	case l == nil:
		return nil
	case l.Max:
		return cgroup.Max()
	}
	return cgroup.Num(l.Value)
}

// limits converts the profile's resources to the cgroup package's limits.
func (c *compiler) limits(r *spec.Resources) (cgroup.Limits, error) {
	lim := cgroup.Limits{
		MemoryMax:  limitValue(r.Memory.Max),
		MemoryHigh: limitValue(r.Memory.High),
		SwapMax:    limitValue(r.Memory.Swap),
		OOMGroup:   r.Memory.OOMGroup,
		CPUWeight:  r.CPU.Weight,
		CPUShares:  r.CPU.Shares,
		Cpus:       r.CPU.Cpus,
		Mems:       r.CPU.Mems,
		PidsMax:    limitValue(r.Pids.Max),
		IOWeight:   r.IO.Weight,
	}
	if m := r.CPU.Max; m != nil {
		if m.Max {
			lim.CPUMax = cgroup.CPUs(0)
		} else {
			lim.CPUMax = cgroup.CPUs(m.Millis)
			if per := r.CPU.Period; per != 0 {
				// Quota is exact: µs are thousandths of a ms.
				lim.CPUMax = &cgroup.CPUMax{Quota: m.Millis * per / 1000, Period: per}
			}
		}
	}
	for _, d := range r.Devices {
		num := func(x *uint32) int64 {
			if x == nil {
				return -1
			}
			return int64(*x)
		}
		lim.Devices = append(lim.Devices, cgroup.DeviceRule{Type: d.Type.String()[0], Major: num(d.Major), Minor: num(d.Minor), Access: d.Access})
	}
	if len(lim.Devices) > 0 || c.mknodGuard() {
		lim.DevicesOnly = true
		// After the profile's rules, the nodes the sandbox's dev mounts
		// make: the ones it asks for (which init can make only if its
		// own device cgroup allows mknod) and cell's standard ones
		// (and its devpts).
		for i := range c.p.Filesystem.Mounts {
			m := &c.p.Filesystem.Mounts[i]
			if m.Type != spec.MountDev {
				continue
			}
			for _, d := range m.Devices {
				if d.Type == spec.DeviceChar || d.Type == spec.DeviceBlock {
					lim.Devices = append(lim.Devices, cgroup.DeviceRule{Type: d.Type.String()[0], Major: int64(d.Major), Minor: int64(d.Minor), Access: "rwm"})
				}
			}
			for _, n := range [][2]int64{{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 2}, {136, -1}} {
				lim.Devices = append(lim.Devices, cgroup.DeviceRule{Type: 'c', Major: n[0], Minor: n[1], Access: "rwm"})
			}
		}
	}
	// Page sizes smallest first and interfaces by name, so that the plan
	// does not depend on map order.
	for _, size := range r.HugePageSizes() {
		l := r.HugeTLB[size]
		lim.HugeTLB = append(lim.HugeTLB, cgroup.HugeTLB{PageSize: size, Max: limitValue(&l)})
	}
	lim.NetClassID = r.Net.ClassID
	for _, name := range slices.Sorted(maps.Keys(r.Net.Priorities)) {
		lim.NetPriorities = append(lim.NetPriorities, cgroup.NetPriority{Interface: name, Priority: r.Net.Priorities[name]})
	}
	for i, d := range r.IO.Devices {
		if c.host.Device == nil {
			return lim, c.errorf(fmt.Sprintf("resources.io.devices[%d].path", i), "cannot look up devices here")
		}
		major, minor, err := c.host.Device(d.Path)
		if err != nil {
			return lim, c.errorf(fmt.Sprintf("resources.io.devices[%d].path", i), "%s", err)
		}
		lim.IODevices = append(lim.IODevices, cgroup.IODevice{Major: major, Minor: minor,
			RBPS: uint64(d.RBPS), WBPS: uint64(d.WBPS), RIOPS: d.RIOPS, WIOPS: d.WIOPS})
	}
	return lim, nil
}

// mknodGuard says whether the sandbox gets a device cgroup although its
// profile may have no device rules (spec.Profile.MknodGuard): not when
// cell itself runs in a user namespace other than the initial one, where
// the kernel refuses mknod of a device whatever the capabilities.
func (c *compiler) mknodGuard() bool { return c.p.MknodGuard() && !c.host.NestedUserNS }

// devicesSource is the part of the profile the device cgroup comes from:
// its device rules, or, without any, the capability it guards against.
func (c *compiler) devicesSource() string {
	if len(c.p.Resources.Devices) == 0 {
		return "security.capabilities"
	}
	return "resources.devices"
}
