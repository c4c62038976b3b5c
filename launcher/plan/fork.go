package plan

// Two parts of a plan are not run by cell's code step by step but
// declared, then applied by Go's fork (syscall.forkAndExecInChild) in a
// fixed order of its own: the clone of init up to init's execve (the
// clone spec: Clone with the init steps before ExecInit, recorded in the
// SysProcAttr of init's exec.Cmd), and the command's fork up to its
// execve (the exec spec: the command's steps, recorded in init's
// ProcAttr). The plan prints them in the order in which the fork applies
// them, and Check derives their windows from forkOrder below, so that
// the printed order and the real one cannot drift apart by hand.

// forkStage is one thing Go's fork does in the new process, in the order
// it does them.
type forkStage int8

// The stages of syscall.forkAndExecInChild, in its order (after it waits
// for the ID maps the parent writes): setsid; setgroups, setresgid,
// setresuid; the ambient capabilities; chdir; the parent-death signal;
// the descriptors (nothing of a plan's: cell places them); TIOCSCTTY;
// execve.
const (
	forkSetsid forkStage = iota
	forkCreds
	forkAmbient
	forkChdir
	forkPdeathsig
	forkCtty
	forkExec
	forkStages
)

// forked is an op that a spec declares, the stage at which the fork
// applies it, and the specs that may declare it.
type forked struct {
	stage forkStage
	// clone and exec say whether the clone spec (side Init, before
	// ExecInit) and the exec spec (side Command) may declare it.
	clone, exec bool
}

// forkOrder lists every op that a spec declares. An op missing here runs
// as a step of cell's code, in its side's step list.
var forkOrder = map[Op]forked{
	OpSetsid:      {forkSetsid, true, true},
	OpInitIDs:     {forkCreds, true, false},
	OpSetgroups:   {forkCreds, false, true},
	OpSetgid:      {forkCreds, false, true},
	OpSetuid:      {forkCreds, false, true},
	OpAmbientCaps: {forkAmbient, true, true},
	OpChdir:       {forkChdir, false, true},
	OpPdeathsig:   {forkPdeathsig, true, true},
	OpSetctty:     {forkCtty, false, true},
	OpExecInit:    {forkExec, true, false},
	OpExec:        {forkExec, false, true},
}

// forkSpans returns the windows of op o on the sides of the specs that
// declare it: one phase each, the phase of its stage in the clone of init
// (phaseCloneSpec on) and in the command's fork (phaseExecSpec on).
// own are the windows of the sides that run o as a step of their own,
// which it keeps: init's own window for an op of the clone spec is for
// the step after init's second exec (the ID map helpers' way), which
// init's code runs, and must reach back to the stage's phase.
func forkSpans(o Op, own [sideCount]span) [sideCount]span {
	f := forkOrder[o]
	if f.clone && !own[Init].ok {
		own[Init] = in(phaseCloneSpec+int(f.stage), phaseCloneSpec+int(f.stage))
	}
	if f.exec {
		own[Command] = in(phaseExecSpec+int(f.stage), phaseExecSpec+int(f.stage))
	}
	return own
}

// clonePhase is the phase of stage st in the clone spec.
func clonePhase(st forkStage) int { return phaseCloneSpec + int(st) }

// inCloneSpec reports whether a step of side s and op o belongs to the
// clone spec: the part of init that Go's fork applies before init's
// execve, not init's own code.
func inCloneSpec(s Side, o Op) bool {
	f, ok := forkOrder[o]
	return ok && f.clone && s == Init
}
