package sandbox

import (
	"strings"
	"testing"

	"github.com/cellsandbox/cell/launcher/plan"
)

// TestTeardownDetached: a detached sandbox's teardown runs only the
// cleanup it can run from another process; a network's or a lease's
// step is refused before anything runs, and so is such a plan at create.
func TestTeardownDetached(t *testing.T) {
	ok := &plan.Plan{Cleanup: []plan.Step{{Side: plan.Parent, Do: &plan.CgroupKill{}}, {Side: plan.Parent, Do: &plan.CgroupRemove{}}}}
	if err := CheckDetached(ok); err != nil {
		t.Errorf("cgroup cleanup refused: %v", err)
	}
	if err := Teardown(ok); err != nil {
		t.Errorf("teardown of a plan without cgroups: %v", err)
	}
	for _, a := range []plan.Action{&plan.LeaseRelease{}, &plan.IDRelease{}, &plan.NftDelete{}, &plan.UserNetStop{}} {
		p := &plan.Plan{Cleanup: []plan.Step{{Side: plan.Parent, Do: &plan.CgroupKill{}}, {Side: plan.Parent, Do: a}}}
		if err := CheckDetached(p); err == nil || !strings.Contains(err.Error(), "cleanup step 2 ("+a.Op().String()+")") {
			t.Errorf("%s: CheckDetached = %v, want it refused", a.Op(), err)
		}
		if err := Teardown(p); err == nil {
			t.Errorf("%s: Teardown ran it", a.Op())
		}
	}
}
