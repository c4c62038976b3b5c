package sibling

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildID compares BuildID with `go tool buildid` on this test's own
// binary.
func TestBuildID(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	got, err := BuildID(self)
	if err != nil {
		t.Fatal(err)
	}
	gocmd, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CELL_TEST_STRICT") == "1" {
			t.Fatal("the go command, which prints the build ID:", err)
		}
		t.Skip("needs the go command:", err)
	}
	out, err := exec.Command(gocmd, "tool", "buildid", self).Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(string(out)); got != want {
		t.Errorf("BuildID = %q, go tool buildid says %q", got, want)
	}
	if _, err := BuildID("/proc/self/status"); err == nil {
		t.Error("BuildID of a file that is not ELF: no error")
	}
}

func TestSafe(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	self := filepath.Join(dir, "cell")
	other := filepath.Join(dir, "cell-tools")
	for _, p := range []string{self, other} {
		if err := os.WriteFile(p, []byte("x"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if why := Safe(self, other); why != "" {
		t.Errorf("Safe of a sibling with cell's owner and mode: %s", why)
	}
	os.Chmod(other, 0o775)
	if why := Safe(self, other); !strings.Contains(why, "writable by its group") {
		t.Errorf("group-writable: %q", why)
	}
	os.Chmod(other, 0o644)
	if why := Safe(self, other); !strings.Contains(why, "not an executable") {
		t.Errorf("not executable: %q", why)
	}
	os.Chmod(other, 0o755)
	os.Chmod(dir, 0o777)
	if why := Safe(self, other); !strings.Contains(why, "another user") {
		t.Errorf("world-writable directory: %q", why)
	}
	os.Chmod(dir, 0o755)
	if why := Safe(self, filepath.Join(dir, "missing")); !strings.Contains(why, "no missing beside") {
		t.Errorf("missing: %q", why)
	}
}
