package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSmapsRollup(t *testing.T) {
	const rollup = `55d0c0a00000-7ffd5e1f2000 ---p 00000000 00:00 0                          [rollup]
Rss:                3168 kB
Pss:                1749 kB
Pss_Dirty:           300 kB
Pss_Anon:            300 kB
Pss_File:           1449 kB
Shared_Clean:       2868 kB
Swap:                  0 kB
SwapPss:               0 kB
`
	tests := []struct {
		name     string
		data     string
		rss, pss int64
		wantErr  string
	}{
		{"rollup", rollup, 3168, 1749, ""},
		{"no memory of its own", "", 0, 0, ""},
		{"no Pss", "Rss: 12 kB\n", 0, 0, "no Rss and Pss"},
		{"other unit", "Rss: 12 MB\nPss: 1 kB\n", 0, 0, "want a number of kB"},
		{"not a number", "Rss: x kB\nPss: 1 kB\n", 0, 0, "Rss line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rss, pss, err := parseSmapsRollup([]byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("parseSmapsRollup: %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || rss != tt.rss || pss != tt.pss {
				t.Errorf("parseSmapsRollup = %d, %d, %v; want %d, %d, nil", rss, pss, err, tt.rss, tt.pss)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		data    string
		want    procInfo
		wantErr bool
	}{
		{"4242 (cell) S 4241 4242 4242 0 -1 4194560 ...", procInfo{pid: 4242, ppid: 4241, comm: "cell", state: 'S'}, false},
		// A name may hold spaces and parentheses: it ends at the last ')'.
		{"7 (a) b (c) Z 1 7 7 0", procInfo{pid: 7, ppid: 1, comm: "a) b (c", state: 'Z'}, false},
		{"7 a S 1", procInfo{}, true},
		{"x (a) S 1", procInfo{}, true},
		{"7 (a)", procInfo{}, true},
		{"7 (a) S one", procInfo{}, true},
	}
	for _, tt := range tests {
		got, err := parseStat([]byte(tt.data))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseStat(%q) = %+v, %v; want %+v, error %t", tt.data, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestProcessTree(t *testing.T) {
	procs := map[int]procInfo{}
	for _, p := range []procInfo{
		{pid: 1, ppid: 0, comm: "init"},
		{pid: 10, ppid: 1, comm: "cell"},
		{pid: 12, ppid: 10, comm: "exe"},
		{pid: 11, ppid: 10, comm: "other"},
		{pid: 13, ppid: 12, comm: "cat"},
		{pid: 20, ppid: 1, comm: "unrelated"},
	} {
		procs[p.pid] = p
	}
	var got []string
	for _, p := range processTree(procs, 10) {
		got = append(got, strings.Repeat(" ", p.depth)+p.comm)
	}
	if diff := cmp.Diff([]string{"cell", " other", " exe", "  cat"}, got); diff != "" {
		t.Errorf("processTree (-want +got):\n%s", diff)
	}
	if got := processTree(procs, 99); got != nil {
		t.Errorf("processTree of a missing root = %v, want nil", got)
	}
}

// TestMemoryOnce samples a real launcher, a shell that runs the command
// and stays: its memory must be there, and the command's must not.
func TestMemoryOnce(t *testing.T) {
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	r := runner{dir: t.TempDir(), stdio: devnull}
	cmdFile, err := fileID(memoryCommand[0])
	if err != nil {
		t.Fatal(err)
	}
	// "; exit 0" keeps sh from executing cat in its own place.
	l := launcher{name: "sh", argv: []string{"/bin/sh", "-c", memoryCommand[0] + "; exit 0"}}
	samples, err := r.memoryOnce(context.Background(), l, cmdFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != memorySamples {
		t.Fatalf("%d samples, want %d", len(samples), memorySamples)
	}
	for i, procs := range samples {
		if len(procs) != 1 || procs[0].Process != "sh" {
			t.Errorf("sample %d: %+v, want sh alone (not its command)", i, procs)
			continue
		}
		if p := procs[0]; p.RSSKiB <= 0 || p.PSSKiB <= 0 || p.PSSKiB > p.RSSKiB {
			t.Errorf("sample %d: sh RSS %d KiB, PSS %d KiB; want 0 < PSS ≤ RSS", i, p.RSSKiB, p.PSSKiB)
		}
	}

	// A launcher that ends before its command runs is an error.
	l = launcher{name: "false", argv: []string{"/bin/false"}}
	if _, err := r.memoryOnce(context.Background(), l, cmdFile); err == nil {
		t.Error("memoryOnce of /bin/false: nil error")
	}
}
