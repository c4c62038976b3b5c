package plan

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Phases of a sandbox's setup. Each op may appear only within its window
// of phases, and the steps of a plan must visit phases in order; Check
// enforces this, so the order of setup is a checked rule and not only a
// convention of the compiler.
const (
	phaseHost      = iota // the sandbox's cgroup, made before init exists
	phaseStart            // clone, id maps, the pre-exec part of init
	phasePrivate          // make "/" private before any mount is made
	phaseStage            // staging tmpfs and the first pivot_root
	phaseMounts           // the new root and the profile's mounts
	phasePivot            // detach the host's root, pivot into the new one
	phaseReadOnly         // read-only remount of the root
	phaseUTS              // hostname and domainname
	phaseNet              // loopback and in-namespace network
	phaseProcess          // umask, dumpable, subreaper
	phasePrivilege        // capabilities and no_new_privs
	phaseFDs              // close inherited descriptors
	phaseLandlock         // landlock, on the thread that forks the command
	phaseSeccomp          // seccomp, last in init
	phaseSession          // setsid in the command
	phaseCreds            // setgroups, setgid, setuid, ambient capabilities in the command
	phaseCwd              // chdir in the command
	phaseRearm            // parent-death signal again after the uid change
	phaseExec             // execve
)

// window returns the first and last phase in which the step may run.
func (s *Step) window() (first, last int) {
	switch s.Op {
	case OpCgroupMkdir, OpCgroupWrite, OpIDMapUserns, OpRequire, OpNetLease, OpBridge, OpIDLease:
		return phaseHost, phaseHost
	case OpNft:
		if s.Side == Parent {
			return phaseHost, phaseHost
		}
		return phaseNet, phaseNet
	case OpVeth, OpUserNet, OpUserNetPort:
		return phaseStart, phaseStart
	case OpAddrAdd, OpRouteAdd:
		return phaseNet, phaseNet
	case OpEgressProxy:
		// In the namespace, with loopback up.
		return phaseNet, phaseNet
	case OpCgroupKill, OpCgroupRemove, OpNftDelete, OpLeaseRelease, OpUserNetStop, OpIDRelease:
		return -1, -1 // cleanup only
	case OpAmbientCaps:
		if s.Side == Command {
			return phaseCreds, phaseCreds
		}
		return phaseStart, phaseStart
	case OpSetsid, OpSetctty:
		return phaseSession, phaseSession
	case OpClone, OpWriteIDMap, OpNewIDMap, OpUnshare, OpInitIDs, OpExecInit, OpCgroupJoin:
		return phaseStart, phaseStart
	case OpPdeathsig:
		if s.Side == Command {
			return phaseRearm, phaseRearm
		}
		return phaseStart, phaseStart
	case OpMount:
		return phasePrivate, phaseStage
	case OpChdir:
		if s.Side == Command {
			return phaseCwd, phaseCwd
		}
		return phaseStage, phasePivot
	case OpMkdir:
		return phaseStage, phaseMounts
	case OpPivotRoot:
		return phaseStage, phasePivot
	case OpUmount:
		return phasePivot, phasePivot
	case OpMountFS, OpBind, OpAttachTree, OpWriteFile, OpSymlink:
		return phaseMounts, phaseMounts
	case OpSetattr:
		return phaseReadOnly, phaseReadOnly
	case OpSethostname, OpSetdomainname:
		return phaseUTS, phaseUTS
	case OpLinkUp:
		return phaseNet, phaseNet
	case OpSetDumpable, OpSubreaper, OpUmask, OpRlimit,
		OpSessionKeyring:
		return phaseProcess, phaseProcess
	case OpConsole:
		// After the devpts of the new root is mounted and the host's
		// root is gone, before the capabilities (fchown) go.
		return phaseProcess, phaseProcess
	case OpOOMScoreAdj:
		// While the host's /proc is still reachable.
		return phasePrivate, phaseStage
	case OpLandlock:
		return phaseLandlock, phaseLandlock
	case OpSeccomp:
		return phaseSeccomp, phaseSeccomp
	case OpCapBSetDrop, OpCapInheritable, OpNoNewPrivs:
		return phasePrivilege, phasePrivilege
	case OpCloseFDs:
		switch s.Side {
		case Parent:
			return phaseHost, phaseHost
		case Init:
			return phaseFDs, phaseFDs
		case Command:
		}
	case OpSetgroups, OpSetgid, OpSetuid:
		return phaseCreds, phaseCreds
	case OpExec:
		return phaseExec, phaseExec
	case OpInvalid, opCount:
	}
	return -1, -1
}

// side returns the side that may run op.
func (o Op) side() (Side, bool) {
	switch o {
	case OpClone, OpWriteIDMap, OpNewIDMap, OpIDMapUserns, OpCgroupMkdir, OpCgroupWrite, OpCgroupJoin, OpCgroupKill, OpCgroupRemove,
		OpRequire, OpNetLease, OpBridge, OpVeth, OpUserNet, OpUserNetPort, OpNftDelete, OpLeaseRelease, OpUserNetStop,
		OpIDLease, OpIDRelease:
		return Parent, true
	case OpUnshare, OpInitIDs, OpExecInit, OpMount, OpMkdir, OpPivotRoot, OpUmount, OpMountFS,
		OpBind, OpAttachTree, OpWriteFile, OpSymlink, OpSetattr, OpSethostname, OpSetdomainname,
		OpLinkUp, OpAddrAdd, OpRouteAdd, OpSetDumpable, OpSubreaper, OpUmask, OpOOMScoreAdj, OpRlimit, OpLandlock, OpSeccomp,
		OpSessionKeyring,
		OpCapBSetDrop, OpCapInheritable, OpNoNewPrivs, OpConsole, OpEgressProxy:
		return Init, true
	case OpSetsid, OpSetctty, OpSetgroups, OpSetgid, OpSetuid, OpExec:
		return Command, true
	case OpPdeathsig, OpChdir, OpAmbientCaps:
		return 0, false // init and command both use these
	case OpCloseFDs:
		return 0, false // cell before the clone, init before the command
	case OpNft:
		return 0, false // the parent on the host, init in the sandbox
	case OpInvalid, opCount:
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
	if clone == n || p.Steps[clone].Op != OpClone {
		return fmt.Errorf("step %d is %s; a plan starts with clone, after the cgroup steps", clone+1, p.Steps[min(clone, n-1)].Op)
	}
	for i, s := range p.Cleanup {
		if f, _ := s.window(); s.Side != Parent || f != -1 || s.Op == OpInvalid || s.Op >= opCount {
			return fmt.Errorf("cleanup step %d is %s in %s; cleanup is the parent's cgroup, network and lease teardown", i+1, s.Op, s.Side)
		}
	}
	if p.Steps[n-1].Op != OpExec {
		return fmt.Errorf("step %d is %s; a plan ends with exec", n, p.Steps[n-1].Op)
	}
	phase, side, execInit, execInits := phaseHost, Parent, false, 0
	leased := false
	for i := range p.Steps {
		s := &p.Steps[i]
		if s.Op == OpIDLease {
			leased = true
		} else if !leased && s.Side == Parent && s.usesLeasedIDs() {
			return fmt.Errorf("step %d (%s) writes the leased IDs {ids}, and no id-lease step comes before it", i+1, s.Op)
		}
		first, last := s.window()
		if first < 0 {
			return fmt.Errorf("step %d: invalid op %s", i+1, s.Op)
		}
		if want, ok := s.Op.side(); ok && s.Side != want {
			return fmt.Errorf("step %d (%s) runs in %s; it belongs in %s", i+1, s.Op, s.Side, want)
		}
		if i > clone && s.Op == OpClone || s.Op == OpExec && i != n-1 {
			return fmt.Errorf("step %d: a plan has one %s", i+1, s.Op)
		}
		if s.Op == OpExecInit {
			if execInits++; execInits > 2 {
				return fmt.Errorf("step %d: a plan has at most two exec-init steps (the second after the ID map helpers)", i+1)
			}
			execInit = true
		} else if execInit && s.Side == Parent && s.Op != OpCgroupJoin && s.Op != OpNewIDMap && s.Op != OpWriteIDMap &&
			s.Op != OpVeth && s.Op != OpUserNet && s.Op != OpUserNetPort {
			return fmt.Errorf("step %d (%s): parent steps must come before exec-init", i+1, s.Op)
		} else if !execInit && s.Side != Parent && s.Op != OpUnshare && s.Op != OpPdeathsig && s.Op != OpAmbientCaps && s.Op != OpInitIDs {
			return fmt.Errorf("step %d (%s) needs init to have exec'd", i+1, s.Op)
		}
		if s.Side < side && s.Side != Parent && s.Op != OpExecInit && s.Op != OpPdeathsig {
			return fmt.Errorf("step %d (%s) runs in %s after %s steps", i+1, s.Op, s.Side, side)
		}
		if s.Side > side {
			side = s.Side
		}
		if last < phase {
			return fmt.Errorf("step %d (%s) comes too late: it must come before step %d's phase", i+1, s.Op, i)
		}
		phase = max(phase, first)
	}
	if !execInit {
		return fmt.Errorf("plan has no exec-init step")
	}
	return p.checkConsole()
}

// checkConsole verifies that a controlling terminal is the pty that a
// console step made: TIOCSCTTY on a descriptor 0 that is the caller's
// would give the command the caller's terminal.
func (p *Plan) checkConsole() error {
	console, ctty := 0, 0
	for i := range p.Steps {
		switch p.Steps[i].Op {
		case OpConsole:
			if console > 0 {
				return fmt.Errorf("step %d: a plan has one console", i+1)
			}
			console = i + 1
		case OpSetctty:
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
	if strings.Contains(s.Data, "{ids") {
		return true
	}
	for _, a := range s.Args {
		if strings.Contains(a, "{ids") {
			return true
		}
	}
	return false
}

// Encode returns the plan as JSON, the form in which it reaches init.
func (p *Plan) Encode() ([]byte, error) { return json.Marshal(p) }

// Decode parses a plan encoded by Encode and checks it.
func Decode(b []byte) (*Plan, error) {
	var p Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("decode plan: %w", err)
	}
	if err := p.Check(); err != nil {
		return nil, fmt.Errorf("decode plan: %w", err)
	}
	return &p, nil
}
