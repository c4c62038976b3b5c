package spec

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/go-playground/validator/v10"
	"gopkg.in/yaml.v3"
)

// Resources are the sandbox's cgroup limits. A sandbox with any limit gets
// a cgroup of its own, removed when it ends; absent fields set no limit.
type Resources struct {
	// Parent is the cgroup, relative to the hierarchy's root, under which
	// the sandbox's cgroup is made (default "cell"; an unprivileged caller's
	// default is its own delegated cgroup).
	Parent string       `yaml:"parent" json:"parent,omitempty" validate:"omitempty,cgroupname"`
	Memory MemoryLimits `yaml:"memory" json:"memory"`
	CPU    CPULimits    `yaml:"cpu" json:"cpu"`
	Pids   PidsLimits   `yaml:"pids" json:"pids"`
	IO     IOLimits     `yaml:"io" json:"io"`
	// Devices are the devices the sandbox may use, through a device
	// cgroup that denies every other (cgroup v1's devices controller, or
	// on cgroup v2 a BPF_CGROUP_DEVICE program). cell adds its dev
	// mount's nodes after them.
	Devices []DeviceRule `yaml:"devices" json:"devices,omitempty" validate:"dive"`
	// HugeTLB limits the bytes of huge pages the sandbox may hold, per
	// page size named as the kernel names it ("2MB", "1GB", "64KB"):
	// the hugetlb controller (v2 hugetlb.<size>.max, v1
	// hugetlb.<size>.limit_in_bytes).
	HugeTLB map[string]Limit `yaml:"hugetlb" json:"hugetlb,omitempty" validate:"dive,keys,pagesize,endkeys"`
	// Net tags the sandbox's network packets: cgroup v1's net_cls and
	// net_prio controllers, which cgroup v2 does not have.
	Net NetLimits `yaml:"net" json:"net"`
}

// NetLimits are the net_cls and net_prio controllers' settings (cgroup
// v1 only).
type NetLimits struct {
	// ClassID is the traffic class of the sandbox's packets
	// (net_cls.classid: 0xAAAABBBB is tc class AAAA:BBBB); 0 sets none.
	ClassID uint32 `yaml:"classID" json:"classID,omitempty"`
	// Priorities are the priorities of the sandbox's packets per network
	// interface (net_prio.ifpriomap). The kernel looks the names up in
	// the host's initial network namespace.
	Priorities map[string]uint32 `yaml:"priorities" json:"priorities,omitempty" validate:"dive,keys,ifname,endkeys"`
}

// DeviceRule allows the sandbox access to devices of one type and
// number, or every number where Major or Minor is absent.
type DeviceRule struct {
	// Type is c, b, or a (every device; Major and Minor must be absent).
	Type  DeviceType `yaml:"type" json:"type" validate:"required"`
	Major *uint32    `yaml:"major" json:"major,omitempty"`
	Minor *uint32    `yaml:"minor" json:"minor,omitempty"`
	// Access is what is allowed: r (read), w (write), m (mknod), any of
	// them once each.
	Access string `yaml:"access" json:"access" validate:"required,devaccess"`
}

// MemoryLimits are the memory controller's limits.
type MemoryLimits struct {
	// Max is the hard limit; above it the OOM killer runs.
	Max *Limit `yaml:"max" json:"max,omitempty"`
	// High throttles and reclaims above it.
	High *Limit `yaml:"high" json:"high,omitempty"`
	// Swap caps swap use (0 forbids swap).
	Swap *Limit `yaml:"swap" json:"swap,omitempty"`
	// OOMGroup makes an OOM kill end every process of the sandbox.
	OOMGroup bool `yaml:"oomGroup" json:"oomGroup,omitempty"`
}

// CPULimits are the cpu and cpuset controllers' limits.
type CPULimits struct {
	// Max is a number of CPUs: 1.5 means 150 ms of CPU time per 100 ms.
	Max *CPUs `yaml:"max" json:"max,omitempty"`
	// Period is the length in µs of the window over which Max is
	// enforced, 1000 to 1000000 (default 100000): Max 0.1 with Period
	// 500000 is 50 ms of CPU time in every 500 ms.
	Period uint64 `yaml:"period" json:"period,omitempty" validate:"omitempty,min=1000,max=1000000"`
	// Weight is the relative share under contention, 1 to 10000 (100 is
	// the default of every cgroup).
	Weight uint64 `yaml:"weight" json:"weight,omitempty" validate:"omitempty,min=1,max=10000"`
	// Shares is cgroup v1's cpu.shares, 2 to 262144 (1024 is every v1
	// cgroup's default): written as given on v1, where weight's mapping
	// (weight*1024/100) cannot give every value; on v2 it becomes
	// cpu.weight as runc converts it. It excludes weight.
	Shares uint64 `yaml:"shares" json:"shares,omitempty" validate:"omitempty,min=2,max=262144"`
	// Cpus and Mems are cpuset lists such as "0-3,6".
	Cpus string `yaml:"cpus" json:"cpus,omitempty" validate:"omitempty,cpulist"`
	Mems string `yaml:"mems" json:"mems,omitempty" validate:"omitempty,cpulist"`
}

// PidsLimits are the pids controller's limits.
type PidsLimits struct {
	// Max is the most tasks (processes and threads) the sandbox may have.
	Max *Limit `yaml:"max" json:"max,omitempty"`
}

// IOLimits are the io (v1: blkio) controller's limits.
type IOLimits struct {
	// Weight is the relative share under contention, 1 to 10000.
	Weight  uint64     `yaml:"weight" json:"weight,omitempty" validate:"omitempty,min=1,max=10000"`
	Devices []IODevice `yaml:"devices" json:"devices,omitempty" validate:"dive"`
}

// IODevice throttles one block device, named by its path.
type IODevice struct {
	Path  string `yaml:"path" json:"path" validate:"required,abspath"`
	RBPS  Size   `yaml:"rbps" json:"rbps,omitempty"`
	WBPS  Size   `yaml:"wbps" json:"wbps,omitempty"`
	RIOPS uint64 `yaml:"riops" json:"riops,omitempty"`
	WIOPS uint64 `yaml:"wiops" json:"wiops,omitempty"`
}

// Any reports whether r sets any limit, that is, whether the sandbox needs
// a cgroup.
func (r *Resources) Any() bool {
	m, c, io := &r.Memory, &r.CPU, &r.IO
	return m.Max != nil || m.High != nil || m.Swap != nil || m.OOMGroup ||
		len(r.Devices) > 0 || c.Max != nil || c.Weight != 0 || c.Shares != 0 || c.Cpus != "" || c.Mems != "" ||
		r.Pids.Max != nil || io.Weight != 0 || len(io.Devices) > 0 ||
		len(r.HugeTLB) > 0 || r.Net.ClassID != 0 || len(r.Net.Priorities) > 0
}

// PageSizeKB returns the size in KiB of a huge page size named as the
// kernel's hugetlb controller names it ("2MB" is 2048), or why the name
// is not one: a power of two with the largest unit it reaches (the
// kernel writes 2048KB as 2MB).
func PageSizeKB(name string) (uint64, error) {
	bad := fmt.Errorf(`must be a huge page size as the kernel names it, such as "2MB", "1GB" or "64KB", not %q`, shorten(name))
	var shift uint
	num, ok := "", false
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"KB", 0}, {"MB", 10}, {"GB", 20}} {
		if n, found := strings.CutSuffix(name, u.suffix); found {
			num, shift, ok = n, u.shift, true
		}
	}
	if !ok || num == "" || num[0] < '1' || num[0] > '9' {
		return 0, bad
	}
	n, err := strconv.ParseUint(num, 10, 32)
	if err != nil || n&(n-1) != 0 {
		return 0, bad
	}
	if shift < 20 && n >= 1024 {
		next := map[uint]string{0: "MB", 10: "GB"}[shift]
		return 0, fmt.Errorf(`must be a huge page size as the kernel names it: %s is %d%s`, name, n/1024, next)
	}
	return n << shift, nil
}

// Limit is a quantity or "max" (no limit). Memory limits take the Size
// syntax (512Mi, 2G); pids a plain number.
type Limit struct {
	// Max means no limit; Value is then 0.
	Max   bool
	Value uint64
}

// String prints "max" or the value with the largest binary unit that
// divides it.
func (l Limit) String() string {
	if l.Max {
		return "max"
	}
	return Size(l.Value).String()
}

// UnmarshalYAML accepts "max" or a Size.
func (l *Limit) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf(`must be "max" or a quantity such as 512Mi`)
	}
	if n.Value == "max" {
		*l = Limit{Max: true}
		return nil
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		return fmt.Errorf(`must be "max" or a quantity such as 512Mi or 100, not %q`, n.Value)
	}
	*l = Limit{Value: uint64(v)}
	return nil
}

// MarshalText prints the limit.
func (l Limit) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// CPUs is an amount of CPU time per period, in CPUs: 0.5 is half of one.
// It is kept in thousandths, exactly.
type CPUs struct {
	Max    bool
	Millis uint64
}

// String prints "max" or the decimal number of CPUs.
func (c CPUs) String() string {
	if c.Max {
		return "max"
	}
	s := strconv.FormatFloat(float64(c.Millis)/1000, 'f', -1, 64)
	return s
}

// ParseCPUs parses a positive decimal number of CPUs with at most three
// decimals, or "max".
func ParseCPUs(s string) (CPUs, error) {
	if s == "max" {
		return CPUs{Max: true}, nil
	}
	whole, frac, _ := strings.Cut(s, ".")
	bad := fmt.Errorf(`must be "max" or a number of CPUs such as 0.5 or 2, not %q`, s)
	if whole == "" && frac == "" || strings.Trim(whole, "0123456789") != "" || strings.Trim(frac, "0123456789") != "" || len(frac) > 3 {
		return CPUs{}, bad
	}
	w := uint64(0)
	if whole != "" {
		var err error
		if w, err = strconv.ParseUint(whole, 10, 32); err != nil {
			return CPUs{}, bad
		}
	}
	f := uint64(0)
	if frac != "" {
		f, _ = strconv.ParseUint(frac+strings.Repeat("0", 3-len(frac)), 10, 32)
	}
	m := w*1000 + f
	if m == 0 {
		return CPUs{}, fmt.Errorf("must be more than 0 CPUs")
	}
	if m > math.MaxUint32 {
		return CPUs{}, bad
	}
	return CPUs{Millis: m}, nil
}

// UnmarshalYAML parses the number of CPUs from its literal text, so 1.5
// is exact.
func (c *CPUs) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf(`must be "max" or a number of CPUs such as 0.5`)
	}
	v, err := ParseCPUs(n.Value)
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// MarshalText prints the number of CPUs.
func (c CPUs) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// validCPUList reports whether s is a cpuset list: numbers and ranges
// separated by commas ("0-3,6").
func validCPUList(s string) bool {
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil || lo == "" || lo[0] == '+' {
			return false
		}
		if isRange {
			b, err := strconv.ParseUint(hi, 10, 16)
			if err != nil || hi == "" || hi[0] == '+' || b < a {
				return false
			}
		}
	}
	return true
}

// validSysctlName reports whether s is a kernel parameter's name: parts
// of lower-case letters, digits, "_" and "-" joined by dots, at least
// two (no "/", "." or ".." that could leave /proc/sys).
func validSysctlName(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "abcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
			return false
		}
	}
	return true
}

// validDeviceAccess reports whether s is a device cgroup access: r, w
// and m, each at most once.
func validDeviceAccess(s string) bool {
	if s == "" || len(s) > 3 {
		return false
	}
	for i, c := range s {
		if !strings.ContainsRune("rwm", c) || strings.ContainsRune(s[i+1:], c) {
			return false
		}
	}
	return true
}

// validCgroupName reports whether s is a relative cgroup path: names
// without "..", "." or empty parts, and none of the kernel's interface
// file prefixes.
func validCgroupName(s string) bool {
	if s == "/" {
		return true // the hierarchies' roots (an OCI cgroupsPath of one element)
	}
	for _, part := range strings.Split(strings.TrimPrefix(s, "/"), "/") {
		if part == "" || part == "." || part == ".." || strings.ContainsAny(part, "\x00\n") {
			return false
		}
	}
	return true
}

// HugePageSizes returns the page sizes of r's huge page limits, smallest
// first: the order in which they are applied, printed and exported.
func (r *Resources) HugePageSizes() []string {
	sizes := slices.Collect(maps.Keys(r.HugeTLB))
	slices.SortFunc(sizes, func(a, b string) int {
		ka, _ := PageSizeKB(a)
		kb, _ := PageSizeKB(b)
		return cmp.Compare(ka, kb)
	})
	return sizes
}

// validPageSize reports whether s is a huge page size's kernel name.
func validPageSize(s string) bool {
	_, err := PageSizeKB(s)
	return err == nil
}

// jsonSchema is the schema of a Limit.
func (Limit) jsonSchema() *schema {
	s := Size(0).jsonSchema()
	s.AnyOf = append([]*schema{{Type: "string", Const: "max"}}, s.AnyOf...)
	return s
}

// jsonSchema is the schema of CPUs.
func (CPUs) jsonSchema() *schema {
	return &schema{AnyOf: []*schema{
		{Type: "number"},
		{Type: "string", Pattern: `^(max|[0-9]*(\.[0-9]{1,3})?)$`},
		{Ref: variableRef},
	}}
}

// validateResources checks the limits that make no sense as written: a
// zero limit that would stop the sandbox from running at all, and a soft
// limit above the hard one.
func validateResources(sl validator.StructLevel) {
	r := sl.Current().Addr().Interface().(*Resources)
	for _, l := range []struct {
		path, field, why string
		v                *Limit
	}{
		{"memory.max", "max", "no process could run; remove the limit or raise it", r.Memory.Max},
		{"memory.high", "high", "every allocation would be throttled", r.Memory.High},
		{"pids.max", "max", "not even the command could start", r.Pids.Max},
	} {
		if l.v != nil && !l.v.Max && l.v.Value == 0 {
			sl.ReportError(l.v, l.path, l.field, "nonzero", l.why)
		}
	}
	if h, m := r.Memory.High, r.Memory.Max; h != nil && m != nil && !h.Max && !m.Max && h.Value > m.Value {
		sl.ReportError(h, "memory.high", "high", "above", "resources.memory.max ("+m.String()+")")
	}
	if c := r.CPU; c.Period != 0 && (c.Max == nil || c.Max.Max) {
		sl.ReportError(c.Period, "cpu.period", "period", "needs", "resources.cpu.max, a number of CPUs")
	}
	if r.CPU.Shares != 0 && r.CPU.Weight != 0 {
		sl.ReportError(r.CPU.Shares, "cpu.shares", "shares", "exclusive", "resources.cpu.weight")
	}
	for i, d := range r.Devices {
		switch {
		case d.Type == DeviceFIFO:
			sl.ReportError(d.Type, fmt.Sprintf("devices[%d].type", i), "type", "oneof", "c b a")
		case d.Type == DeviceAll && (d.Major != nil || d.Minor != nil):
			sl.ReportError(d.Type, fmt.Sprintf("devices[%d].type", i), "type", "needs", "no major or minor (a is every device)")
		}
	}
	for size, l := range r.HugeTLB {
		// The kernel counts huge pages, not bytes: it would round the
		// limit down to whole pages, which the profile would not show.
		if kb, err := PageSizeKB(size); err == nil && !l.Max && l.Value%(kb<<10) != 0 {
			sl.ReportError(l, "hugetlb["+size+"]", size, "pagemultiple", Size(l.Value/(kb<<10)*(kb<<10)).String())
		}
	}
	for i, d := range r.IO.Devices {
		if d.RBPS == 0 && d.WBPS == 0 && d.RIOPS == 0 && d.WIOPS == 0 {
			sl.ReportError(d, fmt.Sprintf("io.devices[%d]", i), "devices", "nonzero", "set rbps, wbps, riops or wiops")
		}
	}
}

// MknodGuard says whether the command can make device nodes that the
// host honours: CAP_MKNOD is in its bounding set and it has no user
// namespace of its own (in one, the kernel refuses mknod of a device).
// Such a sandbox gets a device cgroup even when its profile has no
// device rules, one that allows only the nodes of its dev mounts:
// otherwise the command could make a node of the host's disk on any
// writable mount (its /dev tmpfs) and open it, or open one that a
// bundle's root file system carries.
func (p *Profile) MknodGuard() bool {
	return p.Namespaces.User != New && slices.Contains(p.Security.Capabilities.Bounding, "CAP_MKNOD")
}

// NeedsCgroup says whether the sandbox gets cgroups: for its limits, or
// for the device cgroup of MknodGuard, which a cell that runs in a user
// namespace other than the initial one (nestedUserNS: rootless podman
// runs its runtime so) does not need, the kernel refusing mknod of a
// device to anything but the initial one's CAP_MKNOD.
func (p *Profile) NeedsCgroup(nestedUserNS bool) bool {
	return p.Resources.Any() || !nestedUserNS && p.MknodGuard()
}
