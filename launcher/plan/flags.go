package plan

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/bitnames"
	"github.com/cellsandbox/cell/spec/capability"
)

// CloneFlags prints CLONE_* bits by name.
type CloneFlags uint64

// MountFlags prints MS_* bits by name.
type MountFlags uint64

// AttrFlags prints MOUNT_ATTR_* bits by name.
type AttrFlags uint64

// UmountFlags prints MNT_* and UMOUNT_* bits by name.
type UmountFlags uint64

var cloneNames = []bitnames.Name{
	{Bit: unix.CLONE_NEWUSER, Name: "CLONE_NEWUSER"},
	{Bit: unix.CLONE_NEWNS, Name: "CLONE_NEWNS"},
	{Bit: unix.CLONE_NEWPID, Name: "CLONE_NEWPID"},
	{Bit: unix.CLONE_NEWNET, Name: "CLONE_NEWNET"},
	{Bit: unix.CLONE_NEWUTS, Name: "CLONE_NEWUTS"},
	{Bit: unix.CLONE_NEWIPC, Name: "CLONE_NEWIPC"},
	{Bit: unix.CLONE_NEWCGROUP, Name: "CLONE_NEWCGROUP"},
	{Bit: unix.CLONE_NEWTIME, Name: "CLONE_NEWTIME"},
}

var mountNames = []bitnames.Name{
	{Bit: unix.MS_RDONLY, Name: "MS_RDONLY"},
	{Bit: unix.MS_NOSUID, Name: "MS_NOSUID"},
	{Bit: unix.MS_NODEV, Name: "MS_NODEV"},
	{Bit: unix.MS_NOEXEC, Name: "MS_NOEXEC"},
	{Bit: unix.MS_REMOUNT, Name: "MS_REMOUNT"},
	{Bit: unix.MS_BIND, Name: "MS_BIND"},
	{Bit: unix.MS_REC, Name: "MS_REC"},
	{Bit: unix.MS_PRIVATE, Name: "MS_PRIVATE"},
	{Bit: unix.MS_SLAVE, Name: "MS_SLAVE"},
	{Bit: unix.MS_SHARED, Name: "MS_SHARED"},
	{Bit: unix.MS_UNBINDABLE, Name: "MS_UNBINDABLE"},
}

var attrNames = []bitnames.Name{
	{Bit: unix.MOUNT_ATTR_RDONLY, Name: "MOUNT_ATTR_RDONLY"},
	{Bit: unix.MOUNT_ATTR_NOSUID, Name: "MOUNT_ATTR_NOSUID"},
	{Bit: unix.MOUNT_ATTR_NODEV, Name: "MOUNT_ATTR_NODEV"},
	{Bit: unix.MOUNT_ATTR_NOEXEC, Name: "MOUNT_ATTR_NOEXEC"},
	{Bit: unix.MOUNT_ATTR_NOSYMFOLLOW, Name: "MOUNT_ATTR_NOSYMFOLLOW"},
	{Bit: unix.MOUNT_ATTR_IDMAP, Name: "MOUNT_ATTR_IDMAP"},
}

var umountNames = []bitnames.Name{
	{Bit: unix.MNT_FORCE, Name: "MNT_FORCE"},
	{Bit: unix.MNT_DETACH, Name: "MNT_DETACH"},
	{Bit: unix.MNT_EXPIRE, Name: "MNT_EXPIRE"},
	{Bit: unix.UMOUNT_NOFOLLOW, Name: "UMOUNT_NOFOLLOW"},
}

func (f CloneFlags) String() string  { return bitnames.Format(uint64(f), cloneNames) }
func (f MountFlags) String() string  { return bitnames.Format(uint64(f), mountNames) }
func (f AttrFlags) String() string   { return bitnames.Format(uint64(f), attrNames) }
func (f UmountFlags) String() string { return bitnames.Format(uint64(f), umountNames) }

// capNames prints capability numbers by name.
func capNames(caps []uint32) string {
	parts := make([]string, len(caps))
	for i, c := range caps {
		if name, ok := capability.Name(int(c)); ok {
			parts[i] = name
		} else {
			parts[i] = fmt.Sprintf("CAP_%d", c)
		}
	}
	return strings.Join(parts, "|")
}
