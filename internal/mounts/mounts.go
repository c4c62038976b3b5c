// Package mounts makes the mounts, directories, files and symlinks of a
// sandbox's new root. Every target is resolved inside the root it belongs
// to (openat2 with RESOLVE_IN_ROOT), so a symlink placed in a bound
// directory cannot redirect a mount onto the host; mounts are made with
// the new mount API on descriptors, never on re-resolved paths.
//
// The functions must run in the sandbox's mount namespace, in init; those
// of rootfs.go, for a sandbox that shares the host's mount namespace, in
// the host's (init's bind of the root directory, and the unmounting of
// what cell mounted under it by the process that tears the sandbox
// down).
package mounts

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/syserr"
)

func fail(call, obj string, err error) error {
	return &syserr.Error{Call: call, Object: obj, Err: err}
}

// Kind is what a mount point is created as.
type Kind uint8

// The kinds of mount point.
const (
	Dir Kind = iota
	File
)

func (k Kind) String() string {
	switch k {
	case Dir:
		return "directory"
	case File:
		return "file"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// resolveHow resolves inside a root and refuses magic links (such as
// /proc/self/fd/N) that could point anywhere.
func resolveHow(flags uint64) *unix.OpenHow {
	return &unix.OpenHow{
		Flags:   flags | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
}

// Root is an open directory that paths are resolved in.
type Root struct {
	fd   int
	name string
}

// OpenRoot opens dir for resolving paths inside it.
func OpenRoot(dir string) (*Root, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fail("open", dir, err)
	}
	return &Root{fd: fd, name: dir}, nil
}

// Close releases the root's descriptor.
func (r *Root) Close() error { return unix.Close(r.fd) }

func (r *Root) show(p string) string {
	if p == "/" {
		return r.name
	}
	return r.name + p
}

// open resolves p (absolute, inside r) to an O_PATH descriptor.
func (r *Root) open(p string, flags uint64) (int, error) {
	rel := strings.TrimPrefix(p, "/")
	if rel == "" {
		rel = "."
	}
	return openat2(r.fd, rel, resolveHow(unix.O_PATH|flags))
}

// openat2 retries a resolution that the kernel gave up on: with
// RESOLVE_IN_ROOT a ".." (here, in a symlink such as /etc/os-release ->
// ../usr/lib/os-release) fails with EAGAIN when any mount or rename
// happened on the machine during the lookup, which concurrent sandboxes
// setting up their roots make routine. Found by 8 parallel launches.
func openat2(dirfd int, p string, how *unix.OpenHow) (int, error) {
	for range 100 {
		fd, err := unix.Openat2(dirfd, p, how)
		if err != unix.EAGAIN && err != unix.EINTR {
			return fd, err
		}
	}
	return unix.Openat2(dirfd, p, how)
}

// Mkdir creates the directory p with mode, and its missing parents with
// mode 0755, and returns an O_PATH descriptor of it. An existing directory
// is kept as it is.
func (r *Root) Mkdir(p string, mode uint32) (int, error) {
	fd, err := r.open(p, unix.O_DIRECTORY)
	if err == nil || !errors.Is(err, unix.ENOENT) {
		if err != nil {
			return -1, fail("openat2", r.show(p), err)
		}
		return fd, nil
	}
	if p == "/" {
		return -1, fail("openat2", r.show(p), err)
	}
	parent, err := r.Mkdir(path.Dir(p), 0o755)
	if err != nil {
		return -1, err
	}
	defer unix.Close(parent)
	name := path.Base(p)
	if err := unix.Mkdirat(parent, name, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, fail("mkdirat", r.show(p), err)
	}
	// A real (not O_PATH) descriptor, because fchmod needs one.
	fd, err = openat2(r.fd, strings.TrimPrefix(p, "/"), resolveHow(unix.O_RDONLY|unix.O_DIRECTORY))
	if err != nil {
		return -1, fail("openat2", r.show(p), err)
	}
	// The umask of init must not change the mode the plan shows.
	if err := unix.Fchmod(fd, mode); err != nil {
		unix.Close(fd)
		return -1, fail("fchmod", r.show(p), err)
	}
	return fd, nil
}

// create makes an empty file at p (or opens the one there) and returns an
// O_PATH descriptor of it.
func (r *Root) create(p string, mode uint32, excl bool) (int, error) {
	if !excl {
		if fd, err := r.open(p, 0); err == nil {
			return fd, nil
		}
	}
	parent, err := r.Mkdir(path.Dir(p), 0o755)
	if err != nil {
		return -1, err
	}
	defer unix.Close(parent)
	flags := unix.O_CREAT | unix.O_EXCL | unix.O_WRONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(parent, path.Base(p), flags, 0)
	if err != nil {
		return -1, fail("openat", r.show(p), err)
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		unix.Close(fd)
		return -1, fail("fchmod", r.show(p), err)
	}
	return fd, nil
}

// WriteFile creates the file p, which must not exist, with mode and data.
func (r *Root) WriteFile(p string, mode uint32, data string) error {
	fd, err := r.create(p, mode, true)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), r.show(p))
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		return fail("write", r.show(p), err)
	}
	return nil
}

// Mknod makes the node p (mode holds its S_IF* type and permission; dev
// its number), which must not exist, owned by uid and gid; the umask
// does not apply.
func (r *Root) Mknod(p string, mode uint32, dev uint64, uid, gid uint32) error {
	parent, err := r.Mkdir(path.Dir(p), 0o755)
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	name := path.Base(p)
	if err := unix.Mknodat(parent, name, mode, int(dev)); err != nil {
		return fail("mknodat", r.show(p), err)
	}
	if err := unix.Fchownat(parent, name, int(uid), int(gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fail("fchownat", r.show(p), err)
	}
	// fchmodat follows links, but what mknodat just made is no link.
	if err := unix.Fchmodat(parent, name, mode&0o7777, 0); err != nil {
		return fail("fchmodat", r.show(p), err)
	}
	return nil
}

// Propagate sets the propagation type of the mount at p (flags:
// MS_SHARED, MS_SLAVE, MS_PRIVATE or MS_UNBINDABLE, with MS_REC for its
// submounts too).
func Propagate(p string, flags uint64) error {
	if err := unix.Mount("", p, "", uintptr(flags), ""); err != nil {
		return fail("mount", p, err)
	}
	return nil
}

// Symlink creates p as a symlink to target.
func (r *Root) Symlink(target, p string) error {
	parent, err := r.Mkdir(path.Dir(p), 0o755)
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	if err := unix.Symlinkat(target, parent, path.Base(p)); err != nil {
		return fail("symlinkat", r.show(p), err)
	}
	return nil
}

// mountpoint returns a descriptor of p, created as kind if missing
// unless existing is set.
func (r *Root) mountpoint(p string, kind Kind, existing bool) (int, error) {
	if existing {
		fd, err := r.open(p, 0)
		if err != nil {
			return -1, fail("openat2", r.show(p), err)
		}
		return fd, nil
	}
	if kind == Dir {
		return r.Mkdir(p, 0o755)
	}
	return r.create(p, 0o444, false)
}

// Target says how a mount's target is found.
type Target struct {
	// Existing requires the target to exist already; it is not created.
	Existing bool
	// Optional skips the mount when its source, or an Existing target,
	// does not exist.
	Optional bool
}

func (r *Root) attach(mnt int, p string, kind Kind, t Target) error {
	target, err := r.mountpoint(p, kind, t.Existing)
	if t.Optional && t.Existing && errors.Is(err, unix.ENOENT) {
		return ErrSkipped
	}
	if err != nil {
		return err
	}
	defer unix.Close(target)
	err = unix.MoveMount(mnt, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
	if err != nil {
		return fail("move_mount", r.show(p), err)
	}
	return nil
}

// ErrSkipped reports that an optional mount was not made because its
// source or its existing target does not exist.
var ErrSkipped = errors.New("source does not exist; skipped")

// SymlinkError reports a bind source that has a symlink in a component
// that must not be one.
type SymlinkError struct {
	// Source is the source as the profile gave it; Link the component
	// that is a symlink, Target what it points to.
	Source, Link, Target string
	// What the source is: "bind source" when empty.
	What string
}

func (e *SymlinkError) Error() string {
	what := e.What
	if what == "" {
		what = "bind source"
	}
	return fmt.Sprintf("%s %s: %s is a symlink (to %s), which is not followed: "+
		"a writable bind's source, or one under the working directory, may have been planted by a sandbox; "+
		"use the path it points to, or set followSymlinks: true on the mount", what, e.Source, e.Link, e.Target)
}

// Unwrap makes the error an ELOOP, as openat2 reported it.
func (e *SymlinkError) Unwrap() error { return unix.ELOOP }

// OpenSource opens source, resolved inside r, as an O_PATH descriptor.
// With noSymlinks no component may be a symlink (RESOLVE_NO_SYMLINKS), so
// that a link a sandbox planted in a directory it could write does not
// send a bind elsewhere on the host; the error then names the first
// component that is one (*SymlinkError).
func (r *Root) OpenSource(source string, noSymlinks bool) (int, error) {
	rel := strings.TrimPrefix(source, "/")
	if rel == "" {
		rel = "."
	}
	how := resolveHow(unix.O_PATH)
	if noSymlinks {
		how.Resolve |= unix.RESOLVE_NO_SYMLINKS
	}
	fd, err := openat2(r.fd, rel, how)
	if err == nil {
		return fd, nil
	}
	if noSymlinks && errors.Is(err, unix.ELOOP) {
		if link, target, ok := r.firstSymlink(source); ok {
			return -1, &SymlinkError{Source: source, Link: link, Target: target}
		}
	}
	return -1, fail("openat2", r.show(source), err)
}

// firstSymlink walks p inside r a component at a time without following
// any, and returns the first component that is a symlink (as a path in r)
// and its target.
func (r *Root) firstSymlink(p string) (link, target string, ok bool) {
	dirs := []int{r.fd} // the directories walked, r's own first
	defer func() {
		for _, d := range dirs[1:] {
			unix.Close(d)
		}
	}()
	var walked []string
	for _, name := range strings.Split(p, "/") {
		switch name {
		case "", ".":
			continue
		case "..":
			// Inside r, ".." stops at its root, as RESOLVE_IN_ROOT does.
			if len(dirs) > 1 {
				unix.Close(dirs[len(dirs)-1])
				dirs, walked = dirs[:len(dirs)-1], walked[:len(walked)-1]
			}
			continue
		}
		dir := dirs[len(dirs)-1]
		fd, err := unix.Openat(dir, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", "", false
		}
		walked = append(walked, name)
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return "", "", false
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			unix.Close(fd)
			buf := make([]byte, unix.PathMax)
			n, err := unix.Readlinkat(dir, name, buf)
			if err != nil {
				return "/" + strings.Join(walked, "/"), "?", true
			}
			return "/" + strings.Join(walked, "/"), string(buf[:n]), true
		}
		dirs = append(dirs, fd)
	}
	return "", "", false
}

// Missing reports whether err says that a path does not exist, as an
// optional mount's source may not: no such file, or a component that is
// not a directory (.git/hooks in a git worktree, whose .git is a file).
// A component that is a symlink where none may be is no missing source.
func Missing(err error) bool {
	var sl *SymlinkError
	return (errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR)) && !errors.As(err, &sl)
}

// Bind clones the tree at source (resolved inside srcRoot, without
// following symlinks when noSymlinks is set), sets attr on it (on every
// submount when recursive) and attaches it at p. The attributes are set
// before the tree is attached, so there is no moment at which the
// sandbox's tree holds a writable submount of a read-only bind.
func (r *Root) Bind(srcRoot *Root, source, p string, attr uint64, recursive, noSymlinks bool, t Target) error {
	src, err := srcRoot.OpenSource(source, noSymlinks)
	if err != nil {
		if t.Optional && Missing(err) {
			return ErrSkipped
		}
		return err
	}
	defer unix.Close(src)
	var st unix.Stat_t
	if err := unix.Fstat(src, &st); err != nil {
		return fail("fstat", srcRoot.show(source), err)
	}
	kind := File
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		kind = Dir
	}
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC | unix.AT_EMPTY_PATH)
	setFlags := uint(unix.AT_EMPTY_PATH)
	if recursive {
		flags |= unix.AT_RECURSIVE
		setFlags |= unix.AT_RECURSIVE
	}
	tree, err := unix.OpenTree(src, "", flags)
	if err != nil {
		return fail("open_tree", srcRoot.show(source), err)
	}
	defer unix.Close(tree)
	if attr != 0 {
		if err := unix.MountSetattr(tree, "", setFlags, &unix.MountAttr{Attr_set: attr}); err != nil {
			return fail("mount_setattr", srcRoot.show(source), err)
		}
	}
	return r.attach(tree, p, kind, t)
}

// MountFS creates a filesystem of type fstype configured by options
// ("key=value" or "flag") and attaches it at p with attr.
func (r *Root) MountFS(fstype string, options []string, attr uint64, p string, t Target) error {
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fail("fsopen", fstype, err)
	}
	defer unix.Close(fsfd)
	for _, o := range options {
		k, v, hasValue := strings.Cut(o, "=")
		if hasValue {
			err = unix.FsconfigSetString(fsfd, k, v)
		} else {
			err = unix.FsconfigSetFlag(fsfd, k)
		}
		if err != nil {
			return fail("fsconfig", fmt.Sprintf("%s %s%s", fstype, o, fsLog(fsfd)), err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fail("fsconfig", fstype+" create"+fsLog(fsfd), err)
	}
	mnt, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, int(attr))
	if err != nil {
		return fail("fsmount", fstype, err)
	}
	defer unix.Close(mnt)
	return r.attach(mnt, p, Dir, t)
}

// fsLog reads the messages the kernel left on a filesystem context, which
// often say what was wrong with an option.
func fsLog(fsfd int) string {
	var msgs []string
	buf := make([]byte, 512)
	for range 8 {
		n, err := unix.Read(fsfd, buf)
		if err != nil || n <= 0 {
			break
		}
		msgs = append(msgs, strings.TrimSpace(string(buf[:n])))
	}
	if len(msgs) == 0 {
		return ""
	}
	return " (" + strings.Join(msgs, "; ") + ")"
}

// Setattr sets attr on the mount at p (not on its submounts).
func Setattr(p string, attr uint64) error {
	if err := unix.MountSetattr(unix.AT_FDCWD, p, 0, &unix.MountAttr{Attr_set: attr}); err != nil {
		return fail("mount_setattr", p, err)
	}
	return nil
}

// Mount is mount(2).
func Mount(source, target, fstype string, flags uintptr, data string) error {
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		return fail("mount", target, err)
	}
	return nil
}

// Mkdir is mkdir(2) followed by chmod, so the umask does not apply.
func Mkdir(p string, mode uint32) error {
	if err := unix.Mkdir(p, mode); err != nil {
		return fail("mkdir", p, err)
	}
	if err := unix.Chmod(p, mode); err != nil {
		return fail("chmod", p, err)
	}
	return nil
}

// PivotRoot is pivot_root(2).
func PivotRoot(newRoot, putOld string) error {
	if err := unix.PivotRoot(newRoot, putOld); err != nil {
		return fail("pivot_root", newRoot, err)
	}
	return nil
}

// Unmount is umount2(2).
func Unmount(p string, flags int) error {
	if err := unix.Unmount(p, flags); err != nil {
		return fail("umount2", p, err)
	}
	return nil
}

// IDMappedTree clones the tree at source (a host path, resolved by the
// caller's root, without following symlinks when noSymlinks is set) and
// sets attr and MOUNT_ATTR_IDMAP with the user namespace userns on it, on
// every submount when recursive. It returns the detached tree's
// descriptor. ID-mapping a host file system takes CAP_SYS_ADMIN over its
// owner, so this runs in cell, not in init.
func IDMappedTree(source string, attr uint64, recursive, noSymlinks bool, userns int) (int, error) {
	root, err := OpenRoot("/")
	if err != nil {
		return -1, err
	}
	defer root.Close()
	src, err := root.OpenSource(source, noSymlinks)
	if err != nil {
		return -1, err
	}
	defer unix.Close(src)
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC | unix.AT_EMPTY_PATH)
	setFlags := uint(unix.AT_EMPTY_PATH)
	if recursive {
		flags |= unix.AT_RECURSIVE
		setFlags |= unix.AT_RECURSIVE
	}
	tree, err := unix.OpenTree(src, "", flags)
	if err != nil {
		return -1, fail("open_tree", source, err)
	}
	ma := &unix.MountAttr{Attr_set: attr | unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(userns)}
	if err := unix.MountSetattr(tree, "", setFlags, ma); err != nil {
		unix.Close(tree)
		if errors.Is(err, unix.EINVAL) {
			return -1, fail("mount_setattr MOUNT_ATTR_IDMAP", source+" (its file system or this kernel does not support ID-mapped mounts, or it is ID-mapped already)", err)
		}
		return -1, fail("mount_setattr MOUNT_ATTR_IDMAP", source, err)
	}
	return tree, nil
}

// Attach moves the detached tree tree onto p, creating p like the tree's
// root (directory or file).
func (r *Root) Attach(tree int, p string) error {
	var st unix.Stat_t
	if err := unix.Fstat(tree, &st); err != nil {
		return fail("fstat", fmt.Sprintf("fd %d", tree), err)
	}
	kind := File
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		kind = Dir
	}
	return r.attach(tree, p, kind, Target{})
}

// HandBackError lists what a sandbox left in a hand-back directory that
// cell took away: symlinks removed and files whose set-ID bits it cleared.
type HandBackError struct {
	Dir              string
	Symlinks, SetIDs []string
}

func (e *HandBackError) Error() string {
	var parts []string
	if len(e.Symlinks) > 0 {
		parts = append(parts, fmt.Sprintf("removed %d symlinks (%s)", len(e.Symlinks), strings.Join(e.Symlinks, ", ")))
	}
	if len(e.SetIDs) > 0 {
		parts = append(parts, fmt.Sprintf("cleared the set-ID bits of %d files (%s)", len(e.SetIDs), strings.Join(e.SetIDs, ", ")))
	}
	return fmt.Sprintf("hand-back %s: the command left what a consumer of its outputs could trip over: %s", e.Dir, strings.Join(parts, "; "))
}

// HandBack checks the directory (or file) dir, which a sandbox that has
// ended wrote: it removes every symlink unless keepSymlinks, and clears
// set-user-ID and set-group-ID bits, without following any link and
// without leaving dir's file system. It reports what it did as a
// *HandBackError; a missing dir is no error.
func HandBack(dir string, keepSymlinks bool) error {
	root, err := OpenRoot("/")
	if err != nil {
		return err
	}
	defer root.Close()
	how := &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
	fd, err := openat2(root.fd, strings.TrimPrefix(dir, "/"), how)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fail("openat2", dir, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fail("fstat", dir, err)
	}
	e := &HandBackError{Dir: dir}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		err = e.walk(fd, dir, st.Dev, keepSymlinks)
	} else {
		err = e.clear(fd, dir, &st)
	}
	if err != nil {
		return err
	}
	if len(e.Symlinks)+len(e.SetIDs) > 0 {
		return e
	}
	return nil
}

// clear takes the set-ID bits off the open file fd.
func (e *HandBackError) clear(fd int, p string, st *unix.Stat_t) error {
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Mode&(unix.S_ISUID|unix.S_ISGID) == 0 {
		return nil
	}
	if err := unix.Fchmod(fd, st.Mode&0o777); err != nil {
		return fail("fchmod", p, err)
	}
	e.SetIDs = append(e.SetIDs, p)
	return nil
}

// walk checks the entries of the directory dir (at path p) and below, on
// device dev only.
func (e *HandBackError) walk(dir int, p string, dev uint64, keepSymlinks bool) error {
	// Names are read through a duplicate, whose closing leaves dir to
	// the caller.
	dup, err := unix.Dup(dir)
	if err != nil {
		return fail("dup", p, err)
	}
	d := os.NewFile(uintptr(dup), p)
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("read directory %s: %w", p, err)
	}
	for _, name := range names {
		child := path.Join(p, name)
		var st unix.Stat_t
		if err := unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fail("fstatat", child, err)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			if keepSymlinks {
				continue
			}
			buf := make([]byte, unix.PathMax)
			n, _ := unix.Readlinkat(dir, name, buf)
			if err := unix.Unlinkat(dir, name, 0); err != nil {
				return fail("unlinkat", child, err)
			}
			e.Symlinks = append(e.Symlinks, child+" -> "+string(buf[:max(n, 0)]))
		case unix.S_IFDIR, unix.S_IFREG:
			if st.Dev != dev {
				continue // another file system mounted there: not the sandbox's output
			}
			fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
			if err != nil {
				return fail("openat", child, err)
			}
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				err = e.walk(fd, child, dev, keepSymlinks)
			} else {
				err = e.clear(fd, child, &st)
			}
			unix.Close(fd)
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// PinLowers opens each directory of an overlay's lowerdir option (host
// paths under r, given as r's name followed by the path) inside r without
// following symlinks, and returns the options with each replaced by the
// path of its descriptor under procDir (a proc mount that shows this
// process as self), which overlayfs follows to the opened directory; and
// the descriptors, to close once the overlay is made.
func (r *Root) PinLowers(opts []string, procDir string) ([]string, []int, error) {
	out := make([]string, len(opts))
	var fds []int
	for i, o := range opts {
		out[i] = o
		list, ok := strings.CutPrefix(o, "lowerdir=")
		if !ok {
			continue
		}
		var pinned []string
		for _, p := range strings.Split(list, ":") {
			rel, ok := strings.CutPrefix(p, r.name+"/")
			if !ok {
				closeAll(fds)
				return nil, nil, fmt.Errorf("overlay lower directory %s is not under %s", p, r.name)
			}
			fd, err := r.OpenSource("/"+rel, true)
			if err != nil {
				closeAll(fds)
				var sl *SymlinkError
				if errors.As(err, &sl) {
					sl.What = "overlay lower directory"
				}
				return nil, nil, err
			}
			fds = append(fds, fd)
			pinned = append(pinned, fmt.Sprintf("%s/self/fd/%d", procDir, fd))
		}
		out[i] = "lowerdir=" + strings.Join(pinned, ":")
	}
	return out, fds, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
