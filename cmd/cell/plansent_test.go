package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/cellsandbox/cell/profiles"
)

// TestPlanSentIsPrinted runs every built-in profile, as root and as the
// unprivileged user where it compiles for one, and checks that the plan
// init received (the SHA-256 that init reports under --trace) is, byte
// for byte, what cell plan --json prints for the same invocation, less
// its indentation: nothing rewrites the plan on its way to init.
func TestPlanSentIsPrinted(t *testing.T) {
	requirePrivilege(t)
	requireSlirp(t)
	noLeaks(t)
	for _, name := range profiles.Names() {
		for _, root := range []bool{true, false} {
			who := map[bool]string{true: "root", false: "user"}[root]
			t.Run(name+"/"+who, func(t *testing.T) {
				sandbox := fmt.Sprintf("plansent-%d-%s-%s", os.Getpid(), name, who)
				args := []string{"-p", name, "--name", sandbox}
				var cmd func(args ...string) *exec.Cmd
				if root {
					work := realityProject(t, 0, 0)
					cmd = func(args ...string) *exec.Cmd {
						c := cellCmd(t, args...)
						c.Dir = work
						return c
					}
				} else {
					uid, gid, dir, bin := rootlessUser(t)
					work := realityProject(t, int(uid), int(gid))
					home := filepath.Join(dir, "home")
					os.Mkdir(home, 0o700)
					os.Chown(home, int(uid), int(gid))
					// No limits: the test user has no delegated cgroup.
					args = append(args, "--set", "resources=null")
					cmd = func(args ...string) *exec.Cmd {
						c := rootlessTun(uid, gid, bin, args...)
						c.Env = []string{"CELL_TEST_MAIN=1", "HOME=" + home, "USER=celltest", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "XDG_RUNTIME_DIR=" + filepath.Join(dir, "run")}
						c.Dir = work
						return c
					}
				}
				printed := runCellCmd(t, cmd(append(append([]string{"plan", "--json"}, args...), "--", "true")...))
				if printed.code != 0 {
					// It does not compile for this caller; then it
					// must not run either.
					run := runCellCmd(t, cmd(append(append([]string{"run"}, args...), "--", "true")...))
					if run.code == 0 {
						t.Fatalf("cell plan refused what cell run ran:\n%s\nrun:\n%s", printed, run)
					}
					t.Logf("does not compile for this caller: %s", strings.TrimSpace(printed.stderr))
					return
				}
				var compact bytes.Buffer
				if err := json.Compact(&compact, []byte(printed.stdout)); err != nil {
					t.Fatalf("cell plan --json: %v\n%s", err, printed.stdout)
				}
				want := sha256.Sum256(compact.Bytes())
				run := runCellCmd(t, cmd(append(append([]string{"run", "--trace", "--log-format", "json"}, args...), "--", "true")...))
				if run.code != 0 {
					t.Fatalf("cell run: %s", run)
				}
				got := ""
				sc := bufio.NewScanner(strings.NewReader(run.stderr))
				for sc.Scan() {
					var rec struct {
						Msg    string `json:"msg"`
						SHA256 string `json:"sha256"`
					}
					if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "plan received" {
						got = rec.SHA256
					}
				}
				if got == "" {
					t.Fatalf("init reported no hash of the plan it received:\n%s", run.stderr)
				}
				if got != hex.EncodeToString(want[:]) {
					t.Errorf("init received a plan of SHA-256 %s; cell plan --json prints one of %s", got, hex.EncodeToString(want[:]))
				}
			})
		}
	}
}

// TestDenySetgroupsHelpers runs, as the unprivileged user, a profile that
// maps a subordinate range (so the setuid helpers write init's maps) and
// denies setgroups: cell writes init's setgroups itself, after init's
// first exec and before the helpers (the plan's deny-setgroups step).
func TestDenySetgroupsHelpers(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	uid, gid, dir, bin := rootlessUser(t)
	prof := filepath.Join(dir, "p.yaml")
	os.WriteFile(prof, []byte(profileText(t, bin)+`ids:
  uid: 0
  gid: 0
  setgroups: deny
  uidMap: [{inside: 0, outside: "${UID}", count: 1}, {inside: 1, outside: subuid, count: 10}]
  gidMap: [{inside: 0, outside: "${GID}", count: 1}, {inside: 1, outside: subgid, count: 10}]
`), 0o644)
	as := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Args[0] = "cell"
		cmd.Env = []string{"CELL_TEST_MAIN=1", "HOME=/", "USER=celltest", "XDG_RUNTIME_DIR=" + filepath.Join(dir, "run")}
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
		return cmd
	}
	pl := runCellCmd(t, as("plan", "-p", prof, "--", "true"))
	if pl.code != 0 || !regexp.MustCompile(`init +execve\("[^"]*", \["cell-init", "3", "wait-for-maps"\]\)[^\n]*\n *\d+ parent +write\("/proc/INIT/setgroups", "deny"\)`).MatchString(pl.stdout) {
		t.Fatalf("plan: no deny-setgroups right after init's first exec:\n%s", pl)
	}
	r := runCellCmd(t, as("run", "-p", prof, "--", "cat", "/proc/self/setgroups", "/proc/self/uid_map"))
	if r.code != 0 || !strings.HasPrefix(r.stdout, "deny\n") || !strings.Contains(r.stdout, fmt.Sprintf("%10d %10d %10d\n", 0, uid, 1)) {
		t.Errorf("want setgroups deny and the caller mapped to 0:\n%s", r)
	}
}
