package compile

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/launcher/host"
	"github.com/cellsandbox/cell/launcher/plan"
	"github.com/cellsandbox/cell/spec"
)

// idMaps are the user namespace's maps, with subordinate ranges resolved,
// and how they are written.
type idMaps struct {
	uid, gid []spec.IDRange
	// helpers says the maps hold more than the caller's own IDs and the
	// caller is unprivileged: the setuid newuidmap and newgidmap write
	// them, after init exists.
	helpers bool
}

// identity decides the user namespace's maps and checks that the
// command's credentials can be had here. It returns nil when the user
// namespace is the host's.
func (c *compiler) identity() (*idMaps, error) {
	ids := &c.p.IDs
	if c.p.Namespaces.User == spec.Host {
		if c.host.Rootless() && (ids.UID != c.host.UID || ids.GID != c.host.GID || len(ids.Groups) > 0) {
			return nil, c.errorf("ids", "an unprivileged caller (uid %d) sharing the host's user namespace runs as itself; remove ids.uid, ids.gid and ids.groups or set namespaces.user: new", c.host.UID)
		}
		return nil, nil
	}
	m := &idMaps{uid: ids.UIDMap, gid: ids.GIDMap}
	if len(m.uid) == 0 {
		m.uid = []spec.IDRange{{Inside: ids.UID, Outside: spec.HostID(c.host.UID), Count: 1}}
	}
	if len(m.gid) == 0 {
		m.gid = []spec.IDRange{{Inside: ids.GID, Outside: spec.HostID(c.host.GID), Count: 1}}
	}
	var err error
	if m.uid, err = c.resolveSub("ids.uidMap", m.uid, host.SubUIDFile, func(s *host.SubIDs) []host.SubRange { return s.UIDs }); err != nil {
		return nil, err
	}
	if m.gid, err = c.resolveSub("ids.gidMap", m.gid, host.SubGIDFile, func(s *host.SubIDs) []host.SubRange { return s.GIDs }); err != nil {
		return nil, err
	}
	own := func(r []spec.IDRange, id uint32) bool {
		return len(r) == 1 && r[0].Count == 1 && uint32(r[0].Outside) == id
	}
	if !c.host.Rootless() || own(m.uid, c.host.UID) && own(m.gid, c.host.GID) {
		if c.host.Rootless() && len(ids.Groups) > 0 {
			return nil, c.errorf("ids.groups", "an unprivileged caller that maps only its own IDs cannot set supplementary groups (setgroups is denied in its user namespace); map a subordinate range (outside: subgid) or remove ids.groups")
		}
		if c.host.Rootless() && ids.SetGroups == spec.SetGroupsAllow {
			return nil, c.errorf("ids.setgroups", "an unprivileged caller that maps only its own IDs must deny setgroups (the kernel requires it to write the gid_map); map a subordinate range (outside: subgid) or set deny")
		}
		return m, nil
	}
	// Unprivileged, more than its own IDs: the setuid helpers do it.
	m.helpers = true
	if err := c.checkHelpers(m); err != nil {
		return nil, err
	}
	return m, nil
}

// resolveSub gives each range whose outside is subuid/subgid the next IDs
// of the caller's allocation, and checks that every other range is the
// caller's own ID or inside the allocation, for an unprivileged caller.
func (c *compiler) resolveSub(field string, m []spec.IDRange, file string, alloc func(*host.SubIDs) []host.SubRange) ([]spec.IDRange, error) {
	needSub := false
	for _, r := range m {
		needSub = needSub || r.Outside.Subordinate()
	}
	caller := c.host.UID
	if file == host.SubGIDFile {
		caller = c.host.GID
	}
	if !needSub && (!c.host.Rootless() || len(m) == 1 && m[0].Count == 1 && uint32(m[0].Outside) == caller) {
		return m, nil
	}
	if c.host.SubIDs == nil {
		return nil, c.errorf(field, "the caller's subordinate IDs were not probed")
	}
	ranges := alloc(c.host.SubIDs)
	total := uint64(0)
	for _, a := range ranges {
		total += uint64(a.Count)
	}
	have := fmt.Sprintf("%s gives user %s %s", file, c.host.User, describe(ranges))
	out := make([]spec.IDRange, len(m))
	cur, off := 0, uint32(0) // the next free ID: ranges[cur].Start+off
	for i, r := range m {
		out[i] = r
		at := fmt.Sprintf("%s[%d].outside", field, i)
		if r.Outside.Subordinate() {
			for cur < len(ranges) && ranges[cur].Count-off < r.Count {
				cur, off = cur+1, 0 // a range must be contiguous
			}
			if cur == len(ranges) {
				return nil, c.errorf(at, "needs %d subordinate IDs in one piece; %s; add a range to %s (usermod --add-subuids/--add-subgids)", r.Count, have, file)
			}
			out[i].Outside = spec.HostID(ranges[cur].Start + off)
			off += r.Count
			continue
		}
		if !c.host.Rootless() {
			continue
		}
		if r.Count == 1 && uint32(r.Outside) == caller {
			continue
		}
		if !within(ranges, uint32(r.Outside), r.Count) {
			return nil, c.errorf(at, "%d-%d is neither your own ID %d nor in your subordinate range (%s); use outside: %s, or add the range to %s", uint32(r.Outside), uint64(r.Outside)+uint64(r.Count)-1, caller, have, strings.TrimPrefix(file, "/etc/"), file)
		}
	}
	_ = total
	return out, nil
}

func within(ranges []host.SubRange, start, count uint32) bool {
	for _, a := range ranges {
		if start >= a.Start && uint64(start)+uint64(count) <= uint64(a.Start)+uint64(a.Count) {
			return true
		}
	}
	return false
}

func describe(ranges []host.SubRange) string {
	if len(ranges) == 0 {
		return "no range"
	}
	var parts []string
	for _, a := range ranges {
		parts = append(parts, fmt.Sprintf("%d-%d", a.Start, uint64(a.Start)+uint64(a.Count)-1))
	}
	return strings.Join(parts, ", ")
}

// checkHelpers checks what the setuid helpers need: to be installed, and
// the caller mapped to root inside, since init gains its capabilities by
// executing itself again as root of the namespace once the maps exist.
func (c *compiler) checkHelpers(m *idMaps) error {
	s := c.host.SubIDs
	if s.NewUIDMap == "" || s.NewGIDMap == "" {
		return c.errorf("ids", "mapping subordinate IDs as an unprivileged user needs the setuid helpers newuidmap and newgidmap; install them (Debian: apt-get install uidmap)")
	}
	if inside(m.uid, c.host.UID) != 0 {
		return c.errorf("ids.uidMap", "an unprivileged caller mapping subordinate IDs must map its own uid %d to inside 0: init becomes root of the namespace through it", c.host.UID)
	}
	if inside(m.gid, c.host.GID) != 0 {
		return c.errorf("ids.gidMap", "an unprivileged caller mapping subordinate IDs must map its own gid %d to inside 0", c.host.GID)
	}
	return nil
}

// inside returns the ID inside that maps to host ID id, or -1.
func inside(m []spec.IDRange, id uint32) int64 {
	for _, r := range m {
		if id >= uint32(r.Outside) && uint64(id) < uint64(r.Outside)+uint64(r.Count) {
			return int64(r.Inside) + int64(id-uint32(r.Outside))
		}
	}
	return -1
}

// initID is the ID init works as inside the user namespace: the caller's
// own if the map has it, so that host files are reached as the caller
// could; else root of the namespace. An ID outside every range would make
// the kernel refuse to create files (EOVERFLOW).
func initID(m []spec.IDRange, caller uint32, kind string) (uint32, error) {
	if in := inside(m, caller); in >= 0 {
		return uint32(in), nil
	}
	for _, r := range m {
		if r.Inside == 0 {
			return 0, nil
		}
	}
	return 0, fmt.Errorf("maps neither the caller's %s %d nor inside %s 0; init needs one of them to build the sandbox", kind, caller, kind)
}

// directMaps writes the maps from cell, in the order Go's os/exec writes
// them (uid_map, setgroups, gid_map), and sets init's IDs.
func (c *compiler) directMaps(m *idMaps) error {
	c.add("ids.uidMap", plan.Step{Side: plan.Parent, Op: plan.OpWriteIDMap, Path: "uid_map", Data: formatMap(m.uid)})
	if c.host.Rootless() || c.p.IDs.SetGroups == spec.SetGroupsDeny {
		// The kernel lets an unprivileged process write a gid_map only
		// after it gave up setgroups for good.
		c.add("ids", plan.Step{Side: plan.Parent, Op: plan.OpWriteIDMap, Path: "setgroups", Data: "deny"})
	}
	c.add("ids.gidMap", plan.Step{Side: plan.Parent, Op: plan.OpWriteIDMap, Path: "gid_map", Data: formatMap(m.gid)})
	uid, uerr := initID(m.uid, c.host.UID, "uid")
	if uerr != nil {
		return c.errorf("ids.uidMap", "%s", uerr)
	}
	gid, gerr := initID(m.gid, c.host.GID, "gid")
	if gerr != nil {
		return c.errorf("ids.gidMap", "%s", gerr)
	}
	if int64(uid) != inside(m.uid, c.host.UID) || int64(gid) != inside(m.gid, c.host.GID) {
		c.add("ids", plan.Step{Side: plan.Init, Op: plan.OpInitIDs, IDs: []uint32{uid, gid}})
	}
	return nil
}

// helperMaps adds the steps of the helpers' way: init first executes
// itself unmapped and waits; cell runs newuidmap and newgidmap on it; then
// init executes itself again, now root of its namespace with every
// capability in it. initArgs are the arguments of that second exec.
func (c *compiler) helperMaps(m *idMaps, self string, initArgs []string) {
	c.add("namespaces", plan.Step{Side: plan.Init, Op: plan.OpExecInit, Path: self, Args: append(append([]string{}, initArgs...), WaitForMaps)})
	s := c.host.SubIDs
	if c.p.IDs.SetGroups == spec.SetGroupsDeny {
		c.add("ids.setgroups", plan.Step{Side: plan.Parent, Op: plan.OpWriteIDMap, Path: "setgroups", Data: "deny"})
	}
	c.add("ids.uidMap", plan.Step{Side: plan.Parent, Op: plan.OpNewIDMap, Path: s.NewUIDMap, Args: helperArgs(m.uid)})
	c.add("ids.gidMap", plan.Step{Side: plan.Parent, Op: plan.OpNewIDMap, Path: s.NewGIDMap, Args: helperArgs(m.gid)})
}

// WaitForMaps is the argument that makes init wait for its ID maps, then
// execute itself again.
const WaitForMaps = "wait-for-maps"

func helperArgs(m []spec.IDRange) []string {
	var a []string
	for _, r := range m {
		a = append(a, strconv.FormatUint(uint64(r.Inside), 10), strconv.FormatUint(uint64(r.Outside), 10), strconv.FormatUint(uint64(r.Count), 10))
	}
	return a
}

func formatMap(m []spec.IDRange) string {
	var b strings.Builder
	for _, r := range m {
		fmt.Fprintf(&b, "%d %d %d\n", r.Inside, r.Outside, r.Count)
	}
	return b.String()
}

// idmapUserns plans the user namespace of an ID-mapped bind: on-disk
// owner Outside shows inside the sandbox as Inside, which the sandbox's
// own map turns into a host ID; the namespace maps the on-disk ID to that
// host ID. It returns the descriptor number init gets it on.
func (c *compiler) idmapUserns(at string, mnt *spec.Mount, fd int) error {
	m := mnt.IDMap
	if c.host.Rootless() {
		return c.errorf(at, "ID-mapped mounts of the host's file systems need root (CAP_SYS_ADMIN in the initial user namespace); remove idmap or run as root")
	}
	if c.ids == nil {
		return c.errorf(at, "an ID-mapped mount maps to the sandbox's IDs, so it needs namespaces.user: new")
	}
	uid, err := c.throughSandbox(at+".uid", m.UID, c.ids.uid)
	if err != nil {
		return err
	}
	gid, err := c.throughSandbox(at+".gid", m.GID, c.ids.gid)
	if err != nil {
		return err
	}
	if mnt.Optional {
		return c.errorf(at, "an ID-mapped bind cannot be optional: its tree is made before the sandbox")
	}
	attr := uint64(attrSafe)
	if !mnt.Writable {
		attr |= unix.MOUNT_ATTR_RDONLY
	}
	if c.noExec(mnt) {
		attr |= unix.MOUNT_ATTR_NOEXEC
	}
	c.add(at, plan.Step{Side: plan.Parent, Op: plan.OpIDMapUserns, Args: []string{uid, gid}, ID: uint32(fd),
		Source: mnt.Source, Attr: plan.Flags(attr), Recursive: mnt.IsRecursive()})
	return nil
}

// throughSandbox writes the map of an ID-mapped mount's namespace: each
// range's inside IDs go through the sandbox's map to host IDs, splitting
// a range where the sandbox's map does.
func (c *compiler) throughSandbox(at string, ranges []spec.IDRange, sandbox []spec.IDRange) (string, error) {
	if len(ranges) == 0 {
		return "", c.errorf(at, "an ID-mapped mount needs at least one range")
	}
	var b strings.Builder
	for i, r := range ranges {
		in, disk, left := r.Inside, uint32(r.Outside), uint64(r.Count)
		for left > 0 {
			host := inside(invert(sandbox), in)
			if host < 0 {
				return "", c.errorf(fmt.Sprintf("%s[%d].inside", at, i), "inside ID %d is not mapped by the sandbox's map", in)
			}
			// The longest run that stays in one range of the sandbox's map.
			n := left
			for _, s := range sandbox {
				if in >= s.Inside && uint64(in) < uint64(s.Inside)+uint64(s.Count) {
					n = min(n, uint64(s.Inside)+uint64(s.Count)-uint64(in))
				}
			}
			fmt.Fprintf(&b, "%d %d %d\n", disk, host, n)
			in, disk, left = in+uint32(n), disk+uint32(n), left-n
		}
	}
	return b.String(), nil
}

// invert swaps a map's sides, so inside() translates inside to host IDs.
func invert(m []spec.IDRange) []spec.IDRange {
	out := make([]spec.IDRange, len(m))
	for i, r := range m {
		out[i] = spec.IDRange{Inside: uint32(r.Outside), Outside: spec.HostID(r.Inside), Count: r.Count}
	}
	return out
}
