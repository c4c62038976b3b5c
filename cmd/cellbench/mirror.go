package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// nsFlags is a set of CLONE_NEW* bits.
type nsFlags uint64

// allNS is every namespace bit a plan can ask for.
const allNS = unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWNET |
	unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWCGROUP | unix.CLONE_NEWTIME

func (f nsFlags) has(bit int) bool { return f&nsFlags(bit) != 0 }

// String names the bits the way `cell plan` prints them.
func (f nsFlags) String() string {
	names := []struct {
		bit  int
		name string
	}{
		{unix.CLONE_NEWUSER, "CLONE_NEWUSER"}, {unix.CLONE_NEWNS, "CLONE_NEWNS"},
		{unix.CLONE_NEWPID, "CLONE_NEWPID"}, {unix.CLONE_NEWNET, "CLONE_NEWNET"},
		{unix.CLONE_NEWUTS, "CLONE_NEWUTS"}, {unix.CLONE_NEWIPC, "CLONE_NEWIPC"},
		{unix.CLONE_NEWCGROUP, "CLONE_NEWCGROUP"}, {unix.CLONE_NEWTIME, "CLONE_NEWTIME"},
	}
	var out []string
	for _, n := range names {
		if f.has(n.bit) {
			out = append(out, n.name)
		}
	}
	if len(out) == 0 {
		return "0"
	}
	return strings.Join(out, "|")
}

// planFacts is what cellbench reads out of the JSON of a plan.
type planFacts struct {
	// ns is the namespaces of the plan's clone and unshare steps.
	ns nsFlags
	// rootless is the plan's own word on whether it runs without root.
	rootless bool
	// ops counts the steps and cleanup steps of each op.
	ops map[string]int
}

// planOf runs `cell plan --json [--set ...] -- /bin/true` as l would run
// (in its directory, as its user, with its environment) and reads it.
func (r runner) planOf(ctx context.Context, cell string, l launcher) (planFacts, error) {
	args := []string{cell, "plan", "--json"}
	for _, s := range l.sets {
		args = append(args, "--set", s)
	}
	args = append(args, "--", "/bin/true")
	var stdout, stderr bytes.Buffer
	cmd := r.command(ctx, launcher{argv: args, as: l.as, dir: l.dir, env: l.env})
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return planFacts{}, fmt.Errorf("%s: %w: %s", launcher{argv: args}, err, strings.TrimSpace(stderr.String()))
	}
	return parsePlan(stdout.Bytes())
}

// parsePlan reads the facts cellbench needs out of the JSON of a plan.
func parsePlan(data []byte) (planFacts, error) {
	type step struct {
		Op   string `json:"op"`
		Args struct {
			Flags uint64 `json:"flags"`
		} `json:"args"`
	}
	var p struct {
		Rootless bool   `json:"rootless"`
		Steps    []step `json:"steps"`
		Cleanup  []step `json:"cleanup"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return planFacts{}, fmt.Errorf("decode cell plan: %w", err)
	}
	f := planFacts{rootless: p.Rootless, ops: make(map[string]int)}
	for _, s := range p.Steps {
		f.ops[s.Op]++
		switch s.Op {
		case "clone", "unshare":
			f.ns |= nsFlags(s.Args.Flags) & allNS
		}
	}
	for _, s := range p.Cleanup {
		f.ops[s.Op]++
	}
	if n := f.ops["clone"]; n != 1 {
		return planFacts{}, fmt.Errorf("cell plan has %d clone steps, want 1: has the plan format changed?", n)
	}
	return f, nil
}

// unshareArgs is the util-linux unshare command line that creates the
// namespaces ns and nothing else: root mapped to the caller (as cell's
// default ids do when run as root), a fork so that the command is PID 1
// of the new PID namespace, and a fresh /proc for it.
func unshareArgs(unshare string, ns nsFlags, argv ...string) []string {
	args := []string{unshare}
	if ns.has(unix.CLONE_NEWUSER) {
		args = append(args, "--user", "--map-root-user")
	}
	if ns.has(unix.CLONE_NEWNS) {
		args = append(args, "--mount")
	}
	if ns.has(unix.CLONE_NEWPID) {
		args = append(args, "--pid", "--fork")
	}
	for _, o := range []struct {
		bit  int
		flag string
	}{
		{unix.CLONE_NEWNET, "--net"}, {unix.CLONE_NEWUTS, "--uts"}, {unix.CLONE_NEWIPC, "--ipc"},
		{unix.CLONE_NEWCGROUP, "--cgroup"}, {unix.CLONE_NEWTIME, "--time"},
	} {
		if ns.has(o.bit) {
			args = append(args, o.flag)
		}
	}
	if ns.has(unix.CLONE_NEWNS) && ns.has(unix.CLONE_NEWPID) {
		args = append(args, "--mount-proc")
	}
	return append(args, argv...)
}

// etcFiles are the parts of /etc that the default profile binds.
var etcFiles = []string{
	"/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/hosts", "/etc/resolv.conf",
	"/etc/localtime", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
	"/etc/alternatives", "/etc/ssl/certs", "/etc/ca-certificates", "/etc/os-release",
	"/etc/terminfo", "/etc/profile",
}

// bwrapArgs is the bubblewrap command line equivalent to cell's default
// profile (profiles/default.yaml) run from dir: the namespaces of ns
// (bubblewrap always makes a mount namespace and has no option for a time
// namespace), the host's /usr, /bin, /sbin, /lib, /lib64 and the same /etc
// files as the profile read-only, a new /proc, a minimal /dev, a private
// /tmp and dir writable.
func bwrapArgs(bwrap string, ns nsFlags, dir string, argv ...string) []string {
	args := []string{bwrap}
	for _, o := range []struct {
		bit  int
		flag string
	}{
		{unix.CLONE_NEWUSER, "--unshare-user"}, {unix.CLONE_NEWPID, "--unshare-pid"},
		{unix.CLONE_NEWNET, "--unshare-net"}, {unix.CLONE_NEWUTS, "--unshare-uts"},
		{unix.CLONE_NEWIPC, "--unshare-ipc"}, {unix.CLONE_NEWCGROUP, "--unshare-cgroup"},
	} {
		if ns.has(o.bit) {
			args = append(args, o.flag)
		}
	}
	args = append(args,
		"--ro-bind", "/usr", "/usr",
		"--ro-bind-try", "/bin", "/bin",
		"--ro-bind-try", "/sbin", "/sbin",
		"--ro-bind-try", "/lib", "/lib",
		"--ro-bind-try", "/lib64", "/lib64",
	)
	for _, f := range etcFiles {
		args = append(args, "--ro-bind-try", f, f)
	}
	args = append(args,
		"--proc", "/proc",
		"--dev", "/dev",
		"--tmpfs", "/tmp",
		"--bind", dir, dir,
	)
	if ns.has(unix.CLONE_NEWUTS) {
		args = append(args, "--hostname", "cell")
	}
	args = append(args, "--chdir", dir, "--clearenv", "--die-with-parent")
	return append(args, argv...)
}

// Indexes of the launchers returned by launchers; crunIdx only where
// crun runs.
const (
	cellIdx = iota
	unshareIdx
	bwrapIdx
	trueIdx
	crunIdx
)

// launchers returns the commands that are compared, each running argv,
// in the order of the *Idx constants: the fork+exec row runs argv
// itself, and crun's row is there only if crun is not nil.
func launchers(t tools, crun *crunSetup, ns nsFlags, dir string, argv ...string) ([]launcher, error) {
	ls := []launcher{
		cellIdx:    {name: "cell run", argv: append([]string{t.cell, "run", "--"}, argv...)},
		unshareIdx: {name: "unshare (kernel floor)", argv: unshareArgs(t.unshare, ns, argv...)},
		bwrapIdx:   {name: "bwrap", argv: bwrapArgs(t.bwrap, ns, dir, argv...)},
		trueIdx:    {name: argv[0] + " (fork+exec)", argv: argv},
	}
	if crun == nil {
		return ls, nil
	}
	l, err := crun.launcher(filepath.Base(argv[0]), ns, dir, argv...)
	if err != nil {
		return nil, err
	}
	return append(ls, l), nil
}
