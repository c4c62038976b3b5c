package compile

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/host"
	idpool "github.com/cellsandbox/cell/internal/ids"
	"github.com/cellsandbox/cell/launcher/plan"
	"github.com/cellsandbox/cell/spec"
)

// idRange is a range of a user namespace's map as compiled: Outside is a
// host ID or, when Picked, an offset from the first ID of the slot that
// the parent leases when the sandbox starts (internal/ids).
type idRange struct {
	Inside, Outside, Count uint32
	Picked                 bool
}

// host is the range's first host ID as the plan writes it: a number, or
// a placeholder of the leased slot.
func (r idRange) host(off uint32) string {
	if r.Picked {
		return idpool.Ref(r.Outside + off)
	}
	return strconv.FormatUint(uint64(r.Outside)+uint64(off), 10)
}

// idMaps are the user namespace's maps, with subordinate ranges resolved,
// and how they are written.
type idMaps struct {
	uid, gid []idRange
	// helpers says the maps hold more than the caller's own IDs and the
	// caller is unprivileged: the setuid newuidmap and newgidmap write
	// them, after init exists.
	helpers bool
	// lease says the maps hold picked ranges: the parent leases a slot of
	// the ID pool before anything else.
	lease bool
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
	uids, gids := ids.UIDMap, ids.GIDMap
	if len(uids) == 0 {
		uids = []spec.IDRange{{Inside: ids.UID, Outside: spec.HostID(c.host.UID), Count: 1}}
	}
	if len(gids) == 0 {
		gids = []spec.IDRange{{Inside: ids.GID, Outside: spec.HostID(c.host.GID), Count: 1}}
	}
	// from[i] is the index in the profile's map of range i.
	uidFrom, gidFrom := indexes(len(uids)), indexes(len(gids))
	if c.host.Rootless() {
		uids, uidFrom = ownPick(uids, c.host.UID)
		gids, gidFrom = ownPick(gids, c.host.GID)
	}
	var err error
	if uids, err = c.resolveSub("ids.uidMap", uids, uidFrom, host.SubUIDFile, func(s *host.SubIDs) []host.SubRange { return s.UIDs }); err != nil {
		return nil, err
	}
	if gids, err = c.resolveSub("ids.gidMap", gids, gidFrom, host.SubGIDFile, func(s *host.SubIDs) []host.SubRange { return s.GIDs }); err != nil {
		return nil, err
	}
	m := &idMaps{}
	if m.uid, err = c.picked("ids.uidMap", uids); err != nil {
		return nil, err
	}
	if m.gid, err = c.picked("ids.gidMap", gids); err != nil {
		return nil, err
	}
	for _, r := range append(append([]idRange{}, m.uid...), m.gid...) {
		m.lease = m.lease || r.Picked
	}
	if m.lease {
		if err := c.checkPool(); err != nil {
			return nil, err
		}
	}
	own := func(r []idRange, id uint32) bool {
		return len(r) == 1 && r[0].Count == 1 && !r[0].Picked && r[0].Outside == id
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

// ownPick turns the picked ranges of an unprivileged caller's map into
// IDs that the caller alone owns: its own ID first (unless the map names
// it already), then its subordinate range. Its own ID comes first because
// init becomes root of the namespace through it (newuidmap maps the
// caller; see checkHelpers), and because the caller's files then stay
// the caller's inside.
func ownPick(m []spec.IDRange, caller uint32) (out []spec.IDRange, from []int) {
	mapped := false
	for _, r := range m {
		if !r.Outside.Symbolic() && caller >= uint32(r.Outside) && uint64(caller) < uint64(r.Outside)+uint64(r.Count) {
			mapped = true
		}
	}
	for i, r := range m {
		if !r.Outside.Picked() {
			out, from = append(out, r), append(from, i)
			continue
		}
		if !mapped {
			out, from = append(out, spec.IDRange{Inside: r.Inside, Outside: spec.HostID(caller), Count: 1}), append(from, i)
			mapped = true
			if r.Count == 1 {
				continue
			}
			r = spec.IDRange{Inside: r.Inside + 1, Count: r.Count - 1}
		}
		r.Outside = spec.Subordinate
		out, from = append(out, r), append(from, i)
	}
	return out, from
}

// indexes is 0, 1, ..., n-1.
func indexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// picked converts a map whose subordinate ranges are resolved: each
// picked range takes the next IDs of the leased slot, which must hold
// them all.
func (c *compiler) picked(field string, m []spec.IDRange) ([]idRange, error) {
	out := make([]idRange, len(m))
	off := uint64(0)
	for i, r := range m {
		out[i] = idRange{Inside: r.Inside, Outside: uint32(r.Outside), Count: r.Count}
		if !r.Outside.Picked() {
			continue
		}
		if off+uint64(r.Count) > idpool.SlotSize {
			return nil, c.errorf(fmt.Sprintf("%s[%d].count", field, i), "the picked ranges of %s hold %d IDs; a leased slot has %d", field, off+uint64(r.Count), idpool.SlotSize)
		}
		out[i].Outside, out[i].Picked = uint32(off), true
		off += uint64(r.Count)
	}
	return out, nil
}

// checkPool checks that the pool that outside: pick leases from is known
// and overlaps nothing the host gives out.
func (c *compiler) checkPool() error {
	at := c.pickField()
	pool := c.host.IDPool
	if pool == nil {
		return c.errorf(at, "the ID pool was not probed")
	}
	if pool.Slots() == 0 {
		return c.errorf(at, "the ID pool %s (%s) holds no slot of %d IDs", pool.Pool, pool.From, idpool.SlotSize)
	}
	if t, bad := pool.Overlap(); bad {
		return c.errorf(at, "the ID pool %s (%s) overlaps %d-%d, %s: a sandbox would share IDs with it; set %s=FIRST:COUNT or write FIRST:COUNT to %s",
			pool.Pool, pool.From, t.Start, uint64(t.Start)+uint64(t.Count)-1, t.What, idpool.PoolEnv, idpool.PoolFile)
	}
	return nil
}

// pickField is the position of the first picked range, which the lease
// step and its errors point at.
func (c *compiler) pickField() string {
	for _, m := range []struct {
		field string
		m     []spec.IDRange
	}{{"ids.uidMap", c.p.IDs.UIDMap}, {"ids.gidMap", c.p.IDs.GIDMap}} {
		for i, r := range m.m {
			if r.Outside.Picked() {
				return fmt.Sprintf("%s[%d].outside", m.field, i)
			}
		}
	}
	return "ids"
}

// idLease adds the lease of a slot of the ID pool, before anything that
// writes its IDs, and its release when the sandbox ends.
func (c *compiler) idLease(name string) {
	at := c.pickField()
	pool := c.host.IDPool
	c.add(at, plan.Parent, &plan.IDLease{File: idpool.LeaseFile, Sandbox: name, First: pool.First, Count: pool.Count})
	c.cleanup = append(c.cleanup, plan.Step{Side: plan.Parent, Do: &plan.IDRelease{File: idpool.LeaseFile, Slot: idpool.Placeholder}, Pos: c.pos(at)})
}

// resolveSub gives each range whose outside is subuid/subgid the next IDs
// of the caller's allocation, and checks that every other range is the
// caller's own ID or inside the allocation, for an unprivileged caller.
func (c *compiler) resolveSub(field string, m []spec.IDRange, from []int, file string, alloc func(*host.SubIDs) []host.SubRange) ([]spec.IDRange, error) {
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
	have := fmt.Sprintf("%s gives user %s %s", file, c.host.User, describe(ranges))
	out := make([]spec.IDRange, len(m))
	cur, off := 0, uint32(0) // the next free ID: ranges[cur].Start+off
	for i, r := range m {
		out[i] = r
		at := fmt.Sprintf("%s[%d].outside", field, from[i])
		if r.Outside.Subordinate() {
			for cur < len(ranges) && ranges[cur].Count-off < r.Count {
				cur, off = cur+1, 0 // a range must be contiguous
			}
			if cur == len(ranges) {
				why := ""
				if orig := c.p.IDs.UIDMap; field == "ids.uidMap" && from[i] < len(orig) && orig[from[i]].Outside.Picked() ||
					field == "ids.gidMap" && from[i] < len(c.p.IDs.GIDMap) && c.p.IDs.GIDMap[from[i]].Outside.Picked() {
					why = " (outside: pick of an unprivileged caller is its own ID, then its subordinate range)"
				}
				return nil, c.errorf(at, "needs %d subordinate IDs in one piece%s; %s; add a range to %s (usermod --add-subuids/--add-subgids)", r.Count, why, have, file)
			}
			out[i].Outside = spec.HostID(ranges[cur].Start + off)
			off += r.Count
			continue
		}
		if !c.host.Rootless() || r.Outside.Picked() {
			continue
		}
		if r.Count == 1 && uint32(r.Outside) == caller {
			continue
		}
		if !within(ranges, uint32(r.Outside), r.Count) {
			return nil, c.errorf(at, "%d-%d is neither your own ID %d nor in your subordinate range (%s); use outside: %s, or add the range to %s", uint32(r.Outside), uint64(r.Outside)+uint64(r.Count)-1, caller, have, strings.TrimPrefix(file, "/etc/"), file)
		}
	}
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

// inside returns the ID inside that maps to host ID id, or -1. A picked
// range holds no ID known when compiling: the pool overlaps none.
func inside(m []idRange, id uint32) int64 {
	for _, r := range m {
		if !r.Picked && id >= r.Outside && uint64(id) < uint64(r.Outside)+uint64(r.Count) {
			return int64(r.Inside) + int64(id-r.Outside)
		}
	}
	return -1
}

// initID is the ID init works as inside the user namespace: the caller's
// own if the map has it, so that host files are reached as the caller
// could; else root of the namespace. An ID outside every range would make
// the kernel refuse to create files (EOVERFLOW).
func initID(m []idRange, caller uint32, kind string) (uint32, error) {
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
// them (uid_map, setgroups, gid_map).
func (c *compiler) directMaps(m *idMaps) {
	c.add("ids.uidMap", plan.Parent, &plan.WriteIDMap{File: "uid_map", Data: formatMap(m.uid)})
	if c.host.Rootless() || c.p.IDs.SetGroups == spec.SetGroupsDeny {
		// The kernel lets an unprivileged process write a gid_map only
		// after it gave up setgroups for good.
		c.add("ids", plan.Parent, &plan.WriteIDMap{File: "setgroups", Data: "deny"})
	}
	c.add("ids.gidMap", plan.Parent, &plan.WriteIDMap{File: "gid_map", Data: formatMap(m.gid)})
}

// initIDs sets init's IDs in its namespace, when the maps that cell wrote
// do not make them what init is outside.
func (c *compiler) initIDs(m *idMaps) error {
	uid, uerr := initID(m.uid, c.host.UID, "uid")
	if uerr != nil {
		return c.errorf("ids.uidMap", "%s", uerr)
	}
	gid, gerr := initID(m.gid, c.host.GID, "gid")
	if gerr != nil {
		return c.errorf("ids.gidMap", "%s", gerr)
	}
	if int64(uid) != inside(m.uid, c.host.UID) || int64(gid) != inside(m.gid, c.host.GID) {
		c.add("ids", plan.Init, &plan.InitIDs{UID: uid, GID: gid})
	}
	return nil
}

// helperMaps adds the steps of the helpers' way: init first executes
// itself unmapped and waits; cell runs newuidmap and newgidmap on it; then
// init executes itself again, now root of its namespace with every
// capability in it. initArgs are the arguments of that second exec.
func (c *compiler) helperMaps(m *idMaps, self string, initArgs []string) {
	c.add("namespaces", plan.Init, &plan.ExecInit{Path: self, Args: append(append([]string{}, initArgs...), WaitForMaps)})
	s := c.host.SubIDs
	if c.p.IDs.SetGroups == spec.SetGroupsDeny {
		c.add("ids.setgroups", plan.Parent, &plan.DenySetgroups{})
	}
	c.add("ids.uidMap", plan.Parent, &plan.NewIDMap{Helper: s.NewUIDMap, Ranges: helperArgs(m.uid)})
	c.add("ids.gidMap", plan.Parent, &plan.NewIDMap{Helper: s.NewGIDMap, Ranges: helperArgs(m.gid)})
}

// WaitForMaps is the argument that makes init wait for its ID maps, then
// execute itself again (plan.WaitForMaps, which init reads).
const WaitForMaps = plan.WaitForMaps

func helperArgs(m []idRange) []string {
	var a []string
	for _, r := range m {
		a = append(a, strconv.FormatUint(uint64(r.Inside), 10), r.host(0), strconv.FormatUint(uint64(r.Count), 10))
	}
	return a
}

func formatMap(m []idRange) string {
	var b strings.Builder
	for _, r := range m {
		fmt.Fprintf(&b, "%d %s %d\n", r.Inside, r.host(0), r.Count)
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
	c.add(at, plan.Parent, &plan.IDMappedTree{UIDMap: uid, GIDMap: gid, FD: uint32(fd),
		Source: mnt.Source, Attr: plan.AttrFlags(attr), Recursive: mnt.IsRecursive()})
	return nil
}

// throughSandbox writes the map of an ID-mapped mount's namespace: each
// range's inside IDs go through the sandbox's map to host IDs, splitting
// a range where the sandbox's map does. A picked range's host IDs are
// placeholders of the leased slot, which the parent resolves.
func (c *compiler) throughSandbox(at string, ranges []spec.IDRange, sandbox []idRange) (string, error) {
	if len(ranges) == 0 {
		return "", c.errorf(at, "an ID-mapped mount needs at least one range")
	}
	var b strings.Builder
	for i, r := range ranges {
		if r.Outside.Symbolic() {
			return "", c.errorf(fmt.Sprintf("%s[%d].outside", at, i), "the on-disk side of an ID-mapped mount is an ID, not %s", r.Outside)
		}
		in, disk, left := r.Inside, uint32(r.Outside), uint64(r.Count)
		for left > 0 {
			var s *idRange
			for j := range sandbox {
				if in >= sandbox[j].Inside && uint64(in) < uint64(sandbox[j].Inside)+uint64(sandbox[j].Count) {
					s = &sandbox[j]
				}
			}
			if s == nil {
				return "", c.errorf(fmt.Sprintf("%s[%d].inside", at, i), "inside ID %d is not mapped by the sandbox's map", in)
			}
			// The longest run that stays in one range of the sandbox's map.
			n := min(left, uint64(s.Inside)+uint64(s.Count)-uint64(in))
			fmt.Fprintf(&b, "%d %s %d\n", disk, s.host(in-s.Inside), n)
			in, disk, left = in+uint32(n), disk+uint32(n), left-n
		}
	}
	return b.String(), nil
}
