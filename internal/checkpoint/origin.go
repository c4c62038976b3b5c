package checkpoint

import (
	"github.com/cellsandbox/cell/internal/state"
)

// Load reads and checks the checkpoint in dir (Read) and returns what
// cell restore does with it, for a sandbox named name ("" keeps the
// checkpointed one's). cell plan --restore prints this plan and cell
// restore runs this plan: both come from here.
func Load(dir, name string) (*RestorePlan, error) {
	m, pl, err := Read(dir)
	if err != nil {
		return nil, err
	}
	if name != "" {
		if err := state.ValidName(name); err != nil {
			return nil, err
		}
	}
	return RestorePlanOf(m, Rename(pl, name), dir), nil
}
