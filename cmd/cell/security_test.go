package main

import (
	"strings"
	"testing"
)

func TestSeccomp(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	prof := profile(t, "")
	tests := []struct {
		name   string
		sets   []string
		script string
		want   string
	}{
		{"default filter", nil, "grep Seccomp: /proc/self/status; unshare -U true 2>&1 || true", "Seccomp:\t2\nunshare: unshare failed: Operation not permitted\n"},
		{"nested namespaces allowed", []string{"security.seccomp.allowNestedNamespaces=true"}, "unshare -U true && echo nested", "nested\n"},
		{"an added rule", []string{"security.seccomp.rules=[{syscalls: [uname], action: errno, errno: EACCES}]"}, "uname -s 2>&1 || true", "uname: cannot get system name: Permission denied\n"},
		{"unconfined", []string{"security.seccomp.mode=unconfined"}, "grep Seccomp: /proc/self/status", "Seccomp:\t0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := mustSucceed(t, sandboxRun(t, prof, tt.sets, "sh", "-c", tt.script))
			if out != tt.want {
				t.Errorf("got %q, want %q", out, tt.want)
			}
		})
	}
	r := sandboxRun(t, prof, []string{"security.seccomp.rules=[{syscalls: [keyctll], action: allow}]"}, "true")
	if r.code == 0 || !strings.Contains(r.stderr, `--set:1:37: security.seccomp.rules[0].syscalls[0]: unknown syscall "keyctll" (did you mean "keyctl"?)`) {
		t.Errorf("unknown syscall name: %s", r)
	}
}

func TestRlimitsAndOOMScore(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	out := mustSucceed(t, sandboxRun(t, profile(t, ""), []string{"security.rlimits={nofile: 64, core: {soft: 0, hard: 1024}}", "security.oomScoreAdj=500"},
		"sh", "-c", "ulimit -n; ulimit -c; ulimit -H -c; cat /proc/self/oom_score_adj"))
	if out != "64\n0\n2\n500\n" { // dash counts core in 512-byte blocks
		t.Errorf("rlimits and oom_score_adj inside: %q", out)
	}
}

func TestLandlock(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	sets := []string{"security.landlock={mode: require, readExec: [/usr, /bin, /lib, /lib64], readWrite: [/dev]}"}
	out := mustSucceed(t, sandboxRun(t, profile(t, ""), sets, "sh", "-c", "echo x > /dev/null && echo dev-ok; ls /proc >/dev/null 2>&1 || echo proc-denied"))
	if out != "dev-ok\nproc-denied\n" {
		t.Errorf("landlock inside: %q", out)
	}
	r := sandboxRun(t, profile(t, ""), []string{"security.landlock={mode: require}"}, "true")
	if r.code == 0 || !strings.Contains(r.stderr, "security.landlock: mode require with no rule would restrict nothing") {
		t.Errorf("empty landlock: %s", r)
	}
}
