package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// removeCgroupParents removes the cgroup parent name that the withCgroups
// row's launches made: root/name (cgroup v2 mounted at root) and
// root/*/name (one per hierarchy, v1 or a v2 mounted below root), each
// with every cgroup under it, deepest first. It returns the parents it
// found and the cgroups under them, which a launch that ran to its end
// removes itself. It is an error if a parent is still there at the end.
func removeCgroupParents(root, name string) (parents, leaves []string, err error) {
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." {
		return nil, nil, fmt.Errorf("cgroup parent %q: must be one path element", name)
	}
	found, err := filepath.Glob(filepath.Join(root, "*", name))
	if err != nil {
		return nil, nil, err
	}
	for _, dir := range append([]string{filepath.Join(root, name)}, found...) {
		fi, statErr := os.Lstat(dir)
		if errors.Is(statErr, os.ErrNotExist) {
			continue
		}
		if statErr != nil {
			err = errors.Join(err, statErr)
			continue
		}
		if !fi.IsDir() {
			continue
		}
		parents = append(parents, dir)
		under, rmErr := removeCgroupTree(dir)
		leaves = append(leaves, under...)
		err = errors.Join(err, rmErr)
	}
	for _, dir := range parents {
		if _, statErr := os.Lstat(dir); !errors.Is(statErr, os.ErrNotExist) {
			err = errors.Join(err, fmt.Errorf("cgroup parent %s is still there after its removal", dir))
		}
	}
	return parents, leaves, err
}

// removeCgroupTree removes the cgroup dir and every cgroup under it,
// deepest first, and returns those under it.
func removeCgroupTree(dir string) (under []string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue // a cgroup's interface files
		}
		sub := filepath.Join(dir, e.Name())
		u, err := removeCgroupTree(sub)
		under = append(append(under, sub), u...)
		if err != nil {
			return under, err
		}
	}
	return under, rmdirCgroup(dir)
}

// rmdirCgroup removes the cgroup dir. While processes are still in it
// (EBUSY: those of a launch that was killed take a moment to exit), it
// kills them (see killCgroup) and tries again, for up to
// cgroupRemoveTimeout.
func rmdirCgroup(dir string) error {
	deadline := time.Now().Add(cgroupRemoveTimeout)
	for {
		err := unix.Rmdir(dir)
		switch {
		case err == nil, err == unix.ENOENT:
			return nil
		case err != unix.EBUSY || time.Now().After(deadline):
			return &os.PathError{Op: "rmdir", Path: dir, Err: err}
		}
		killCgroup(dir)
		time.Sleep(20 * time.Millisecond)
	}
}

// cgroupRemoveTimeout is how long rmdirCgroup waits for a cgroup to empty.
const cgroupRemoveTimeout = 5 * time.Second

// killCgroup sends SIGKILL to every process in the cgroup dir: through
// cgroup.kill where the kernel has one (cgroup v2, Linux 5.14), else to
// each process listed in cgroup.procs. Only call it on a cgroup that
// cellbench's launches made.
func killCgroup(dir string) {
	if f, err := os.OpenFile(filepath.Join(dir, "cgroup.kill"), os.O_WRONLY, 0); err == nil {
		_, err = f.WriteString("1")
		f.Close()
		if err == nil {
			return
		}
	}
	procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(procs)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
}
