package plan

import (
	"fmt"
	"strconv"
)

// Op names the operation of a step: the type of its Action. It is what
// the printed and the JSON plan call the step, and the key of the one
// table (ops) that says, for each operation, its name, the sides that may
// run it, the phases in which each may, and how to make an empty Action of
// its type for the decoder.
type Op uint8

// The operations, one per Action type (the type's comment gives the
// syscalls it makes).
const (
	OpInvalid        Op = iota
	OpCgroupMkdir       // *CgroupMkdir
	OpCgroupWrite       // *CgroupWrite
	OpIDMapUserns       // *IDMappedTree
	OpClone             // *Clone
	OpCgroupJoin        // *CgroupJoin
	OpWriteIDMap        // *WriteIDMap
	OpNewIDMap          // *NewIDMap
	OpPdeathsig         // *Pdeathsig
	OpInitIDs           // *InitIDs
	OpAmbientCaps       // *AmbientCaps
	OpExecInit          // *ExecInit
	OpMount             // *Mount
	OpChdir             // *Chdir
	OpMkdir             // *Mkdir
	OpPivotRoot         // *PivotRoot
	OpUmount            // *Umount
	OpMountFS           // *MountFS
	OpBind              // *Bind
	OpAttachTree        // *AttachTree
	OpWriteFile         // *WriteFile
	OpSymlink           // *Symlink
	OpSetattr           // *Setattr
	OpSethostname       // *Sethostname
	OpSetdomainname     // *Setdomainname
	OpLinkUp            // *LinkUp
	OpSetDumpable       // *SetDumpable
	OpSubreaper         // *Subreaper
	OpSessionKeyring    // *SessionKeyring
	OpUmask             // *Umask
	OpOOMScoreAdj       // *OOMScoreAdj
	OpRlimit            // *SetRlimit
	OpCapBSetDrop       // *CapBSetDrop
	OpCapInheritable    // *CapInheritable
	OpNoNewPrivs        // *NoNewPrivs
	OpLandlock          // *Landlock
	OpSeccomp           // *Seccomp
	OpCloseFDs          // *CloseFDs
	OpSetsid            // *Setsid
	OpSetctty           // *Setctty
	OpSetgroups         // *Setgroups
	OpSetgid            // *Setgid
	OpSetuid            // *Setuid
	OpCgroupKill        // *CgroupKill
	OpCgroupRemove      // *CgroupRemove
	OpExec              // *Exec
	OpRequire           // *Require
	OpNetLease          // *NetLease
	OpBridge            // *Bridge
	OpNft               // *Nft
	OpVeth              // *Veth
	OpUserNet           // *UserNet
	OpUserNetPort       // *UserNetPort
	OpAddrAdd           // *AddrAdd
	OpRouteAdd          // *RouteAdd
	OpNftDelete         // *NftDelete
	OpLeaseRelease      // *LeaseRelease
	OpUserNetStop       // *UserNetStop
	OpIDLease           // *IDLease
	OpIDRelease         // *IDRelease
	OpConsole           // *Console
	OpDenySetgroups     // *DenySetgroups
	OpEgressProxy       // *EgressProxy
	OpPropagation       // *Propagation
	OpSysctl            // *Sysctl
	OpMknod             // *Mknod
	OpSetns             // *Setns
	OpCgroupDevices     // *CgroupDevices
	OpBindRootfs        // *BindRootfs
	OpChroot            // *Chroot
	OpUmountRootfs      // *UmountRootfs
	opCount
)

// span is the window of phases in which one side may run an op.
type span struct {
	ok          bool
	first, last int8
}

func in(first, last int) span { return span{true, int8(first), int8(last)} }

// opInfo is one row of the op table.
type opInfo struct {
	name string
	// make returns an empty Action of the op's type, for the decoder.
	make func() Action
	// on holds, by Side, the phases in which that side may run the op;
	// a side whose span is not ok may not run it.
	on [sideCount]span
	// cleanup ops run only in the parent's cleanup list, after the
	// sandbox.
	cleanup bool
}

// aroundInitExec is the span of the parent's steps that may come before
// or after init's exec (cgroup joins, the ID map helpers, the network
// that needs init's pid): up to the clone spec's last phase.
var aroundInitExec = parent(phaseStart, clonePhase(forkExec))

// noSpans is an op that no side runs as a step of its own.
var noSpans [sideCount]span

// parent and initOnly are the spans of an op that one side runs.
func parent(first, last int) [sideCount]span   { return [sideCount]span{Parent: in(first, last)} }
func initOnly(first, last int) [sideCount]span { return [sideCount]span{Init: in(first, last)} }

// ops is the op table: the printer, the codec and Check all read it, and
// TestOpTable checks that every op has a row whose Action is of that op.
var ops = [opCount]opInfo{
	OpInvalid:        {name: "invalid"},
	OpCgroupMkdir:    {name: "cgroup-mkdir", make: func() Action { return new(CgroupMkdir) }, on: parent(phaseHost, phaseHost)},
	OpCgroupWrite:    {name: "cgroup-write", make: func() Action { return new(CgroupWrite) }, on: parent(phaseHost, phaseHost)},
	OpIDMapUserns:    {name: "idmapped-tree", make: func() Action { return new(IDMappedTree) }, on: parent(phaseHost, phaseHost)},
	OpClone:          {name: "clone", make: func() Action { return new(Clone) }, on: parent(phaseStart, phaseStart)},
	OpCgroupJoin:     {name: "cgroup-join", make: func() Action { return new(CgroupJoin) }, on: aroundInitExec},
	OpWriteIDMap:     {name: "write-id-map", make: func() Action { return new(WriteIDMap) }, on: parent(phaseStart, phaseStart)},
	OpNewIDMap:       {name: "new-id-map", make: func() Action { return new(NewIDMap) }, on: aroundInitExec},
	OpPdeathsig:      {name: "pdeathsig", make: func() Action { return new(Pdeathsig) }, on: forkSpans(OpPdeathsig, initOnly(clonePhase(forkPdeathsig), clonePhase(forkExec)))},
	OpInitIDs:        {name: "init-ids", make: func() Action { return new(InitIDs) }, on: forkSpans(OpInitIDs, noSpans)},
	OpAmbientCaps:    {name: "ambient-caps", make: func() Action { return new(AmbientCaps) }, on: forkSpans(OpAmbientCaps, noSpans)},
	OpExecInit:       {name: "exec-init", make: func() Action { return new(ExecInit) }, on: forkSpans(OpExecInit, noSpans)},
	OpMount:          {name: "mount", make: func() Action { return new(Mount) }, on: initOnly(phasePrivate, phaseStage)},
	OpChdir:          {name: "chdir", make: func() Action { return new(Chdir) }, on: forkSpans(OpChdir, initOnly(phaseStage, phasePivot))},
	OpMkdir:          {name: "mkdir", make: func() Action { return new(Mkdir) }, on: initOnly(phaseStage, phaseMounts)},
	OpPivotRoot:      {name: "pivot-root", make: func() Action { return new(PivotRoot) }, on: initOnly(phaseStage, phasePivot)},
	OpUmount:         {name: "umount", make: func() Action { return new(Umount) }, on: initOnly(phasePivot, phasePivot)},
	OpMountFS:        {name: "mount-fs", make: func() Action { return new(MountFS) }, on: initOnly(phaseMounts, phaseMounts)},
	OpBind:           {name: "bind", make: func() Action { return new(Bind) }, on: initOnly(phaseMounts, phaseMounts)},
	OpAttachTree:     {name: "attach-tree", make: func() Action { return new(AttachTree) }, on: initOnly(phaseMounts, phaseMounts)},
	OpWriteFile:      {name: "write-file", make: func() Action { return new(WriteFile) }, on: initOnly(phaseMounts, phaseMounts)},
	OpSymlink:        {name: "symlink", make: func() Action { return new(Symlink) }, on: initOnly(phaseMounts, phaseMounts)},
	OpSetattr:        {name: "setattr", make: func() Action { return new(Setattr) }, on: initOnly(phaseReadOnly, phaseReadOnly)},
	OpSethostname:    {name: "sethostname", make: func() Action { return new(Sethostname) }, on: initOnly(phaseUTS, phaseUTS)},
	OpSetdomainname:  {name: "setdomainname", make: func() Action { return new(Setdomainname) }, on: initOnly(phaseUTS, phaseUTS)},
	OpLinkUp:         {name: "link-up", make: func() Action { return new(LinkUp) }, on: initOnly(phaseNet, phaseNet)},
	OpSetDumpable:    {name: "set-dumpable", make: func() Action { return new(SetDumpable) }, on: initOnly(phaseProcess, phaseProcess)},
	OpSubreaper:      {name: "subreaper", make: func() Action { return new(Subreaper) }, on: initOnly(phaseProcess, phaseProcess)},
	OpSessionKeyring: {name: "session-keyring", make: func() Action { return new(SessionKeyring) }, on: initOnly(phaseProcess, phaseProcess)},
	OpUmask:          {name: "umask", make: func() Action { return new(Umask) }, on: initOnly(phaseProcess, phaseProcess)},
	// While the host's /proc is still reachable.
	OpOOMScoreAdj:    {name: "oom-score-adj", make: func() Action { return new(OOMScoreAdj) }, on: initOnly(phasePrivate, phaseStage)},
	OpRlimit:         {name: "rlimit", make: func() Action { return new(SetRlimit) }, on: initOnly(phaseProcess, phaseProcess)},
	OpCapBSetDrop:    {name: "capbset-drop", make: func() Action { return new(CapBSetDrop) }, on: initOnly(phasePrivilege, phasePrivilege)},
	OpCapInheritable: {name: "cap-inheritable", make: func() Action { return new(CapInheritable) }, on: initOnly(phasePrivilege, phasePrivilege)},
	OpNoNewPrivs:     {name: "no-new-privs", make: func() Action { return new(NoNewPrivs) }, on: initOnly(phasePrivilege, phasePrivilege)},
	OpLandlock:       {name: "landlock", make: func() Action { return new(Landlock) }, on: initOnly(phaseLandlock, phaseLandlock)},
	OpSeccomp:        {name: "seccomp", make: func() Action { return new(Seccomp) }, on: initOnly(phaseSeccomp, phaseSeccomp)},
	// cell before the clone, init before it forks the command.
	OpCloseFDs: {name: "close-fds", make: func() Action { return new(CloseFDs) }, on: [sideCount]span{Parent: in(phaseHost, phaseHost), Init: in(phaseFDs, phaseFDs)}},
	OpSetsid:   {name: "setsid", make: func() Action { return new(Setsid) }, on: forkSpans(OpSetsid, noSpans)},
	// Go's fork sets the controlling terminal after it has put the
	// command's descriptors in place, just before execve.
	OpSetctty:      {name: "setctty", make: func() Action { return new(Setctty) }, on: forkSpans(OpSetctty, noSpans)},
	OpSetgroups:    {name: "setgroups", make: func() Action { return new(Setgroups) }, on: forkSpans(OpSetgroups, noSpans)},
	OpSetgid:       {name: "setgid", make: func() Action { return new(Setgid) }, on: forkSpans(OpSetgid, noSpans)},
	OpSetuid:       {name: "setuid", make: func() Action { return new(Setuid) }, on: forkSpans(OpSetuid, noSpans)},
	OpCgroupKill:   {name: "cgroup-kill", make: func() Action { return new(CgroupKill) }, cleanup: true},
	OpCgroupRemove: {name: "cgroup-remove", make: func() Action { return new(CgroupRemove) }, cleanup: true},
	OpExec:         {name: "exec", make: func() Action { return new(Exec) }, on: forkSpans(OpExec, noSpans)},
	OpRequire:      {name: "require", make: func() Action { return new(Require) }, on: parent(phaseHost, phaseHost)},
	OpNetLease:     {name: "net-lease", make: func() Action { return new(NetLease) }, on: parent(phaseHost, phaseHost)},
	OpBridge:       {name: "bridge", make: func() Action { return new(Bridge) }, on: parent(phaseHost, phaseHost)},
	// The parent on the host, init in the sandbox's network namespace.
	OpNft:          {name: "nft", make: func() Action { return new(Nft) }, on: [sideCount]span{Parent: in(phaseHost, phaseHost), Init: in(phaseNet, phaseNet)}},
	OpVeth:         {name: "veth", make: func() Action { return new(Veth) }, on: aroundInitExec},
	OpUserNet:      {name: "user-net", make: func() Action { return new(UserNet) }, on: aroundInitExec},
	OpUserNetPort:  {name: "user-net-port", make: func() Action { return new(UserNetPort) }, on: aroundInitExec},
	OpAddrAdd:      {name: "addr-add", make: func() Action { return new(AddrAdd) }, on: initOnly(phaseNet, phaseNet)},
	OpRouteAdd:     {name: "route-add", make: func() Action { return new(RouteAdd) }, on: initOnly(phaseNet, phaseNet)},
	OpNftDelete:    {name: "nft-delete", make: func() Action { return new(NftDelete) }, cleanup: true},
	OpLeaseRelease: {name: "lease-release", make: func() Action { return new(LeaseRelease) }, cleanup: true},
	OpUserNetStop:  {name: "user-net-stop", make: func() Action { return new(UserNetStop) }, cleanup: true},
	OpIDLease:      {name: "id-lease", make: func() Action { return new(IDLease) }, on: parent(phaseHost, phaseHost)},
	OpIDRelease:    {name: "id-release", make: func() Action { return new(IDRelease) }, cleanup: true},
	// After the devpts of the new root is mounted and the host's root is
	// gone, before the capabilities (fchown) go.
	OpConsole: {name: "console", make: func() Action { return new(Console) }, on: initOnly(phaseProcess, phaseProcess)},
	// After init's first exec, before the helpers write its maps.
	OpDenySetgroups: {name: "deny-setgroups", make: func() Action { return new(DenySetgroups) }, on: aroundInitExec},
	// In the sandbox's network namespace, with its loopback up.
	OpEgressProxy: {name: "egress-proxy", make: func() Action { return new(EgressProxy) }, on: initOnly(phaseNet, phaseNet)},
	// Once "/" is the new root: pivot_root refuses a shared one.
	OpPropagation: {name: "propagation", make: func() Action { return new(Propagation) }, on: initOnly(phaseReadOnly, phaseReadOnly)},
	// In the sandbox's namespaces, through the host's /proc while it is
	// still reachable (the sandbox need not mount one).
	OpSysctl: {name: "sysctl", make: func() Action { return new(Sysctl) }, on: initOnly(phasePrivate, phaseStage)},
	OpMknod:  {name: "mknod", make: func() Action { return new(Mknod) }, on: initOnly(phaseMounts, phaseMounts)},
	// On the thread that then clones init, before the clone.
	OpSetns: {name: "setns", make: func() Action { return new(Setns) }, on: parent(phaseHost, phaseHost)},
	// With the other cgroup steps, before init is cloned into the cgroup:
	// init's own mknod of the dev mount's nodes is already under it.
	OpCgroupDevices: {name: "cgroup-devices", make: func() Action { return new(CgroupDevices) }, on: parent(phaseHost, phaseHost)},
	// Without a mount namespace of the sandbox's: the root directory's
	// bind before the mounts under it, the chroot where a new root would
	// be pivoted into, their undoing after the sandbox.
	OpBindRootfs:   {name: "bind-rootfs", make: func() Action { return new(BindRootfs) }, on: initOnly(phaseStage, phaseStage)},
	OpChroot:       {name: "chroot", make: func() Action { return new(Chroot) }, on: initOnly(phasePivot, phasePivot)},
	OpUmountRootfs: {name: "umount-rootfs", make: func() Action { return new(UmountRootfs) }, cleanup: true},
}

func (o Op) String() string {
	if o < opCount && ops[o].name != "" {
		return ops[o].name
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

// MarshalText prints the op's name.
func (o Op) MarshalText() ([]byte, error) {
	if o == OpInvalid || o >= opCount {
		return nil, fmt.Errorf("op %d has no name", uint8(o))
	}
	return []byte(o.String()), nil
}

// UnmarshalText parses an op's name.
func (o *Op) UnmarshalText(b []byte) error {
	for c := OpInvalid + 1; c < opCount; c++ {
		if ops[c].name == string(b) {
			*o = c
			return nil
		}
	}
	return fmt.Errorf("unknown op %q", b)
}

// Sides returns the sides that may run o.
func (o Op) Sides() []Side {
	var sides []Side
	if o >= opCount {
		return nil
	}
	if ops[o].cleanup {
		return []Side{Parent}
	}
	for s := range sideCount {
		if ops[o].on[s].ok {
			sides = append(sides, s)
		}
	}
	return sides
}

// Ops returns every op, in the order of the table.
func Ops() []Op {
	all := make([]Op, 0, opCount-1)
	for o := OpInvalid + 1; o < opCount; o++ {
		all = append(all, o)
	}
	return all
}

// New returns an empty Action of op o, nil for an op that has none.
func New(o Op) Action {
	if o == OpInvalid || o >= opCount {
		return nil
	}
	return ops[o].make()
}

// Cleanup reports whether o runs only in a plan's cleanup.
func (o Op) Cleanup() bool { return o < opCount && ops[o].cleanup }
