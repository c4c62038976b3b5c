package sandbox

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/proto"
	"github.com/cellsandbox/cell/launcher/plan"
)

// TestParentStepRecordsClone: the steps up to init's exec become the
// attributes of init's clone, as Go's fork applies them.
func TestParentStepRecordsClone(t *testing.T) {
	sys := &syscall.SysProcAttr{GidMappingsEnableSetgroups: true}
	for _, s := range []plan.Step{
		{Side: plan.Parent, Do: &plan.Clone{Flags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS}},
		{Side: plan.Parent, Do: &plan.WriteIDMap{File: "uid_map", Data: "0 1000 1\n1 100000 65536\n"}},
		{Side: plan.Parent, Do: &plan.WriteIDMap{File: "setgroups", Data: "deny"}},
		{Side: plan.Parent, Do: &plan.WriteIDMap{File: "gid_map", Data: "0 1000 1\n"}},
		{Side: plan.Init, Do: &plan.InitIDs{UID: 0, GID: 5}},
		{Side: plan.Init, Do: &plan.AmbientCaps{Caps: []uint32{unix.CAP_SYS_ADMIN, unix.CAP_NET_ADMIN}}},
		{Side: plan.Init, Do: &plan.Pdeathsig{Signal: uint32(unix.SIGKILL)}},
		{Side: plan.Init, Do: &plan.ExecInit{Path: "/proc/self/exe", Args: []string{"cell-init", "3"}}},
	} {
		if err := parentStep(s.Side, s.Do, sys); err != nil {
			t.Fatalf("%s: %v", s.Call(), err)
		}
	}
	want := &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWUSER | unix.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 1000, Size: 1}},
		Credential:  &syscall.Credential{Uid: 0, Gid: 5, NoSetGroups: true},
		AmbientCaps: []uintptr{unix.CAP_SYS_ADMIN, unix.CAP_NET_ADMIN},
		Pdeathsig:   syscall.SIGKILL,
	}
	if diff := cmp.Diff(want, sys); diff != "" {
		t.Errorf("SysProcAttr (-want +got):\n%s", diff)
	}
	for _, bad := range []plan.Step{
		{Side: plan.Parent, Do: &plan.WriteIDMap{File: "setgroups", Data: "allow"}},
		{Side: plan.Parent, Do: &plan.WriteIDMap{File: "projid_map", Data: "0 0 1\n"}},
		{Side: plan.Parent, Do: &plan.WriteIDMap{File: "uid_map", Data: "zero\n"}},
	} {
		if err := parentStep(bad.Side, bad.Do, &syscall.SysProcAttr{}); err == nil {
			t.Errorf("%s accepted", bad.Call())
		}
	}
}

// TestExecutorsFailClosed: a step given to an executor that does not run
// it is refused with its op and side named, never ignored.
func TestExecutorsFailClosed(t *testing.T) {
	tests := []struct {
		name string
		run  func() error
		want string
	}{
		{"a mount before init", func() error {
			return parentStep(plan.Init, &plan.Mount{Target: "/"}, &syscall.SysProcAttr{})
		}, "mount in init is not a step that runs before init"},
		{"a cgroup step in init", func() error {
			return (&initExec{}).step(plan.Init, &plan.CgroupMkdir{Dir: "/sys/fs/cgroup/x"})
		}, "cgroup-mkdir in init is not a step init can run"},
		{"the parent's close-fds as a clone attribute", func() error {
			return parentStep(plan.Parent, &plan.CloseFDs{}, &syscall.SysProcAttr{})
		}, "close-fds in parent is not a step that runs before init"},
		{"a cgroup step as a network one", func() error {
			return (&nets{}).step(&plan.CgroupWrite{}, 0)
		}, "cgroup-write is not a network step of the parent"},
		{"a network step as a cgroup one", func() error {
			return (&cgroups{}).step(&plan.Bridge{}, 0)
		}, "bridge is not a cgroup step"},
		{"a step that is not cleanup in the cleanup", func() error {
			p := &plan.Plan{Cleanup: []plan.Step{{Side: plan.Parent, Do: &plan.Umask{Mask: 0o22}}}}
			return teardown(p, &cgroups{}, &nets{}, &leasedIDs{})
		}, "umask is not a step of cleanup"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%v, want %q", err, tt.want)
			}
		})
	}
}

// TestCommandStepsRecorded: the command's steps become the attributes of
// the fork that init makes for it, in the credential, session and
// terminal fields Go's fork applies.
func TestCommandStepsRecorded(t *testing.T) {
	e := &initExec{}
	exec := &plan.Exec{Path: "sh", Args: []string{"sh"}, Env: []string{"A=1"}}
	for _, a := range []plan.Action{
		&plan.Setsid{},
		&plan.Setgroups{GIDs: []uint32{5, 6}},
		&plan.Setgid{GID: 7},
		&plan.Setuid{UID: 8},
		&plan.AmbientCaps{Caps: []uint32{unix.CAP_NET_BIND_SERVICE}},
		&plan.Chdir{Dir: "/work"},
		&plan.Pdeathsig{Signal: uint32(unix.SIGKILL)},
		&plan.Setctty{},
		exec,
	} {
		if err := e.step(plan.Command, a); err != nil {
			t.Fatalf("%s: %v", a.Op(), err)
		}
	}
	if !e.sys.Setsid || !e.sys.Setctty || e.sys.Ctty != 0 || e.sys.Pdeathsig != syscall.SIGKILL || e.attr.Dir != "/work" || e.exec != exec {
		t.Errorf("recorded %+v dir %q exec %v", e.sys, e.attr.Dir, e.exec)
	}
	if diff := cmp.Diff(&syscall.Credential{Uid: 8, Gid: 7, Groups: []uint32{5, 6}}, e.cred); diff != "" {
		t.Errorf("credential (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]uintptr{unix.CAP_NET_BIND_SERVICE}, e.sys.AmbientCaps); diff != "" {
		t.Errorf("ambient caps (-want +got):\n%s", diff)
	}
	// Without a setgroups step the groups are left alone.
	e = &initExec{}
	e.step(plan.Command, &plan.Setuid{UID: 1})
	if !e.cred.NoSetGroups {
		t.Error("a plan without setgroups sets the groups")
	}
}

// TestReadPlan reads what cell sends init: the run-time message, then
// the plan's bytes as Encode wrote them, whose hash init reports; what
// follows stays in the reader for the messages after them.
func TestReadPlan(t *testing.T) {
	p := &plan.Plan{Profile: "t", Steps: []plan.Step{
		{Side: plan.Parent, Do: &plan.Clone{Flags: unix.CLONE_NEWUSER}},
		{Side: plan.Init, Do: &plan.ExecInit{Path: "/proc/self/exe", Args: []string{"cell-init", "3"}}},
		{Side: plan.Init, Do: &plan.AddrAdd{Interface: "eth0", Address: plan.Lease + "/24"}},
		{Side: plan.Command, Do: &plan.Exec{Path: "true", Args: []string{"true"}}},
	}}
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var wire bytes.Buffer
	json.NewEncoder(&wire).Encode(message{Version: proto.InitVersion, Runtime: &Runtime{Trace: true, Lease: "10.88.0.7"}})
	wire.Write(append(b, '\n'))
	wire.WriteString(`{"signal":15}` + "\n")
	in := bufio.NewReader(&wire)
	rt, got, sum, err := readPlan(in)
	if err != nil {
		t.Fatal(err)
	}
	if sum != sha256.Sum256(b) {
		t.Error("the hash is not of the plan's bytes")
	}
	if !rt.Trace || rt.Lease != "10.88.0.7" || len(got.Steps) != 4 {
		t.Errorf("runtime %+v, %d steps", rt, len(got.Steps))
	}
	// The plan keeps {lease}; init's executor puts the address in.
	if a := got.Steps[2].Do.(*plan.AddrAdd); a.Address != "{lease}/24" || (&initExec{lease: rt.Lease}).resolve(a.Address) != "10.88.0.7/24" {
		t.Errorf("address %q", a.Address)
	}
	if rest, _ := in.ReadString('\n'); rest != `{"signal":15}`+"\n" {
		t.Errorf("after the plan: %q", rest)
	}
	// The plan before the run-time message is refused.
	if _, _, _, err := readPlan(bufio.NewReader(bytes.NewReader(append(b, '\n')))); err == nil || !strings.Contains(err.Error(), "run-time message") {
		t.Errorf("plan first: %v", err)
	}
}

// TestRefuseVersion: init that gets a first message of another protocol
// version tells cell so, naming both versions, as a failure of no step
// (which Wait reports as it is), instead of ending without a report.
func TestRefuseVersion(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	in := bufio.NewReader(strings.NewReader(`{"protocol":99,"runtime":{}}` + "\n"))
	_, _, _, err = readPlan(in)
	if code := refuse(fds[0], err); code != 125 {
		t.Errorf("exit status %d", code)
	}
	m, _, err := newMsgReader(fds[1], nil).Next()
	if err != nil {
		t.Fatal(err)
	}
	if m.Failure == nil || m.Failure.Step != -1 || !strings.Contains(m.Failure.Err, "cell-init speaks version 1, cell sent version 99") {
		t.Errorf("refusal %+v", m.Failure)
	}
}
