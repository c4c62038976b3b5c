package cgroup

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/cellsandbox/cell/launcher/plan"
)

// Limits are a sandbox's resource limits, already validated by the
// caller. A nil or zero field is "not set": Plan writes nothing for it, so
// the cgroup keeps the kernel's default (no limit). To lift a limit of a
// running sandbox, set it to Max.
type Limits struct {
	// MemoryMax is the hard memory limit (v2 memory.max, v1
	// memory.limit_in_bytes); above it the OOM killer runs.
	MemoryMax *Value `json:"memoryMax,omitempty"`
	// MemoryHigh throttles and reclaims above it (v2 memory.high only:
	// v1's soft limit is not a throttle, so v1 refuses it).
	MemoryHigh *Value `json:"memoryHigh,omitempty"`
	// SwapMax caps swap use (v2 memory.swap.max). v1 accounts memory and
	// swap together, so there it becomes memory.memsw.limit_in_bytes =
	// MemoryMax + SwapMax, and needs MemoryMax.
	SwapMax *Value `json:"swapMax,omitempty"`
	// OOMGroup makes an OOM kill end every process of the group (v2
	// memory.oom.group; v1 has no such thing and refuses it).
	OOMGroup bool `json:"oomGroup,omitempty"`
	// CPUMax is the CPU bandwidth limit (v2 cpu.max, v1
	// cpu.cfs_quota_us and cpu.cfs_period_us).
	CPUMax *CPUMax `json:"cpuMax,omitempty"`
	// CPUWeight is the relative CPU share under contention, 1 to 10000,
	// 100 being every cgroup's default (v2 cpu.weight). On v1 it becomes
	// cpu.shares = weight*1024/100, so the default 100 is v1's default
	// 1024 (the mapping systemd uses).
	CPUWeight uint64 `json:"cpuWeight,omitempty"`
	// CPUShares is v1's cpu.shares, 2 to 262144, written as given on v1
	// (where CPUWeight's mapping reaches only some values); on v2 it
	// becomes cpu.weight 1 + (shares-2)*9999/262142, runc's conversion.
	// It excludes CPUWeight.
	CPUShares uint64 `json:"cpuShares,omitempty"`
	// Cpus and Mems are cpuset lists such as "0-3,6" (cpuset.cpus and
	// cpuset.mems).
	Cpus string `json:"cpus,omitempty"`
	Mems string `json:"mems,omitempty"`
	// PidsMax is the most tasks (processes and threads) the group may
	// hold (pids.max).
	PidsMax *Value `json:"pidsMax,omitempty"`
	// IOWeight is the relative IO share under contention, 1 to 10000 (v2
	// io.weight). Where only the BFQ scheduler offers weights (v2
	// io.bfq.weight, v1 blkio.bfq.weight, range 1 to 1000) it is mapped as
	// systemd does: 1..100 stays, 100..10000 goes linearly onto 100..1000.
	// A weight only acts on devices whose scheduler honours it (bfq, or
	// io.cost enabled on the device).
	IOWeight uint64 `json:"ioWeight,omitempty"`
	// IODevices throttle single block devices (v2 io.max, v1
	// blkio.throttle.*_device).
	IODevices []IODevice `json:"ioDevices,omitempty"`
	// Devices, when set, give the group a device cgroup that denies
	// every device but these (v1 devices.deny "a", then devices.allow of
	// each in order). cgroup v2 has no devices controller: there Plan
	// attaches a BPF program made of them (Setup.Devices).
	Devices []DeviceRule `json:"devices,omitempty"`
	// DevicesOnly denies every device but Devices even when Devices is
	// empty (then every device is denied).
	DevicesOnly bool `json:"devicesOnly,omitempty"`
	// HugeTLB limits the huge pages of each size the group may hold (v2
	// hugetlb.<size>.max, v1 hugetlb.<size>.limit_in_bytes), one entry a
	// page size.
	HugeTLB []HugeTLB `json:"hugetlb,omitempty"`
	// NetClassID tags the group's network packets with a traffic class
	// (v1 net_cls.classid; cgroup v2 has no net_cls, so there it is an
	// error). 0 is "not set", as it is the kernel's "no class".
	NetClassID uint32 `json:"netClassID,omitempty"`
	// NetPriorities set the priority of the group's packets per network
	// interface (v1 net_prio.ifpriomap; none on v2). The kernel looks the
	// names up in the initial network namespace.
	NetPriorities []NetPriority `json:"netPriorities,omitempty"`
}

// HugeTLB limits the huge pages of one size, named as the kernel names
// it in the hugetlb controller's files ("2MB", "1GB", "64KB"), to Max
// bytes.
type HugeTLB struct {
	PageSize string `json:"pageSize"`
	Max      *Value `json:"max"`
}

// String prints "2MB=67108864".
func (h HugeTLB) String() string { return h.PageSize + "=" + h.Max.String() }

// NetPriority is the priority of the group's packets on one interface.
type NetPriority struct {
	Interface string `json:"interface"`
	Priority  uint32 `json:"priority"`
}

// String prints the entry as net_prio.ifpriomap takes it: "eth0 5".
func (p NetPriority) String() string {
	return p.Interface + " " + strconv.FormatUint(uint64(p.Priority), 10)
}

// PageSizeName names a huge page size of kb KiB as the kernel does in the
// hugetlb controller's file names: in GB from 1 GiB, in MB from 1 MiB,
// else in KB ("2MB" for 2048).
func PageSizeName(kb uint64) string {
	switch {
	case kb >= 1<<20:
		return strconv.FormatUint(kb>>20, 10) + "GB"
	case kb >= 1<<10:
		return strconv.FormatUint(kb>>10, 10) + "MB"
	}
	return strconv.FormatUint(kb, 10) + "KB"
}

// DeviceRule allows access to the devices of Type ('a', 'c' or 'b') and
// number Major:Minor, -1 being any. It is the plan's type, which the
// cgroup-devices step carries.
type DeviceRule = plan.DeviceRule

// IODevice throttles one block device, named by its device number. A zero
// rate is "not set" (no limit).
type IODevice struct {
	Major, Minor uint32
	// RBPS and WBPS are read and write bytes per second; RIOPS and WIOPS
	// read and write operations per second.
	RBPS, WBPS, RIOPS, WIOPS uint64
}

// String prints the device as io.max does: "8:0 rbps=1048576 wiops=100".
func (d IODevice) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d:%d", d.Major, d.Minor)
	for _, f := range d.fields() {
		if f.v != 0 {
			fmt.Fprintf(&b, " %s=%d", f.key, f.v)
		}
	}
	return b.String()
}

type ioField struct {
	key, v1File string
	v           uint64
}

// fields are the four rates of d with their io.max key and v1 file, in
// io.max's order.
func (d IODevice) fields() []ioField {
	return []ioField{
		{"rbps", "blkio.throttle.read_bps_device", d.RBPS},
		{"wbps", "blkio.throttle.write_bps_device", d.WBPS},
		{"riops", "blkio.throttle.read_iops_device", d.RIOPS},
		{"wiops", "blkio.throttle.write_iops_device", d.WIOPS},
	}
}

// String prints the limits that are set, in the field order, as
// "memoryMax=67108864 pidsMax=max"; "none" when none is.
func (l Limits) String() string {
	var parts []string
	add := func(k string, v any) { parts = append(parts, fmt.Sprintf("%s=%v", k, v)) }
	if l.MemoryMax != nil {
		add("memoryMax", l.MemoryMax)
	}
	if l.MemoryHigh != nil {
		add("memoryHigh", l.MemoryHigh)
	}
	if l.SwapMax != nil {
		add("swapMax", l.SwapMax)
	}
	if l.OOMGroup {
		add("oomGroup", true)
	}
	if l.CPUMax != nil {
		add("cpuMax", l.CPUMax)
	}
	if l.CPUWeight != 0 {
		add("cpuWeight", l.CPUWeight)
	}
	if l.CPUShares != 0 {
		add("cpuShares", l.CPUShares)
	}
	if l.Cpus != "" {
		add("cpus", l.Cpus)
	}
	if l.Mems != "" {
		add("mems", l.Mems)
	}
	if l.PidsMax != nil {
		add("pidsMax", l.PidsMax)
	}
	if l.IOWeight != 0 {
		add("ioWeight", l.IOWeight)
	}
	for _, d := range l.IODevices {
		add("ioDevice", "{"+d.String()+"}")
	}
	if l.DevicesOnly {
		add("devicesOnly", true)
	}
	for _, d := range l.Devices {
		add("device", "{"+d.String()+"}")
	}
	for _, h := range l.HugeTLB {
		add("hugetlb", "{"+h.String()+"}")
	}
	if l.NetClassID != 0 {
		add("netClassID", l.NetClassID)
	}
	for _, p := range l.NetPriorities {
		add("netPriority", "{"+p.String()+"}")
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// Value is a limit in bytes or a count, or Max (no limit). The zero Value
// is a limit of 0.
type Value struct {
	n   uint64
	max bool
}

// Num returns the limit n (bytes or a count), as a pointer for Limits.
func Num(n uint64) *Value { return &Value{n: n} }

// Max returns "no limit", as a pointer for Limits.
func Max() *Value { return &Value{max: true} }

// IsMax reports whether v is "no limit".
func (v Value) IsMax() bool { return v.max }

// N returns the limit; it is 0 when v is Max.
func (v Value) N() uint64 { return v.n }

// String prints "max" or the decimal number, as cgroup v2 files take it.
func (v Value) String() string {
	if v.max {
		return "max"
	}
	return strconv.FormatUint(v.n, 10)
}

// v1 prints the value as v1 files of bytes take it: "-1" for no limit.
func (v Value) v1() string {
	if v.max {
		return "-1"
	}
	return strconv.FormatUint(v.n, 10)
}

// MarshalJSON prints "max" or the number.
func (v Value) MarshalJSON() ([]byte, error) {
	if v.max {
		return []byte(`"max"`), nil
	}
	return []byte(strconv.FormatUint(v.n, 10)), nil
}

// UnmarshalJSON accepts "max" or a non-negative integer.
func (v *Value) UnmarshalJSON(b []byte) error {
	if string(b) == `"max"` {
		*v = Value{max: true}
		return nil
	}
	var n uint64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf(`cgroup value: must be "max" or a non-negative integer, not %s`, b)
	}
	*v = Value{n: n}
	return nil
}

// CPUMax is a CPU bandwidth limit: Quota µs of CPU time in every Period
// µs, over all the group's CPUs. A zero Quota is "max" (no limit); a zero
// Period is the kernel's default, 100000 µs.
type CPUMax struct {
	Quota  uint64 `json:"quota"`
	Period uint64 `json:"period,omitempty"`
}

// DefaultPeriod is the kernel's default CPU bandwidth period, 100 ms.
const DefaultPeriod = 100000

// CPUs returns the limit of millis thousandths of a CPU over the default
// period: CPUs(1500) is 150000/100000, one and a half CPUs. CPUs(0) is
// "max".
func CPUs(millis uint64) *CPUMax {
	return &CPUMax{Quota: millis * DefaultPeriod / 1000, Period: DefaultPeriod}
}

// period returns Period, or the default when it is 0.
func (c CPUMax) period() uint64 {
	if c.Period == 0 {
		return DefaultPeriod
	}
	return c.Period
}

// String prints the limit as cpu.max takes it: "150000 100000" or
// "max 100000".
func (c CPUMax) String() string {
	q := "max"
	if c.Quota != 0 {
		q = strconv.FormatUint(c.Quota, 10)
	}
	return q + " " + strconv.FormatUint(c.period(), 10)
}
