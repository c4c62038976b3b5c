package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGitWorktreeFile: in a git worktree .git is a file, so the built-in
// profiles' optional binds of .git/hooks and .git/config have no source
// (ENOTDIR, not ENOENT); they are skipped, and the sandbox starts.
func TestGitWorktreeFile(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, ".git"), []byte("gitdir: /nonexistent/.git/worktrees/w\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"default", "dev"} {
		cmd := cellCmd(t, "run", "-T", "-p", name, "--", "cat", ".git")
		cmd.Dir = work
		if r := runCellCmd(t, cmd); r.code != 0 || !strings.HasPrefix(r.stdout, "gitdir: ") {
			t.Errorf("cell run -p %s in a git worktree: %s", name, r)
		}
	}
}
