package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cellsandbox/cell/internal/host"
)

// statusCase proves one row of the README's exit status table for one
// command: args (NAME stands for a running sandbox) or status make cell
// end with want.
type statusCase struct {
	cmd, status string
	want        int
	args        []string
	status1     func() int // instead of args, where no command line can
}

// readmeStatuses returns the rows of the README's exit status table as
// "command status" keys.
func readmeStatuses(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "### Exit statuses\n")
	if !ok {
		t.Fatal("README.md has no section Exit statuses")
	}
	rows := map[string]bool{}
	for _, line := range strings.Split(table, "\n") {
		if !strings.HasPrefix(line, "| ") {
			if len(rows) > 0 {
				break
			}
			continue
		}
		cols := strings.Split(strings.Trim(line, "| "), " | ")
		if len(cols) != 3 || cols[0] == "Command" || strings.HasPrefix(cols[0], "---") {
			continue
		}
		for _, c := range strings.Split(cols[0], ", ") {
			rows[c+" "+cols[1]] = true
		}
	}
	if len(rows) == 0 {
		t.Fatal("README.md: the exit status table has no rows")
	}
	return rows
}

// TestExitStatuses walks the README's exit status table: every row is
// produced by a real command line, and every status a case sees is in the
// table. Every command's usage error is 2, with one line and a hint on
// stderr and nothing on stdout.
func TestExitStatuses(t *testing.T) {
	requirePrivilege(t)
	noLeaks(t)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bad := write("bad.yaml", "apiVersion: cell/v1\nname: bad\nnope: 1\n")
	risky := write("risky.yaml", "apiVersion: cell/v1\nname: risky\nnamespaces: {net: host}\nnetwork: {mode: host}\n")
	missing := write("missing.yaml", "apiVersion: cell/v1\nname: missing\nfilesystem:\n  mounts:\n    - {type: bind, source: /no/such/dir, target: /x}\n")
	prof := profile(t, "")
	parent := cgroupParent(t)
	name := fmt.Sprintf("t-%d", time.Now().UnixNano()%1e9)
	startNamed(t, name, "resources.parent="+parent, "resources.pids.max=64")

	run := func(args ...string) []string { return append([]string{"run", "-T", "-p", prof}, args...) }
	exe := func(args ...string) []string { return append([]string{"exec", "-T", "NAME", "--"}, args...) }
	cases := []statusCase{
		{cmd: "every command", status: "0", want: 0, args: []string{"profiles"}},
		{cmd: "every command", status: "0", want: 0, args: []string{"show", "default"}},
		{cmd: "every command", status: "0", want: 0, args: []string{"validate", "default", risky}},
		{cmd: "every command", status: "0", want: 0, args: []string{"ps"}},
		{cmd: "every command", status: "1", want: 1, args: []string{"wait", "no-such-sandbox"}},
		{cmd: "every command", status: "1", want: 1, args: []string{"exec", "no-such-sandbox", "--", "true"}},
		{cmd: "every command", status: "1", want: 1, args: []string{"update", "--pids-max", "9", "no-such-sandbox"}},
		{cmd: "every command", status: "1", want: 1, args: []string{"pool", "stop", "no-such-pool"}},
		{cmd: "every command", status: "2", want: 2, args: []string{"show", bad}},
		{cmd: "every command", status: "2", want: 2, args: []string{"plan", filepath.Join(dir, "none.yaml"), "--", "true"}},
		{cmd: "every command", status: "2", want: 2, args: []string{"pool", "start", bad}},
		{cmd: "every command", status: "2", want: 2, args: []string{"run", "-T", bad, "--", "true"}},
		{cmd: "every command", status: "2", want: 2, args: []string{"kill", "no-such-sandbox", "NOSIG"}},
		{cmd: "every command", status: "2", want: 2, args: []string{"update", "--memory-max", "1x", "no-such-sandbox"}},
		{cmd: "every command", status: "2", want: 2, args: []string{"lint", "--format", "xml"}},
		{cmd: "every command", status: "2", want: 2, args: []string{"completion"}},
		{cmd: "every command", status: "2", want: 2, args: []string{"exec", "no-such-sandbox"}},
		{cmd: "every command", status: "2", want: 2, args: []string{"pool", "start", "--size", "0"}},
		{cmd: "run", status: "0-255", want: 42, args: run("--", "sh", "-c", "exit 42")},
		{cmd: "exec", status: "0-255", want: 42, args: exe("sh", "-c", "exit 42")},
		{cmd: "run", status: "128+N", want: 128 + 9, args: run("--", "sh", "-c", "kill -KILL $$")},
		{cmd: "exec", status: "128+N", want: 128 + 9, args: exe("sh", "-c", "kill -KILL $$")},
		{cmd: "run", status: "124", want: 124, args: run("--timeout", "0.1", "--", "sleep", "10")},
		{cmd: "run", status: "125", want: 125, args: []string{"run", "-T", missing, "--", "true"}},
		{cmd: "run", status: "126", want: 126, args: run("--", "/dev/null")},
		{cmd: "exec", status: "126", want: 126, args: exe("/dev/null")},
		{cmd: "run", status: "127", want: 127, args: run("--", "no-such-command")},
		{cmd: "exec", status: "127", want: 127, args: exe("no-such-command")},
		{cmd: "validate", status: "2", want: 2, args: []string{"validate", risky, bad}},
		{cmd: "lint", status: "2", want: 2, args: []string{"lint", risky, bad}},
		{cmd: "lint", status: "1", want: 1, args: []string{"lint", "--fail-on", "high", risky}},
		{cmd: "diff", status: "1", want: 1, args: []string{"diff", "--no-plan", "--fail-on", "widen", "default", risky}},
		{cmd: "doctor", status: "1", want: 1, status1: func() int {
			return statusOf(doctorStatus([]host.Check{{Name: "x", Status: host.OK}, {Name: "y", Status: host.Fail}}))
		}},
	}
	documented := readmeStatuses(t)
	proved := map[string]bool{}
	for _, c := range cases {
		key := c.cmd + " " + c.status
		proved[key] = true
		if !documented[key] {
			t.Errorf("%s exits %s (%q), which the README's table does not say", c.cmd, c.status, c.args)
		}
		var got int
		var r cellResult
		if c.status1 != nil {
			got = c.status1()
		} else {
			args := slices.Clone(c.args)
			for i, a := range args {
				if a == "NAME" {
					args[i] = name
				}
			}
			r = cell(t, args...)
			got = r.code
		}
		if got != c.want {
			t.Errorf("%s: status %d, want %d (README: %s %s): %s", strings.Join(c.args, " "), got, c.want, c.cmd, c.status, r)
		}
	}
	for key := range documented {
		if !proved[key] {
			t.Errorf("the README's table has %q, which no case proves", key)
		}
	}
	// Every command's usage error.
	var walk func(prefix []string, cmds []*commandInfo)
	walk = func(prefix []string, cmds []*commandInfo) {
		for _, c := range cmds {
			words := append(slices.Clone(prefix), c.name)
			if len(c.subs) > 0 {
				walk(words, c.subs)
				continue
			}
			r := cell(t, append(words, "--no-such-flag")...)
			hint := fmt.Sprintf("cell: hint: run 'cell %s --help'\n", strings.Join(words, " "))
			if r.code != 2 || r.stdout != "" || !strings.HasPrefix(r.stderr, "cell: error: ") || !strings.HasSuffix(r.stderr, hint) || strings.Count(r.stderr, "\n") != 2 {
				t.Errorf("cell %s --no-such-flag: want status 2, an error and %q on stderr only: %s", strings.Join(words, " "), hint, r)
			}
		}
	}
	walk(nil, commandTree())
}

// commandInfo is a command's name and subcommands.
type commandInfo struct {
	name string
	subs []*commandInfo
}

// commandTree is cell's commands, as the CLI defines them.
func commandTree() []*commandInfo {
	var conv func(cmds []*cli.Command) []*commandInfo
	conv = func(cmds []*cli.Command) []*commandInfo {
		var out []*commandInfo
		for _, c := range cmds {
			out = append(out, &commandInfo{name: c.Name, subs: conv(c.Subcommands)})
		}
		return out
	}
	return conv(newApp(nil, nil).Commands)
}
