package testenv

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// MountsUnder returns the mount points at or below dir in the test's
// mount namespace, in the order of /proc/self/mountinfo.
func MountsUnder(t testing.TB, dir string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) > 4 && (fs[4] == dir || strings.HasPrefix(fs[4], dir+"/")) {
			out = append(out, fs[4])
		}
	}
	return out
}

// UnmountUnderAtEnd unmounts, when the test ends, whatever is mounted at
// or below dir, the last mount first: a test that mounts in the host's
// mount namespace (as a sandbox without one of its own does) registers
// it before it mounts anything, so that no failure leaves a mount on the
// host.
func UnmountUnderAtEnd(t testing.TB, dir string) {
	t.Cleanup(func() {
		for _, m := range slices.Backward(MountsUnder(t, dir)) {
			_ = unix.Unmount(m, unix.MNT_DETACH)
		}
	})
}
