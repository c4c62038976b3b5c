package prlimit

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cellsandbox/cell/internal/rlimit"
)

// TestApplyChecksFirst shows that Apply refuses a bad list before it sets
// anything.
func TestApplyChecksFirst(t *testing.T) {
	var before unix.Rlimit
	if err := unix.Prlimit(0, unix.RLIMIT_CORE, nil, &before); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ls   []rlimit.Limit
		want string
	}{
		{"twice", []rlimit.Limit{{Resource: rlimit.Core, Soft: 0, Hard: 0}, {Resource: rlimit.NoFile, Soft: 64, Hard: 64}, {Resource: rlimit.NoFile, Soft: 32, Hard: 32}}, "nofile: limited twice"},
		{"soft above hard", []rlimit.Limit{{Resource: rlimit.Core, Soft: 0, Hard: 0}, {Resource: rlimit.NoFile, Soft: 64, Hard: 32}}, "nofile: soft limit 64 is above the hard limit 32"},
		{"invalid", []rlimit.Limit{{Resource: rlimit.Core, Soft: 0, Hard: 0}, {}}, "invalid resource 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Apply(tc.ls)
			if err == nil || err.Error() != tc.want {
				t.Errorf("Apply = %v, want %s", err, tc.want)
			}
			var after unix.Rlimit
			if err := unix.Prlimit(0, unix.RLIMIT_CORE, nil, &after); err != nil {
				t.Fatal(err)
			}
			if after != before {
				t.Errorf("core limit changed from %v to %v by a failed Apply", before, after)
			}
		})
	}
}

func TestOOMScoreAdjRange(t *testing.T) {
	for _, v := range []int{-1001, 1001} {
		err := OOMScoreAdj(v)
		want := "oom_score_adj " + itoa(v) + " is out of range [-1000, 1000]"
		if err == nil || err.Error() != want {
			t.Errorf("OOMScoreAdj(%d) = %v, want %s", v, err, want)
		}
	}
}

func itoa(v int) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestApplyEPERM(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/fs/nr_open")
	if err != nil {
		t.Fatal(err)
	}
	nrOpen, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	// Above fs.nr_open even root gets EPERM, and nothing changes.
	err = Apply([]rlimit.Limit{{Resource: rlimit.NoFile, Soft: 16, Hard: nrOpen + 1}})
	if !errors.Is(err, unix.EPERM) {
		t.Fatalf("Apply above fs.nr_open = %v, want EPERM", err)
	}
	want := fmt.Sprintf("prlimit RLIMIT_NOFILE soft=16 hard=%d: EPERM (operation not permitted): the hard limit is ", nrOpen+1)
	if !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "; raising it needs CAP_SYS_RESOURCE (and nofile cannot exceed fs.nr_open)") {
		t.Errorf("error:\n%s\nwant it to start %q and say why", err, want)
	}
}

// childEnv names the scenario that a re-executed test binary runs instead
// of the tests.
const childEnv = "CELL_RLIMIT_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "nofile":
		os.Exit(childNofile())
	case "oom":
		os.Exit(childOOM())
	}
	fmt.Println("unknown child", os.Getenv(childEnv))
	os.Exit(2)
}

// runChild re-executes the test binary as the named child and fails the
// test unless the child reports success.
func runChild(t *testing.T, name string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+name)
	out, err := cmd.CombinedOutput()
	t.Logf("child %s:\n%s", name, out)
	if err != nil {
		t.Fatalf("child %s: %v", name, err)
	}
	return string(out)
}

// TestNofile applies nofile 16 in a child, which then sees EMFILE on its
// 17th descriptor, and shows that a process it forks inherits the limit.
func TestNofile(t *testing.T) {
	runChild(t, "nofile")
}

func TestOOMScoreAdj(t *testing.T) {
	runChild(t, "oom")
}

func childNofile() int {
	var cur unix.Rlimit
	if err := unix.Prlimit(0, unix.RLIMIT_NOFILE, nil, &cur); err != nil {
		fmt.Println("getrlimit:", err)
		return 1
	}
	if err := Apply([]rlimit.Limit{{Resource: rlimit.NoFile, Soft: 16, Hard: cur.Max}}); err != nil {
		fmt.Println("apply:", err)
		return 1
	}
	failed := false

	// A forked process (not Go, which would raise its own soft limit to
	// the hard one) inherits soft limit 16.
	out, err := exec.Command("cat", "/proc/self/limits").Output()
	if err != nil {
		fmt.Println("cat /proc/self/limits:", err)
		return 1
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(strings.TrimPrefix(line, "Max open files")); len(f) >= 2 && strings.HasPrefix(line, "Max open files") {
			fmt.Printf("forked process: soft %s, hard %s\n", f[0], f[1])
			if f[0] != "16" || f[1] != strconv.FormatUint(cur.Max, 10) {
				fmt.Printf("FAIL: want soft 16, hard %d\n", cur.Max)
				failed = true
			}
		}
	}

	opened := 0
	var err2 error
	for range 64 {
		if _, err2 = unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0); err2 != nil {
			break
		}
		opened++
	}
	inUse := 0
	for fd := range 32 {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			inUse++
		}
	}
	fmt.Printf("opened %d more; %d descriptors in use; the next open: %v\n", opened, inUse, err2)
	if err2 != unix.EMFILE || inUse != 16 {
		fmt.Println("FAIL: want EMFILE once 16 descriptors (0-15) are in use")
		failed = true
	}
	// Lowering the hard limit too.
	if err := Apply([]rlimit.Limit{{Resource: rlimit.NoFile, Soft: 16, Hard: 16}}); err != nil {
		fmt.Println("FAIL apply nofile=16:", err)
		failed = true
	} else if err := unix.Prlimit(0, unix.RLIMIT_NOFILE, nil, &cur); err != nil || cur.Cur != 16 || cur.Max != 16 {
		fmt.Printf("FAIL after nofile=16: %+v %v\n", cur, err)
		failed = true
	}
	if failed {
		return 1
	}
	return 0
}

func childOOM() int {
	failed := false
	check := func(what string, ok bool) {
		if ok {
			fmt.Println("ok  ", what)
		} else {
			fmt.Println("FAIL", what)
			failed = true
		}
	}
	err := OOMScoreAdj(500)
	check(fmt.Sprintf("OOMScoreAdj(500): %v", err), err == nil)
	out, err := exec.Command("cat", "/proc/self/oom_score_adj").Output()
	check(fmt.Sprintf("a forked process inherits it: %q %v", out, err), string(out) == "500\n")

	err = OOMScoreAdj(-1000)
	if hasCap(unix.CAP_SYS_RESOURCE) {
		check(fmt.Sprintf("with CAP_SYS_RESOURCE, OOMScoreAdj(-1000): %v", err), err == nil)
	} else {
		check(fmt.Sprintf("without CAP_SYS_RESOURCE, OOMScoreAdj(-1000): %v", err),
			errors.Is(err, unix.EACCES) && strings.Contains(err.Error(), "needs CAP_SYS_RESOURCE"))
	}
	if failed {
		return 1
	}
	return 0
}

// hasCap reports whether the process has capability c in its effective
// set (root may lack some, as in containers).
func hasCap(c int) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[c/32].Effective&(1<<(c%32)) != 0
}
