package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cellsandbox/cell/internal/host"
	"github.com/cellsandbox/cell/internal/trust"
	"github.com/cellsandbox/cell/profiles"
	"github.com/cellsandbox/cell/spec"
)

// planter is what a sandbox does to choose its own next profile: it
// writes a .cell.yaml wherever it can, adds that file's SHA-256 to every
// trust store it can name, and runs cell trust (the copy of cell in the
// project) on it. $1 is the project's host path, $2 the host's store.
const planter = `
planted='apiVersion: cell/v1
name: planted
extends: default
hostname: escaped
namespaces: {net: host}
network: {mode: host}
process: {args: [sh, -c, "echo ESCAPED"]}
'
for d in "$PWD" /work /out /src "$1" "$1/out" "$HOME" /tmp; do
	printf '%s' "$planted" > "$d/.cell.yaml" 2>/dev/null && echo "planted $d"
done
sum=$(printf '%s' "$planted" | sha256sum | cut -c1-64)
for s in "$2" "$HOME/.config/cell" "${XDG_CONFIG_HOME:-/nonexistent}/cell"; do
	mkdir -p "$s" 2>/dev/null
	for p in "$1" "$1/out"; do
		printf '%s  %s/.cell.yaml\n' "$sum" "$p" >> "$s/trusted" 2>/dev/null && echo "wrote $s/trusted"
	done
done
for c in "$1/cell" /work/cell /src/cell ./cell; do
	[ -x "$c" ] || continue
	for f in "$1/.cell.yaml" "$PWD/.cell.yaml" /out/.cell.yaml; do
		[ -f "$f" ] || continue
		CELL_TEST_MAIN=1 "$c" trust "$f" && echo "cell trust $f: done"
		CELL_TEST_MAIN=1 XDG_CONFIG_HOME="$(dirname "$2")" "$c" trust "$f" && echo "cell trust $f (host store): done"
	done
	break
done
exit 0
`

// TestSandboxCannotTrust runs, in a sandbox of each built-in profile, a
// command that plants a .cell.yaml in every directory it can write and
// tries to trust it by every means (writing the caller's trust store,
// running cell trust); cell run outside must then still refuse each
// planted file and the store must not have changed.
func TestSandboxCannotTrust(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	base, err := os.MkdirTemp("/var/tmp", "cell-trust-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	// The caller's home, with what the built-ins bind of one (dev's
	// dotfiles, read-only; go's, python's and node's caches, writable),
	// and the trust store where cell looks for it: ~/.config/cell.
	home := filepath.Join(base, "home")
	for _, d := range []string{".config/git", ".config/cell", "go/pkg/mod", ".cache/go-build", ".cache/pip", ".npm"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(home, ".gitconfig"), []byte("[user]\n"), 0o644)
	storeDir := filepath.Join(home, ".config", "cell")
	store := filepath.Join(storeDir, "trusted")
	env := func(dir string, args ...string) cellResult {
		cmd := cellCmd(t, args...)
		cmd.Dir = dir
		cmd.Env = append(cmd.Env, "HOME="+home, "XDG_CONFIG_HOME=", "CELL_OUT=")
		return runCellCmd(t, cmd)
	}
	// A store with one entry, so that there is a file to change.
	before := trust.Format([]trust.Entry{trust.Sum(filepath.Join(base, "legit", trust.Name), []byte("name: legit\n"))})
	if err := os.WriteFile(store, before, 0o600); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range profiles.Names() {
		t.Run(name, func(t *testing.T) {
			proj := filepath.Join(base, name)
			if err := os.Mkdir(proj, 0o755); err != nil {
				t.Fatal(err)
			}
			// An output directory that build-worker's root, a
			// subordinate ID, can write too: sticky, as /tmp.
			if err := os.Mkdir(filepath.Join(proj, "out"), 0o755); err != nil {
				t.Fatal(err)
			}
			os.Chmod(filepath.Join(proj, "out"), os.ModeSticky|0o777)
			if err := os.WriteFile(filepath.Join(proj, "cell"), bin, 0o755); err != nil {
				t.Fatal(err)
			}
			r := env(proj, "run", "-p", name, "--", "sh", "-c", planter, "planter", proj, storeDir)
			if r.code == StatusSetup || r.code == StatusProfile {
				// A profile this host cannot honour (a kernel feature,
				// a limit) plants nothing; say so rather than pass.
				t.Skipf("profile %s cannot run here: %s", name, r)
			}
			if r.code != 0 {
				t.Fatalf("planter in %s: %s", name, r)
			}
			t.Logf("inside %s:\n%s", name, r.stdout)
			if after, _ := os.ReadFile(store); !bytes.Equal(before, after) {
				t.Fatalf("the sandbox changed the trust store:\n%s", after)
			}
			planted := 0
			for _, d := range []string{proj, filepath.Join(proj, "out")} {
				if _, err := os.Stat(filepath.Join(d, ".cell.yaml")); err != nil {
					continue
				}
				planted++
				r := env(d, "run")
				// Not trusted, or not even the caller's own file.
				refused := strings.Contains(r.stderr, "is not trusted") || strings.Contains(r.stderr, "refuse profile")
				if r.code != StatusProfile || !refused || strings.Contains(r.stdout, "ESCAPED") {
					t.Errorf("cell run in %s after the sandbox planted .cell.yaml: %s", d, r)
				}
			}
			if planted == 0 {
				t.Fatalf("the sandbox of %s could write no .cell.yaml in its project; the test proves nothing:\n%s", name, r)
			}
		})
	}
	// The store's own directory as the project: cell refuses to run.
	r := env(storeDir, "run", "-p", "default", "--", "true")
	if r.code != StatusProfile || !strings.Contains(r.stderr, "trust store") {
		t.Errorf("cell run with the trust store in a writable bind: %s", r)
	}
}

// TestBuiltinsKeepStoreOut checks that no built-in profile, run from a
// project in the home directory, binds the trust store writable.
func TestBuiltinsKeepStoreOut(t *testing.T) {
	facts := &host.Facts{UID: 1000, GID: 1000, EUID: 1000, User: "u", Home: "/home/u", Cwd: "/home/u/proj"}
	store := "/home/u/.config/cell"
	for _, name := range profiles.Names() {
		p, err := parseProfile(name, nil, facts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, m := range p.Filesystem.Mounts {
			if m.Type == spec.MountBind && m.Writable && (strings.HasPrefix(store+"/", m.Source+"/") || strings.HasPrefix(m.Source+"/", store+"/")) {
				t.Errorf("%s: the writable bind of %s holds the trust store %s", name, m.Source, store)
			}
		}
	}
}

// TestTrustRootless is the unprivileged caller's side: its own file must
// be trusted, and root's is refused as another user's.
func TestTrustRootless(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	uid, gid, dir, bin := rootlessUser(t)
	home, proj := filepath.Join(dir, "home"), filepath.Join(dir, "proj")
	for _, d := range []string{home, proj} {
		os.Mkdir(d, 0o755)
		os.Chown(d, int(uid), int(gid))
	}
	f := filepath.Join(proj, trust.Name)
	os.WriteFile(f, []byte("apiVersion: cell/v1\nname: mine\nextends: default\nhostname: mine\n"), 0o644)
	os.Chown(f, int(uid), int(gid))
	as := func(args ...string) cellResult {
		cmd := exec.Command(bin, args...)
		cmd.Args[0] = "cell"
		cmd.Env = []string{"CELL_TEST_MAIN=1", "HOME=" + home, "USER=celltest", "PATH=/usr/bin:/bin"}
		cmd.Dir = proj
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
		return runCellCmd(t, cmd)
	}
	if r := as("run", "--", "hostname"); r.code != StatusProfile || !strings.Contains(r.stderr, "is not trusted") {
		t.Fatalf("untrusted, as celltest: %s", r)
	}
	mustSucceed(t, as("trust"))
	if st, err := os.Stat(filepath.Join(home, ".config", "cell", "trusted")); err != nil || owner(st) != uid || st.Mode().Perm() != 0o600 {
		t.Errorf("celltest's store: %v, %v", st, err)
	}
	if out := mustSucceed(t, as("run", "--", "hostname")); out != "mine\n" {
		t.Errorf("trusted, as celltest: %q", out)
	}
	os.Chown(f, 0, 0)
	if r := as("run", "--", "hostname"); r.code != StatusProfile || !strings.Contains(r.stderr, "owned by uid 0, not by the caller") {
		t.Errorf("root's file, as celltest: %s", r)
	}
}

// owner is the uid owning a file's stat.
func owner(st os.FileInfo) uint32 { return st.Sys().(*syscall.Stat_t).Uid }
