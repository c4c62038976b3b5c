package checkpoint

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/launcher/plan"
)

// RootFile is the archive of the sandbox's root tmpfs in a checkpoint.
//
// CRIU restores a mount namespace's root mount as a bind of the
// directory it is given (its --root), not from the images: cell's root is
// a tmpfs init built (mount points, written files, symbolic links), so
// cell keeps its own content here and rebuilds the tmpfs from it.
const RootFile = "root.tar"

// rootStep is the plan's mount of the sandbox's root tmpfs.
func rootStep(p *plan.Plan) (*plan.Mount, error) {
	for i := range p.Steps {
		if m, ok := p.Steps[i].Do.(*plan.Mount); ok && m.FSType == "tmpfs" && m.Target == "/newroot" {
			return m, nil
		}
	}
	return nil, errors.New("the sandbox's root is not a tmpfs of cell's (filesystem.root.path): CRIU would restore the host directory's content as it is then, not as it was")
}

// saveRoot archives the content of the root mount of pid's mount
// namespace, without what is mounted on it: a mount point is kept as an
// empty directory or file.
func saveRoot(pid int, out string) error {
	// The trailing slash: WalkDir does not follow a root that is a link.
	root := fmt.Sprintf("/proc/%d/root/", pid)
	var rst unix.Stat_t
	if err := unix.Stat(root, &rst); err != nil {
		return err
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		h := &tar.Header{Name: rel, Mode: int64(st.Mode & 0o7777), Uid: int(st.Uid), Gid: int(st.Gid), Format: tar.FormatPAX}
		if st.Dev != rst.Dev {
			// A mount point: what it covers is the mount's, not the root's.
			h.Mode = 0o755
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				h.Typeflag = tar.TypeDir
				err := tw.WriteHeader(h)
				if err == nil {
					err = fs.SkipDir
				}
				return err
			}
			h.Typeflag, h.Mode = tar.TypeReg, 0o644
			return tw.WriteHeader(h)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			h.Typeflag = tar.TypeDir
			return tw.WriteHeader(h)
		case unix.S_IFLNK:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			h.Typeflag, h.Linkname = tar.TypeSymlink, l
			return tw.WriteHeader(h)
		case unix.S_IFREG:
			h.Typeflag, h.Size = tar.TypeReg, st.Size
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			defer src.Close()
			_, err = io.Copy(tw, src)
			return err
		}
		return fmt.Errorf("%s: a %s in the sandbox's root, which cell does not carry", "/"+rel, fs.FileMode(st.Mode).Type())
	})
	if err != nil {
		return fmt.Errorf("the sandbox's root: %w", err)
	}
	return tw.Close()
}

// MountRoot mounts the root tmpfs of p at dir, as the plan's step made
// it, and fills it from the checkpoint's archive. The caller detaches it
// (umount2 MNT_DETACH) once CRIU has bound it into the sandbox.
func MountRoot(p *plan.Plan, dir, archive string) error {
	s, err := rootStep(p)
	if err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", uintptr(s.Flags), s.Data); err != nil {
		return &os.PathError{Op: "mount tmpfs (" + s.Data + ")", Path: dir, Err: err}
	}
	err = extract(dir, archive)
	if err != nil {
		_ = unix.Unmount(dir, unix.MNT_DETACH)
	}
	return err
}

func extract(dir, archive string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", archive, err)
		}
		name := filepath.Clean(h.Name)
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("%s: %q is outside the root", archive, h.Name)
		}
		p := filepath.Join(dir, name)
		mode := uint32(h.Mode & 0o7777)
		switch h.Typeflag {
		case tar.TypeDir:
			err = unix.Mkdir(p, mode)
		case tar.TypeSymlink:
			err = unix.Symlink(h.Linkname, p)
		case tar.TypeReg:
			var out *os.File
			// O_NOFOLLOW|O_EXCL: no entry of the archive writes through
			// a link an earlier one made.
			out, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
			if err == nil {
				_, err = io.Copy(out, tr)
				out.Close()
			}
		default:
			err = fmt.Errorf("entry %q of type %c", h.Name, h.Typeflag)
		}
		if err != nil {
			return fmt.Errorf("%s: %s: %w", archive, h.Name, err)
		}
		if err := unix.Lchown(p, h.Uid, h.Gid); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if h.Typeflag != tar.TypeSymlink {
			if err := unix.Fchmodat(unix.AT_FDCWD, p, mode, 0); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
	}
}
