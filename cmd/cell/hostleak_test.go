package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cellsandbox/cell/internal/escape"
	"github.com/cellsandbox/cell/profiles"
)

// escapeSets bind the escape program at /escape and let landlock execute
// it there (the agent profile executes only from the system's directories).
func escapeSets(bin string) []string {
	return []string{
		"--set", fmt.Sprintf("filesystem.mounts[+]={type: bind, source: %s, target: /escape}", bin),
		"--set", "security.landlock.readExec[+]=/escape",
	}
}

// notForThisCaller reports a profile that cannot start for this caller on
// this host for a reason of the host's setup, not of the sandbox: no
// delegated cgroup for an unprivileged caller, a fixed ID range outside
// its subordinate one.
func notForThisCaller(stderr string) bool {
	return strings.Contains(stderr, "no cgroup is delegated to you") ||
		strings.Contains(stderr, "is neither your own ID")
}

// TestInheritedDescriptorsClosed leaks a directory of the host's (/etc,
// left open without close-on-exec at fd 7, and a file at fd 9) into cell
// run for every built-in profile, as root and as an unprivileged caller,
// and walks the descriptors of the command (/proc/self/fd) and of init
// (/proc/1/fd) from inside with the escape program, and init's from the
// host: only 0, 1, 2 and init's socket to cell may exist.
func TestInheritedDescriptorsClosed(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	bin := escape.Build(t)
	etc, err := os.Open("/etc")
	if err != nil {
		t.Fatal(err)
	}
	defer etc.Close()
	file, err := os.Open("/etc/hostname")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	callers := []string{"root", "celltest"}
	for _, prof := range profiles.Names() {
		for _, caller := range callers {
			t.Run(prof+"/"+caller, func(t *testing.T) {
				var cmd *exec.Cmd
				args := append([]string{"run", "-p", prof}, escapeSets(bin)...)
				args = append(args, "--", "/bin/sh", "-c", "/escape -only fds,init-fds; read x")
				work, err := os.MkdirTemp("/var/tmp", "cell-fds-")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.RemoveAll(work) })
				// build-worker's root is a subordinate ID: it must reach the
				// project.
				os.Chmod(work, 0o755)
				if caller == "root" {
					cmd = cellCmd(t, args...)
				} else {
					uid, gid, home, cellBin := rootlessUser(t)
					os.Chown(work, int(uid), int(gid))
					cmd = exec.Command(cellBin, args...)
					cmd.Args[0] = "cell"
					cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
					if prof == "agent" {
						// Its user-mode network needs a tun node the
						// user may open (root's only here).
						cmd = rootlessTun(uid, gid, cellBin, args...)
					}
					cmd.Env = []string{"CELL_TEST_MAIN=1", "HOME=" + home, "USER=celltest", "PATH=/usr/bin:/bin", "XDG_RUNTIME_DIR=" + filepath.Join(home, "run")}
				}
				cmd.Dir = work
				// ExtraFiles are placed at 3, 4, ... without close-on-exec:
				// /etc at 7, /etc/hostname at 9, as a careless caller leaves them.
				cmd.ExtraFiles = []*os.File{nil, nil, nil, nil, etc, nil, file}
				stdin, err := cmd.StdinPipe()
				if err != nil {
					t.Fatal(err)
				}
				stdout, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				var stderr strings.Builder
				cmd.Stderr = &stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				defer func() {
					stdin.Close()
					_ = cmd.Wait()
				}()
				rd := bufio.NewReader(stdout)
				var lines []string
				for len(lines) < 2 {
					line, err := rd.ReadString('\n')
					if err != nil {
						stdin.Close()
						_ = cmd.Wait()
						if notForThisCaller(stderr.String()) {
							t.Logf("%s cannot start for %s on this host: %s", prof, caller, stderr.String())
							return
						}
						t.Fatalf("escape program: %v after %q\nstderr: %s", err, lines, stderr.String())
					}
					lines = append(lines, line)
				}
				// Init is still running: its descriptors, seen from the host.
				if pid := initOf(t, cmd.Process.Pid); pid > 0 {
					hostFDs(t, pid)
				} else {
					t.Errorf("no init under cell (pid %d)", cmd.Process.Pid)
				}
				stdin.Close()
				rest, _ := io.ReadAll(rd)
				rs := escape.Verify(t, []byte(strings.Join(lines, "")+string(rest)))
				if len(rs) != 2 {
					t.Errorf("want the fds and init-fds attempts, got %v", rs)
				}
			})
		}
	}
}

// initOf is the pid of the sandbox's init, the child of cell whose
// argv[0] is cell-init.
func initOf(t *testing.T, cellPid int) int {
	t.Helper()
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", cellPid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, p := range strings.Fields(string(b)) {
			pid, _ := strconv.Atoi(p)
			argv, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if strings.HasPrefix(string(argv), "cell-init\x00") {
				return pid
			}
		}
	}
	return 0
}

// hostFDs fails the test unless init holds only 0, 1, 2, one socket and
// the Go runtime's netpoller. A leak stays for init's life, so only a
// descriptor that is there in two looks 100 ms apart is one: init makes
// short-lived ones of its own now and then (a fork's error pipe).
func hostFDs(t *testing.T, pid int) {
	t.Helper()
	first := unexpectedFDs(t, pid)
	if len(first) == 0 {
		return
	}
	time.Sleep(100 * time.Millisecond)
	for fd, target := range unexpectedFDs(t, pid) {
		if first[fd] == target {
			t.Errorf("init (pid %d) holds fd %d -> %s, which the plan does not name", pid, fd, target)
		}
	}
}

// unexpectedFDs returns init's descriptors above 2 but its socket to
// cell and the netpoller's, with what each leads to.
func unexpectedFDs(t *testing.T, pid int) map[int]string {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]string{}
	sockets := 0
	for _, e := range ents {
		fd, _ := strconv.Atoi(e.Name())
		if fd <= 2 {
			continue
		}
		target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd))
		if strings.HasPrefix(target, "socket:") && sockets == 0 {
			sockets++
			continue
		}
		if target == "anon_inode:[eventpoll]" || target == "anon_inode:[eventfd]" {
			// The Go runtime's netpoller, made once init used netlink
			// (egress rules): process-internal, it leads nowhere.
			continue
		}
		out[fd] = target
	}
	return out
}

// TestPlantedBindSource plants out -> a host directory from inside a
// default sandbox (whose project directory is writable), then runs
// build-worker in the same project, which binds ${PWD}/out writable at
// /out: cell must refuse, naming out as the link, and nothing may reach
// the host directory. On a path to the project through a symlink (a
// shell's $PWD), the default profile still runs: ${PWD} is the kernel's
// path, without links.
func TestPlantedBindSource(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	base, err := os.MkdirTemp("/var/tmp", "cell-planted-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	project, victim := filepath.Join(base, "project"), filepath.Join(base, "victim")
	for _, d := range []string{project, victim} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The victim directory is writable by anyone, so that only the bind
	// stands between build-worker's root and it.
	os.Chmod(victim, 0o777)

	plant := cellCmd(t, "run", "--", "ln", "-s", victim, "out")
	plant.Dir = project
	mustSucceed(t, runCellCmd(t, plant))
	if l, err := os.Readlink(filepath.Join(project, "out")); err != nil || l != victim {
		t.Fatalf("the default sandbox did not plant out -> %s: %q %v", victim, l, err)
	}

	build := cellCmd(t, "run", "-p", "build-worker", "--", "sh", "-c", "echo pwned > /out/pwned")
	build.Dir = project
	build.Env = append(build.Env, "CELL_OUT=")
	r := runCellCmd(t, build)
	if _, err := os.Stat(filepath.Join(victim, "pwned")); err == nil {
		t.Errorf("build-worker wrote through the planted link into %s", victim)
	}
	want := fmt.Sprintf("bind source %s/out: %s/out is a symlink (to %s), which is not followed", project, project, victim)
	if r.code == 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("build-worker in a project with a planted out link: want a refusal saying %q; got %s", want, r)
	}

	// An overlay whose lower directory is a planted link (relative, which
	// overlayfs would follow on the host) is refused too.
	plant = cellCmd(t, "run", "--", "ln", "-s", "../victim", "rel")
	plant.Dir = project
	mustSucceed(t, runCellCmd(t, plant))
	os.WriteFile(filepath.Join(victim, "secret"), []byte("host's\n"), 0o644)
	ov := cellCmd(t, "run", "--set", fmt.Sprintf("filesystem.mounts[+]={type: overlay, target: /w, lower: [%s/rel]}", project), "--", "cat", "/w/secret")
	ov.Dir = project
	r = runCellCmd(t, ov)
	want = fmt.Sprintf("overlay lower directory %s/rel: %s/rel is a symlink (to ../victim), which is not followed", project, project)
	if r.code == 0 || !strings.Contains(r.stderr, want) || strings.Contains(r.stdout, "host's") {
		t.Errorf("overlay on the planted link: want a refusal saying %q; got %s", want, r)
	}

	// A path to the project through a link: ${PWD} is the physical one.
	link := filepath.Join(base, "link")
	if err := os.Symlink(project, link); err != nil {
		t.Fatal(err)
	}
	run := cellCmd(t, "run", "--", "sh", "-c", "pwd; echo ok > made")
	run.Dir = link
	run.Env = append(run.Env, "PWD="+link)
	if out := mustSucceed(t, runCellCmd(t, run)); out != project+"\n" {
		t.Errorf("default profile from %s: working directory %q, want %s", link, out, project)
	}
	if b, _ := os.ReadFile(filepath.Join(project, "made")); string(b) != "ok\n" {
		t.Errorf("the project was not writable through the default profile")
	}
}

// TestSetIDFilesStayOffHost runs, as a root caller (whose inside root is
// the host's root in these profiles), what the assessment did: copy a
// shell into the project directory and make it set-user-ID, create one
// with the bits in open's mode, make a device node; and the same in an
// overlay whose upper layer is kept with --keep-upper. No file on the host
// may carry a set-ID bit, and the kept directory is not world-readable.
func TestSetIDFilesStayOffHost(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	script := "cp /bin/sh x; chmod u+s x; chmod g+s x; " +
		"python3 -c 'import os; os.open(\"y\", os.O_CREAT|os.O_WRONLY, 0o6755)' 2>/dev/null; " +
		"mknod n c 1 3 2>/dev/null; ls -ln"
	check := func(t *testing.T, dir string) {
		t.Helper()
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) == 0 {
			t.Fatalf("nothing was written to %s", dir)
		}
		for _, e := range ents {
			var st syscall.Stat_t
			if err := syscall.Lstat(filepath.Join(dir, e.Name()), &st); err != nil {
				t.Fatal(err)
			}
			if st.Mode&(syscall.S_ISUID|syscall.S_ISGID) != 0 {
				t.Errorf("%s/%s on the host has mode %o, owned by %d:%d", dir, e.Name(), st.Mode, st.Uid, st.Gid)
			}
			if typ := st.Mode & syscall.S_IFMT; typ == syscall.S_IFCHR || typ == syscall.S_IFBLK {
				t.Errorf("%s/%s on the host is a device node", dir, e.Name())
			}
		}
	}
	for _, prof := range []string{"default", "dev"} {
		t.Run(prof, func(t *testing.T) {
			work, err := os.MkdirTemp("/var/tmp", "cell-setid-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(work) })
			cmd := cellCmd(t, "run", "-p", prof, "--", "sh", "-c", script)
			cmd.Dir = work
			r := runCellCmd(t, cmd)
			t.Logf("%s", r)
			check(t, work)
		})
	}
	// File capabilities are the other way to a privileged file: with
	// CAP_SETFCAP kept, setcap cap_setuid+ep in the project worked.
	t.Run("CAP_SETFCAP", func(t *testing.T) {
		work, err := os.MkdirTemp("/var/tmp", "cell-setid-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(work) })
		cmd := cellCmd(t, "run", "--set", "security.capabilities=[CAP_SETFCAP]", "--", "sh", "-c", "cp /bin/true x && setcap cap_setuid+ep x")
		cmd.Dir = work
		r := runCellCmd(t, cmd)
		if _, err := exec.LookPath("getcap"); err == nil {
			if out, _ := exec.Command("getcap", filepath.Join(work, "x")).Output(); len(out) > 0 {
				t.Errorf("a file with capabilities on the host: %s", out)
			}
		}
		if r.code == 0 || !strings.Contains(r.stderr, "CAP_SETFCAP lets the command give files in the writable bind of "+work) {
			t.Errorf("want a refusal; got %s", r)
		}
	})
	t.Run("kept upper", func(t *testing.T) {
		base, err := os.MkdirTemp("/var/tmp", "cell-setid-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(base) })
		lower, keep := filepath.Join(base, "lower"), filepath.Join(base, "keep")
		os.Mkdir(lower, 0o755)
		os.Mkdir(keep, 0o755)
		cmd := cellCmd(t, "run", "--keep-upper", keep,
			"--set", fmt.Sprintf("filesystem.mounts[+]={type: overlay, target: /w, lower: [%s], size: 16Mi}", lower),
			"--", "sh", "-c", "cd /w && "+script)
		cmd.Dir = base
		r := runCellCmd(t, cmd)
		t.Logf("%s", r)
		// The run's own numbered directory (the first is 1), then the
		// overlay's (the first is 0).
		check(t, filepath.Join(keep, "1", "0", "upper"))
		st, err := os.Stat(filepath.Join(keep, "1"))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s/1 has mode %v: other users can reach what the command wrote", keep, st.Mode().Perm())
		}
	})
}

// TestHandBack runs the README's build-worker recipe with its /out bind
// marked handBack (as a profile extending build-worker), CELL_OUT naming
// the output directory: what the build's root makes there is the
// caller's on the host (build-worker's root is a subordinate ID), the
// symlink it leaves is removed and the run fails saying so, a set-ID bit
// does not stick; with keepSymlinks the link stays and the run succeeds.
// An unprivileged caller whose command is itself gets the same check on a
// plain bind.
func TestHandBack(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	base, err := os.MkdirTemp("/var/tmp", "cell-handback-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	script := "echo built > /out/f && mkdir /out/lib && ln -s /etc/shadow /out/lib/l && " +
		"(chmod u+s /out/f 2>/dev/null; chown 5 /out/f 2>/dev/null; true)"
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("root/keepSymlinks=%v", keep), func(t *testing.T) {
			out := filepath.Join(base, fmt.Sprintf("out-%v", keep))
			os.Mkdir(out, 0o755)
			prof := filepath.Join(base, fmt.Sprintf("p-%v.yaml", keep))
			os.WriteFile(prof, []byte(fmt.Sprintf(`apiVersion: cell/v1
name: hb
extends: [build-worker]
filesystem:
  mounts:
    - {type: bind, source: "${env:CELL_OUT:-${PWD}/out}", target: /out, writable: true, noexec: true, optional: true, handBack: true, keepSymlinks: %v}
`, keep)), 0o644)
			cmd := cellCmd(t, "run", "-p", prof, "--", "sh", "-c", script)
			cmd.Dir = base
			cmd.Env = append(cmd.Env, "CELL_OUT="+out)
			r := runCellCmd(t, cmd)
			for _, p := range []string{out + "/f", out + "/lib"} {
				var st syscall.Stat_t
				if err := syscall.Lstat(p, &st); err != nil {
					t.Fatalf("%v\n%s", err, r)
				}
				if st.Uid != uint32(os.Getuid()) || st.Gid != uint32(os.Getgid()) {
					t.Errorf("%s is %d:%d on the host, want the caller's %d:%d", p, st.Uid, st.Gid, os.Getuid(), os.Getgid())
				}
				if st.Mode&(syscall.S_ISUID|syscall.S_ISGID) != 0 {
					t.Errorf("%s has mode %o", p, st.Mode)
				}
			}
			_, lerr := os.Lstat(out + "/lib/l")
			if keep {
				if r.code != 0 || lerr != nil {
					t.Errorf("keepSymlinks: the link is gone (%v) or the run failed: %s", lerr, r)
				}
				return
			}
			if lerr == nil {
				t.Errorf("the symlink to /etc/shadow is still in the outputs")
			}
			want := fmt.Sprintf("hand-back %s: the command left what a consumer of its outputs could trip over: removed 1 symlinks (%s/lib/l -> /etc/shadow)", out, out)
			if r.code == 0 || !strings.Contains(r.stderr, want) {
				t.Errorf("want a failed run saying %q; got %s", want, r)
			}
		})
	}
	t.Run("celltest", func(t *testing.T) {
		uid, gid, dir, bin := rootlessUser(t)
		out := filepath.Join(dir, "out")
		os.Mkdir(out, 0o755)
		os.Chown(out, int(uid), int(gid))
		prof := filepath.Join(dir, "p.yaml")
		os.WriteFile(prof, []byte(strings.Replace(profileText(t, bin), "name: test\n", "name: test\nids: {uid: \"${UID}\", gid: \"${GID}\"}\n", 1)), 0o644)
		cmd := exec.Command(bin, "run", "-p", prof, "--set",
			fmt.Sprintf("filesystem.mounts[+]={type: bind, source: %s, target: /out, writable: true, handBack: true}", out),
			"--", "sh", "-c", script)
		cmd.Args[0] = "cell"
		cmd.Env = []string{"CELL_TEST_MAIN=1", "HOME=/", "USER=celltest", "PATH=/usr/bin:/bin"}
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
		r := runCellCmd(t, cmd)
		var st syscall.Stat_t
		if err := syscall.Stat(out+"/f", &st); err != nil || st.Uid != uid {
			t.Errorf("out/f: %v, owner %d, want %d\n%s", err, st.Uid, uid, r)
		}
		if _, err := os.Lstat(out + "/lib/l"); err == nil || r.code == 0 || !strings.Contains(r.stderr, "removed 1 symlinks") {
			t.Errorf("unprivileged hand-back: the link stays (%v) or the run did not fail: %s", err, r)
		}
	})
}
