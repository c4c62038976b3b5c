package plan

import (
	"fmt"
	"slices"
	"strings"
)

// Phases of a sandbox's setup. Each op may appear only within its window
// of phases, and the steps of a plan must visit phases in order; Check
// enforces this, so the order of setup is a checked rule and not only a
// convention of the compiler.
//
// The steps that Go's fork applies rather than cell's own code, init's
// before its exec (the clone spec) and the command's (the exec spec),
// have one phase per stage of the fork (fork.go): their windows come from
// forkOrder, so what the plan prints is the order in which they happen.
const (
	phaseHost      = iota                       // the sandbox's cgroup, made before init exists
	phaseStart                                  // clone, id maps: the parent's part of init's start
	phaseCloneSpec                              // the first of forkStages phases: init's clone spec, to its exec
	phasePrivate   = iota + int(forkStages) - 1 // make "/" private before any mount is made
	phaseStage     = iota + int(forkStages) - 1 // staging tmpfs and the first pivot_root
	phaseMounts    = iota + int(forkStages) - 1 // the new root and the profile's mounts
	phasePivot     = iota + int(forkStages) - 1 // detach the host's root, pivot into the new one
	phaseReadOnly  = iota + int(forkStages) - 1 // read-only remount of the root
	phaseUTS       = iota + int(forkStages) - 1 // hostname and domainname
	phaseNet       = iota + int(forkStages) - 1 // loopback and in-namespace network
	phaseProcess   = iota + int(forkStages) - 1 // umask, dumpable, subreaper
	phasePrivilege = iota + int(forkStages) - 1 // capabilities and no_new_privs
	phaseFDs       = iota + int(forkStages) - 1 // close inherited descriptors
	phaseLandlock  = iota + int(forkStages) - 1 // landlock, on the thread that forks the command
	phaseSeccomp   = iota + int(forkStages) - 1 // seccomp, last in init
	phaseExecSpec  = iota + int(forkStages) - 1 // the first of forkStages phases: the command's exec spec
)

// window returns the first and last phase in which the step may run, -1
// for a step that may not run on its side or runs only in cleanup.
func (s *Step) window() (first, last int) {
	o := s.Op()
	if o == OpInvalid || o >= opCount || ops[o].cleanup || s.Side >= sideCount {
		return -1, -1
	}
	sp := ops[o].on[s.Side]
	if !sp.ok {
		return -1, -1
	}
	return int(sp.first), int(sp.last)
}

// side returns the one side that may run o, and false for an op that
// more than one side runs.
func (o Op) side() (Side, bool) {
	if sides := o.Sides(); len(sides) == 1 {
		return sides[0], true
	}
	return 0, false
}

// Check verifies the rules every plan obeys: it starts with a clone and an
// exec of init, ends with one execve of the command, every op runs on its
// side and the steps follow the order of phases.
func (p *Plan) Check() error {
	n := len(p.Steps)
	if n < 3 {
		return fmt.Errorf("plan has %d steps; it needs at least clone, exec-init and exec", n)
	}
	clone := 0
	for clone < n && p.Steps[clone].Side == Parent {
		if f, _ := p.Steps[clone].window(); f != phaseHost {
			break
		}
		clone++
	}
	if clone == n || p.Steps[clone].Op() != OpClone {
		return fmt.Errorf("step %d is %s; a plan starts with clone, after the cgroup steps", clone+1, p.Steps[min(clone, n-1)].Op())
	}
	for i := range p.Cleanup {
		s := &p.Cleanup[i]
		if s.Side != Parent || !s.Op().Cleanup() {
			return fmt.Errorf("cleanup step %d is %s in %s; cleanup is the parent's cgroup, network, lease and host-mount teardown", i+1, s.Op(), s.Side)
		}
		// Cleanup unmounts only under a root directory that the plan
		// itself binds: never elsewhere on the host.
		if u, ok := s.Do.(*UmountRootfs); ok && !slices.ContainsFunc(p.Steps, func(st Step) bool {
			b, ok := st.Do.(*BindRootfs)
			return ok && b.Path == u.Root
		}) {
			return fmt.Errorf("cleanup step %d (%s) unmounts under %s, which no bind-rootfs step of the plan binds", i+1, s.Op(), u.Root)
		}
	}
	if p.Steps[n-1].Op() != OpExec {
		return fmt.Errorf("step %d is %s; a plan ends with exec", n, p.Steps[n-1].Op())
	}
	phase, side, execInit, execInits := phaseHost, Parent, false, 0
	leased := false
	for i := range p.Steps {
		s := &p.Steps[i]
		op := s.Op()
		if op == OpIDLease {
			leased = true
		} else if !leased && s.Side == Parent && s.usesLeasedIDs() {
			return fmt.Errorf("step %d (%s) writes the leased IDs {ids}, and no id-lease step comes before it", i+1, op)
		}
		if m, ok := s.Do.(*MountFS); ok {
			for _, o := range m.Options {
				if k, _, _ := strings.Cut(o, "="); k == "source" {
					// Source is the one place a mount's source is
					// given; a second among the options would make
					// the printed plan and fsconfig disagree on it.
					return fmt.Errorf("step %d (%s): option %q: the mount's source is its source field", i+1, op, o)
				}
			}
		}
		if want, ok := op.side(); ok && s.Side != want {
			return fmt.Errorf("step %d (%s) runs in %s; it belongs in %s", i+1, op, s.Side, want)
		}
		first, last := s.window()
		if first < 0 {
			return fmt.Errorf("step %d: invalid op %s in %s", i+1, op, s.Side)
		}
		if i > clone && op == OpClone || op == OpExec && i != n-1 {
			return fmt.Errorf("step %d: a plan has one %s", i+1, op)
		}
		if op == OpDenySetgroups && !execInit {
			return fmt.Errorf("step %d (%s) is the helpers' way: it comes after init's first exec", i+1, op)
		}
		if op == OpExecInit {
			if execInits++; execInits > 2 {
				return fmt.Errorf("step %d: a plan has at most two exec-init steps (the second after the ID map helpers)", i+1)
			}
			execInit = true
		} else if execInit && s.Side == Parent && op != OpCgroupJoin && op != OpNewIDMap && op != OpDenySetgroups &&
			op != OpVeth && op != OpUserNet && op != OpUserNetPort {
			return fmt.Errorf("step %d (%s): parent steps must come before exec-init", i+1, op)
		} else if !execInit && s.Side != Parent && !inCloneSpec(s.Side, op) {
			return fmt.Errorf("step %d (%s) needs init to have exec'd", i+1, op)
		}
		if s.Side < side && s.Side != Parent && op != OpExecInit && op != OpPdeathsig {
			return fmt.Errorf("step %d (%s) runs in %s after %s steps", i+1, op, s.Side, side)
		}
		if s.Side > side {
			side = s.Side
		}
		if last < phase {
			return fmt.Errorf("step %d (%s) comes too late: it must come before step %d's phase", i+1, op, i)
		}
		phase = max(phase, first)
	}
	if !execInit {
		return fmt.Errorf("plan has no exec-init step")
	}
	if err := p.checkHostRoot(); err != nil {
		return err
	}
	return p.checkConsole()
}

// checkHostRoot verifies the shape of a root directory on the host (a
// sandbox without a mount namespace of its own): its bind is undone by
// cleanup, and init chroots into it, never pivots (which would change
// the host's root); a chroot comes only with such a bind.
func (p *Plan) checkHostRoot() error {
	bind, chroot, pivot := 0, 0, 0
	for i := range p.Steps {
		switch a := p.Steps[i].Do.(type) {
		case *BindRootfs:
			if bind > 0 {
				return fmt.Errorf("step %d: a plan has one bind-rootfs", i+1)
			}
			bind = i + 1
			if !slices.ContainsFunc(p.Cleanup, func(s Step) bool {
				u, ok := s.Do.(*UmountRootfs)
				return ok && u.Root == a.Path && u.Target == "/"
			}) {
				return fmt.Errorf("step %d (bind-rootfs %s) has no umount-rootfs of %s in cleanup: it would stay mounted on the host", i+1, a.Path, a.Path)
			}
		case *Chroot:
			chroot = i + 1
		case *PivotRoot:
			pivot = i + 1
		}
	}
	switch {
	case bind > 0 && pivot > 0:
		return fmt.Errorf("step %d (pivot-root) in a plan whose root is a directory on the host (step %d): it would change the host's root", pivot, bind)
	case bind > 0 && chroot == 0:
		return fmt.Errorf("step %d (bind-rootfs) needs a chroot step into it", bind)
	case chroot > 0 && bind == 0:
		return fmt.Errorf("step %d (chroot) needs a bind-rootfs step: cell chroots only into a root directory it bound and undoes", chroot)
	}
	return nil
}

// checkConsole verifies that a controlling terminal is the pty that a
// console step made: TIOCSCTTY on a descriptor 0 that is the caller's
// would give the command the caller's terminal.
func (p *Plan) checkConsole() error {
	console, ctty := 0, 0
	for i := range p.Steps {
		switch p.Steps[i].Do.(type) {
		case *Console:
			if console > 0 {
				return fmt.Errorf("step %d: a plan has one console", i+1)
			}
			console = i + 1
		case *Setctty:
			ctty = i + 1
		}
	}
	switch {
	case ctty > 0 && console == 0:
		return fmt.Errorf("step %d (setctty) needs a console step: only the sandbox's own pty may become the command's terminal", ctty)
	case console > 0 && ctty == 0:
		return fmt.Errorf("step %d (console) needs a setctty step: the pty is the command's controlling terminal", console)
	}
	return nil
}

// usesLeasedIDs reports whether the step's maps name the IDs of a leased
// slot.
func (s *Step) usesLeasedIDs() bool {
	for _, m := range IDMaps(s.Do) {
		if strings.Contains(m, "{ids") {
			return true
		}
	}
	return false
}
