package spec

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

const secHead = "apiVersion: cell/v1\nname: s\nsecurity:\n"

func TestSecurityErrors(t *testing.T) {
	runErrorCases(t, []errorCase{
		{name: "valid", src: secHead + "  capabilities: [net_bind_service, CAP_CHOWN]\n  noNewPrivileges: true\n  seccomp: {mode: unconfined}\n  landlock: {mode: bestEffort, readOnly: [/usr], connectTcp: [443]}\n  rlimits: {nofile: 1024, core: {soft: 0, hard: unlimited}}\n  oomScoreAdj: -500\n"},
		{name: "capability", src: secHead + "  capabilities: [CAP_SYS_ADMN]\n",
			want: []string{`p.yaml:4:17: security.capabilities: unknown capability "CAP_SYS_ADMN" (did you mean CAP_SYS_ADMIN?)`}},
		{name: "seccomp mode", src: secHead + "  seccomp: {mode: off}\n",
			want: []string{`p.yaml:4:19: security.seccomp.mode: must be default, unconfined or rules, not "off"`}},
		{name: "rule action", src: secHead + "  seccomp: {rules: [{syscalls: [ptrace], action: deny}]}\n",
			want: []string{`p.yaml:4:50: security.seccomp.rules[0].action: must be one of allow, errno, kill, log, not "deny"`}},
		{name: "rule errno without errno action", src: secHead + "  seccomp: {rules: [{syscalls: [ptrace], action: kill, errno: EPERM}]}\n",
			want: []string{`p.yaml:4:63: security.seccomp.rules[0].errno: only applies to action errno`}},
		{name: "rule bad errno", src: secHead + "  seccomp: {rules: [{syscalls: [ptrace], action: errno, errno: eperm}]}\n",
			want: []string{`p.yaml:4:64: security.seccomp.rules[0].errno: unknown errno "eperm" (use a name such as EPERM or EACCES)`}},
		{name: "rule without syscalls", src: secHead + "  seccomp: {rules: [{action: allow}]}\n",
			want: []string{`p.yaml:4:21: security.seccomp.rules[0].syscalls: is required`}},
		{name: "landlock mode", src: secHead + "  landlock: {mode: strict}\n",
			want: []string{`p.yaml:4:20: security.landlock.mode: must be off, bestEffort or require, not "strict"`}},
		{name: "landlock path", src: secHead + "  landlock: {readOnly: [usr]}\n",
			want: []string{`p.yaml:4:25: security.landlock.readOnly[0]: must be an absolute path, not "usr"`}},
		{name: "rlimit name", src: secHead + "  rlimits: {files: 10}\n",
			want: []string{`p.yaml:4:20: security.rlimits.files: unknown rlimit "files" (known: as, core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack)`}},
		{name: "rlimit soft above hard", src: secHead + "  rlimits: {nproc: {soft: 10, hard: 5}}\n",
			want: []string{`p.yaml:4:20: security.rlimits.nproc: soft limit 10 is above the hard limit 5`}},
		{name: "oom score", src: secHead + "  oomScoreAdj: -2000\n",
			want: []string{`p.yaml:4:16: security.oomScoreAdj: must be between -1000 and 1000, not -2000`}},
		{name: "unmasked only for proc", src: "apiVersion: cell/v1\nname: s\nfilesystem:\n  mounts: [{type: tmpfs, target: /t, unmasked: true}]\n",
			want: []string{`p.yaml:4:48: filesystem.mounts[0].unmasked: only applies to proc mounts, not tmpfs`}},
	})
}

func TestSecurityDefaults(t *testing.T) {
	p, err := Parse("p.yaml", []byte("apiVersion: cell/v1\nname: s\n"), Options{Vars: testVars})
	if err != nil {
		t.Fatal(err)
	}
	s := p.Security
	got := []any{s.NoNewPrivs(), s.Seccomp.Mode, s.Landlock.Mode, len(s.Capabilities.Kept()), p.Process.IsNewSession()}
	if diff := cmp.Diff([]any{true, SeccompDefault, LandlockOff, 0, true}, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if n, ok := CapabilityNumber("CAP_SYS_ADMIN"); !ok || n != 21 {
		t.Errorf("CAP_SYS_ADMIN = %d, %v", n, ok)
	}
}

func TestCapabilitySets(t *testing.T) {
	runErrorCases(t, []errorCase{
		{name: "sets", src: secHead + "  capabilities: {bounding: [CAP_NET_RAW, CAP_CHOWN], inheritable: [NET_RAW], ambient: [net_raw]}\n"},
		{name: "unknown set", src: secHead + "  capabilities: {allowed: [CAP_NET_RAW]}\n",
			want: []string{`p.yaml:4:17: security.capabilities: unknown capability set "allowed" (sets: bounding, permitted, effective, inheritable, ambient)`}},
		{name: "ambient outside inheritable", src: secHead + "  capabilities: {bounding: [CAP_NET_RAW], ambient: [CAP_NET_RAW]}\n",
			want: []string{`p.yaml:4:17: security.capabilities: ambient CAP_NET_RAW must also be in inheritable and bounding (the kernel keeps ambient within both)`}},
	})
	p, err := Parse("p.yaml", []byte(secHead+"  capabilities: [chown, CAP_NET_RAW, CAP_CHOWN]\n"), Options{Vars: testVars})
	if err != nil {
		t.Fatal(err)
	}
	c := p.Security.Capabilities
	want := []Capability{"CAP_CHOWN", "CAP_NET_RAW"}
	if diff := cmp.Diff(want, c.Kept()); diff != "" || c.Sets || !cmp.Equal(c.Ambient, want) || !cmp.Equal(c.Bounding, want) {
		t.Errorf("list form keeps %v in every set; got %+v", want, c)
	}
}
