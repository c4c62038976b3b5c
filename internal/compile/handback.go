package compile

import (
	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/launcher/plan"
	"github.com/cellsandbox/cell/spec"
)

// handBackMap decides how a hand-back bind gives the command's files to
// the caller: nil when the command's user already is the caller on the
// host (a plain bind does), else the ID map of an ID-mapped bind whose
// files the command's uid and gid make are the caller's on disk. That
// takes root; an unprivileged caller whose command runs as another host
// ID is refused.
func (c *compiler) handBackMap(at string, m *spec.Mount) (*spec.IDMap, error) {
	if c.ids == nil {
		return nil, nil // the host's user namespace: the command is the caller
	}
	uid, upicked := hostID(c.ids.uid, c.p.IDs.UID)
	gid, gpicked := hostID(c.ids.gid, c.p.IDs.GID)
	if !upicked && !gpicked && uid == int64(c.host.UID) && gid == int64(c.host.GID) {
		return nil, nil
	}
	if c.host.Rootless() {
		return nil, c.errorf(at+".handBack", "the command's uid %d and gid %d are host IDs %d and %d, not yours (%d, %d), and giving its files to you takes an ID-mapped mount, which needs root; map the command's IDs to your own (inside %d: outside ${UID})",
			c.p.IDs.UID, c.p.IDs.GID, uid, gid, c.host.UID, c.host.GID, c.p.IDs.UID)
	}
	return &spec.IDMap{
		UID: []spec.IDRange{{Inside: c.p.IDs.UID, Outside: spec.HostID(c.host.UID), Count: 1}},
		GID: []spec.IDRange{{Inside: c.p.IDs.GID, Outside: spec.HostID(c.host.GID), Count: 1}},
	}, nil
}

// handBackUserns adds the parent's step that makes a hand-back bind's
// ID-mapped tree with idm, on descriptor fd of init. Unlike a profile's
// idmap it may be optional: a missing source passes no tree, and init
// skips the attach.
func (c *compiler) handBackUserns(at string, m *spec.Mount, idm *spec.IDMap, fd int) error {
	uid, err := c.throughSandbox(at+".handBack", idm.UID, c.ids.uid)
	if err != nil {
		return err
	}
	gid, err := c.throughSandbox(at+".handBack", idm.GID, c.ids.gid)
	if err != nil {
		return err
	}
	attr := uint64(attrSafe)
	if m.NoExec {
		attr |= unix.MOUNT_ATTR_NOEXEC
	}
	c.add(at, plan.Parent, &plan.IDMappedTree{UIDMap: uid, GIDMap: gid, FD: uint32(fd),
		Source: m.Source, Attr: plan.AttrFlags(attr), Recursive: m.IsRecursive(), Optional: m.Optional,
		NoSymlinks: c.noSymlinks(m), HandBack: true, KeepSymlinks: m.KeepSymlinks})
	return nil
}

// handBackMapped reports whether a hand-back bind is ID-mapped (the
// decision handBackMap made before the clone; it cannot fail here).
func (c *compiler) handBackMapped(m *spec.Mount) bool {
	idm, err := c.handBackMap("", m)
	return err == nil && idm != nil
}

// hostID is the host ID that the sandbox's map m gives the inside ID id,
// -1 when m lacks it; picked when it falls in a leased slot (outside:
// pick), whose IDs are known only at run time and are never the caller's.
func hostID(m []idRange, id uint32) (host int64, picked bool) {
	for _, r := range m {
		if id >= r.Inside && uint64(id) < uint64(r.Inside)+uint64(r.Count) {
			return int64(r.Outside) + int64(id-r.Inside), r.Picked
		}
	}
	return -1, false
}
