package devfilter

import (
	"fmt"
	"os"
	"testing"

	"github.com/cellsandbox/cell/launcher/plan"
)

// attachEnv names the cgroup that the re-executed test binary attaches a
// program to (TestAttachUnprivileged), instead of running the tests.
const attachEnv = "CELL_DEVFILTER_ATTACH"

func TestMain(m *testing.M) {
	if dir := os.Getenv(attachEnv); dir != "" {
		err := Attach(dir, []plan.DeviceRule{{Type: 'c', Major: 1, Minor: 3, Access: "rwm"}})
		fmt.Println(err)
		os.Exit(0)
	}
	os.Exit(m.Run())
}
