package mounts

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/mountinfo"
)

// A sandbox that shares the host's mount namespace has no root of its
// own to build: its command is chrooted into a host directory, the root
// directory, and its mounts are made under that directory on the host.
// BindRootfs makes the directory a private mount of cell's own first, so
// that those mounts reach none of the host's other mounts, and so that
// UmountRootfs can tell, after the sandbox, whether what it would unmount
// is still cell's. These functions run in the host's mount namespace:
// BindRootfs in init, UmountRootfs in the process that tears the sandbox
// down.

// BindRootfs binds the directory dir onto itself with its submounts, as
// a private tree. It refuses a dir that is not a directory or that is the
// caller's "/" (after symlinks): cell's mounts would then be made over the
// host's.
func BindRootfs(dir string) error {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail("open", dir, err)
	}
	defer unix.Close(fd)
	var st, root unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fail("fstat", dir, err)
	}
	if err := unix.Stat("/", &root); err != nil {
		return fail("stat", "/", err)
	}
	if st.Dev == root.Dev && st.Ino == root.Ino {
		return fmt.Errorf("root directory %s is the host's \"/\": cell would make its mounts over the host's", dir)
	}
	// Another sandbox's (or one whose teardown never ran): a second bind
	// over it would hold copies of its mounts, and each teardown would
	// find the other's bind on top.
	if ours, err := ownMount(fd, dir); err != nil {
		return err
	} else if ours {
		return fmt.Errorf("root directory %s is already cell's bind of it: another sandbox without a mount namespace uses it, or one whose cleanup did not run left it (umount -l %s)", dir, dir)
	}
	tree, err := unix.OpenTree(fd, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH|unix.AT_RECURSIVE)
	if err != nil {
		return fail("open_tree", dir, err)
	}
	defer unix.Close(tree)
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &unix.MountAttr{Propagation: unix.MS_PRIVATE}); err != nil {
		return fail("mount_setattr", dir+" propagation=MS_PRIVATE", err)
	}
	if err := unix.MoveMount(tree, "", fd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fail("move_mount", dir, err)
	}
	return nil
}

// Chroot is chroot(2).
func Chroot(dir string) error {
	if err := unix.Chroot(dir); err != nil {
		return fail("chroot", dir, err)
	}
	return nil
}

// UmountRootfs unmounts (MNT_DETACH) the mount at target, resolved inside
// the root directory root without leaving it, if root is still the bind
// that BindRootfs made. It does nothing, and reports no error, where
// there is nothing of cell's to unmount: root is not such a bind (it was
// never made, or was unmounted already), target does not exist, or what
// is there is not a mount.
func UmountRootfs(root, target string) error {
	r, err := OpenRoot(root)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer r.Close()
	// The mount checked is the one the target is resolved in: the
	// same descriptor.
	ours, err := ownMount(r.fd, root)
	if err != nil || !ours {
		return err
	}
	fd, err := r.open(target, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fail("openat2", r.show(target), err)
	}
	defer unix.Close(fd)
	// Through the descriptor: the path is not resolved again, where a
	// symlink could now lead elsewhere.
	err = unix.Unmount("/proc/self/fd/"+strconv.Itoa(fd), unix.MNT_DETACH)
	if errors.Is(err, unix.EINVAL) {
		return nil // not a mount
	}
	if err != nil {
		return fail("umount2", r.show(target), err)
	}
	return nil
}

// OwnRootfs reports whether the topmost mount at dir is a bind of dir
// onto itself that is private: what BindRootfs makes. A mount that was
// there before (a snapshotter's overlay, say) is of another file system
// than the mount it is on, or shared.
func OwnRootfs(dir string) (bool, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, fail("open", dir, err)
	}
	defer unix.Close(fd)
	return ownMount(fd, dir)
}

// ownMount is OwnRootfs of the directory open at fd (dir names it in
// errors).
func ownMount(fd int, dir string) (bool, error) {
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_STATX_DONT_SYNC, unix.STATX_MNT_ID, &stx); err != nil {
		return false, fail("statx", dir, err)
	}
	mounts, err := mountInfo()
	if err != nil {
		return false, err
	}
	m, ok := mounts[stx.Mnt_id]
	if !ok {
		return false, nil
	}
	parent, ok := mounts[m.parent]
	if !ok || m.id == m.parent || m.dev != parent.dev || m.shared {
		return false, nil
	}
	// The bind's root is the directory it is mounted on: its place in
	// the parent's file system.
	rel, under := strings.CutPrefix(m.point, parent.point)
	if !under || parent.point != "/" && rel != "" && !strings.HasPrefix(rel, "/") {
		return false, nil
	}
	return m.root == path.Join(parent.root, rel), nil
}

// mountEntry is what OwnRootfs reads of a line of /proc/self/mountinfo.
type mountEntry struct {
	id, parent  uint64
	dev         string
	root, point string
	shared      bool
}

// mountInfo reads /proc/self/mountinfo by mount ID.
func mountInfo() (map[uint64]mountEntry, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[uint64]mountEntry{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 7 {
			continue
		}
		id, err1 := strconv.ParseUint(fs[0], 10, 64)
		parent, err2 := strconv.ParseUint(fs[1], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		e := mountEntry{id: id, parent: parent, dev: fs[2], root: mountinfo.Unescape(fs[3]), point: mountinfo.Unescape(fs[4])}
		for _, opt := range fs[6:] {
			if opt == "-" {
				break
			}
			e.shared = e.shared || strings.HasPrefix(opt, "shared:")
		}
		out[id] = e
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read /proc/self/mountinfo: %w", err)
	}
	return out, nil
}
