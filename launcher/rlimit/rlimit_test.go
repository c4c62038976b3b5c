package rlimit

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestParse(t *testing.T) {
	want := map[string]int{
		"nofile": unix.RLIMIT_NOFILE, "nproc": unix.RLIMIT_NPROC, "core": unix.RLIMIT_CORE,
		"as": unix.RLIMIT_AS, "cpu": unix.RLIMIT_CPU, "fsize": unix.RLIMIT_FSIZE,
		"data": unix.RLIMIT_DATA, "stack": unix.RLIMIT_STACK, "memlock": unix.RLIMIT_MEMLOCK,
		"msgqueue": unix.RLIMIT_MSGQUEUE, "nice": unix.RLIMIT_NICE, "rtprio": unix.RLIMIT_RTPRIO,
		"rttime": unix.RLIMIT_RTTIME, "sigpending": unix.RLIMIT_SIGPENDING, "locks": unix.RLIMIT_LOCKS,
	}
	if len(Names()) != len(want) {
		t.Errorf("Names() = %v, want the %d resources", Names(), len(want))
	}
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			r, err := Parse(name)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.String(); got != name {
				t.Errorf("String() = %q", got)
			}
			if r.Number() != want[name] {
				t.Errorf("Number() = %d, want %d", r.Number(), want[name])
			}
			if got, w := r.Macro(), "RLIMIT_"+strings.ToUpper(name); got != w {
				t.Errorf("Macro() = %q, want %q", got, w)
			}
			b, err := r.MarshalText()
			if err != nil {
				t.Fatal(err)
			}
			var back Resource
			if err := back.UnmarshalText(b); err != nil || back != r {
				t.Errorf("text round trip: %v, %v", back, err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	_, err := Parse("nofiles")
	want := `unknown resource limit "nofiles" (valid: nofile, nproc, core, as, cpu, fsize, data, stack, memlock, msgqueue, nice, rtprio, rttime, sigpending, locks)`
	if err == nil || err.Error() != want {
		t.Errorf("Parse(nofiles) = %v\nwant %s", err, want)
	}
	var zero Resource
	if zero.Valid() || zero.String() != "Resource(0)" || zero.Number() != -1 || zero.Unit() != "?" {
		t.Errorf("the zero Resource is %v, valid %v, number %d: it must be invalid, not RLIMIT_CPU", zero, zero.Valid(), zero.Number())
	}
	if _, err := zero.MarshalText(); err == nil {
		t.Error("MarshalText of the zero Resource did not fail")
	}
}

func TestParseValue(t *testing.T) {
	for _, tc := range []struct {
		r    Resource
		in   string
		want uint64
		err  string
	}{
		{NoFile, "1024", 1024, ""},
		{NoFile, "0", 0, ""},
		{NoFile, "unlimited", Unlimited, ""},
		{CPU, "infinity", Unlimited, ""},
		{AS, "4Gi", 4 << 30, ""},
		{MemLock, "64Ki", 64 << 10, ""},
		{Stack, "8Mi", 8 << 20, ""},
		{FSize, "1Ti", 1 << 40, ""},
		{AS, "18446744073709551615", Unlimited, ""},
		{NoFile, "1Ki", 0, `nofile: "1Ki": a size suffix only fits a limit in bytes; nofile counts count`},
		{CPU, "10Mi", 0, `cpu: "10Mi": a size suffix only fits a limit in bytes; cpu counts seconds`},
		{AS, "16777216Ti", 0, `as: "16777216Ti" is too large`},
		{NoFile, "-1", 0, `nofile: "-1" is not a number or "unlimited"`},
		{NoFile, "+1", 0, `nofile: "+1" is not a number or "unlimited"`},
		{NoFile, "", 0, `nofile: "" is not a number or "unlimited"`},
		{AS, "Mi", 0, `as: "Mi" is not a number or "unlimited"`},
		{NoFile, "1k", 0, `nofile: "1k" is not a number or "unlimited"`},
		{NoFile, "Unlimited", 0, `nofile: "Unlimited" is not a number or "unlimited"`},
	} {
		t.Run(tc.r.String()+"="+tc.in, func(t *testing.T) {
			got, err := tc.r.ParseValue(tc.in)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Errorf("error = %v\nwant %s", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("= %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestParseLimit(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   Limit
		str    string // String(), when it differs from in
		call   string
		errStr string
	}{
		{in: "nofile=1024:4096", want: Limit{NoFile, 1024, 4096}, call: "prlimit(0, RLIMIT_NOFILE, {1024, 4096})"},
		{in: "core=0", want: Limit{Core, 0, 0}, call: "prlimit(0, RLIMIT_CORE, {0, 0})"},
		{in: "as=4Gi", want: Limit{AS, 4 << 30, 4 << 30}, str: "as=4294967296", call: "prlimit(0, RLIMIT_AS, {4294967296, 4294967296})"},
		{in: "cpu=10:unlimited", want: Limit{CPU, 10, Unlimited}, call: "prlimit(0, RLIMIT_CPU, {10, unlimited})"},
		{in: "stack=unlimited", want: Limit{Stack, Unlimited, Unlimited}, call: "prlimit(0, RLIMIT_STACK, {unlimited, unlimited})"},
		{in: "nofile=4096:1024", errStr: "nofile: soft limit 4096 is above the hard limit 1024"},
		{in: "nofile=unlimited:1024", errStr: "nofile: soft limit unlimited is above the hard limit 1024"},
		{in: "nofile", errStr: `resource limit "nofile": want name=value or name=soft:hard`},
		{in: "files=1", errStr: `unknown resource limit "files" (valid: nofile, nproc, core, as, cpu, fsize, data, stack, memlock, msgqueue, nice, rtprio, rttime, sigpending, locks)`},
		{in: "nofile=1:x", errStr: `nofile: "x" is not a number or "unlimited"`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseLimit(tc.in)
			if tc.errStr != "" {
				if err == nil || err.Error() != tc.errStr {
					t.Errorf("error = %v\nwant %s", err, tc.errStr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			str := tc.str
			if str == "" {
				str = tc.in
			}
			if got.String() != str {
				t.Errorf("String() = %q, want %q", got.String(), str)
			}
			if got.Call() != tc.call {
				t.Errorf("Call() = %q, want %q", got.Call(), tc.call)
			}
			back, err := ParseLimit(got.String())
			if err != nil || back != got {
				t.Errorf("ParseLimit(String()) = %v, %v", back, err)
			}
		})
	}
}

func TestLimitJSON(t *testing.T) {
	l := Limit{Resource: NoFile, Soft: 16, Hard: Unlimited}
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"resource":"nofile","soft":16,"hard":18446744073709551615}`; string(b) != want {
		t.Errorf("json %s, want %s", b, want)
	}
	var back Limit
	if err := json.Unmarshal(b, &back); err != nil || back != l {
		t.Errorf("round trip: %v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"resource":"nofiles"}`), &back); err == nil {
		t.Error("unknown resource in JSON accepted")
	}
}

// TestApplyChecksFirst shows that Apply refuses a bad list before it sets
// anything.
func TestApplyChecksFirst(t *testing.T) {
	var before unix.Rlimit
	if err := unix.Prlimit(0, unix.RLIMIT_CORE, nil, &before); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ls   []Limit
		want string
	}{
		{"twice", []Limit{{Core, 0, 0}, {NoFile, 64, 64}, {NoFile, 32, 32}}, "nofile: limited twice"},
		{"soft above hard", []Limit{{Core, 0, 0}, {NoFile, 64, 32}}, "nofile: soft limit 64 is above the hard limit 32"},
		{"invalid", []Limit{{Core, 0, 0}, {}}, "invalid resource 0"},
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
	err = Apply([]Limit{{NoFile, 16, nrOpen + 1}})
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
	if err := Apply([]Limit{{NoFile, 16, cur.Max}}); err != nil {
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
	if err := Apply([]Limit{{NoFile, 16, 16}}); err != nil {
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
