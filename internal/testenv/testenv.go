// Package testenv holds what the privileged tests of several packages
// need from the machine: root, and the unprivileged user celltest that
// .ci/run creates (with a subordinate range) for the rootless tests. A
// test that cannot have them skips, with the reason, except under
// CELL_TEST_STRICT (as in CI), where it fails: there every privileged
// test must run.
package testenv

import (
	"os"
	"os/user"
	"strconv"
	"testing"
)

// OtherUser is the name of the unprivileged test user.
const OtherUser = "celltest"

// Skip skips the test with why, or fails it under CELL_TEST_STRICT.
func Skip(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CELL_TEST_STRICT") != "" {
		t.Fatalf("%s, and CELL_TEST_STRICT forbids skipping", why)
	}
	t.Skip(why)
}

// Root skips the test (see Skip) unless it runs as root.
func Root(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "needs root (CI runs it as root)")
	}
}

// Other returns the uid and gid of the user celltest, or skips (see
// Skip) where there is none.
func Other(t testing.TB) (uid, gid uint32) {
	t.Helper()
	u, err := user.Lookup(OtherUser)
	if err != nil {
		Skip(t, "no user "+OtherUser+" (.ci/run creates it)")
	}
	id, err1 := strconv.ParseUint(u.Uid, 10, 32)
	g, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		t.Fatalf("user %s: uid %q, gid %q", OtherUser, u.Uid, u.Gid)
	}
	return uint32(id), uint32(g)
}
