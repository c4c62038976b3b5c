package proc

import (
	"strings"
	"testing"
)

// TestLogCapped feeds the reader of the proxy's decisions more than
// MaxLog of them: the log stops at MaxLog with a line that says so, and
// every denial is counted.
func TestLogCapped(t *testing.T) {
	line := `{"time":"2026-01-01T00:00:00Z","via":"dns","name":"` + strings.Repeat("x", 200) + `.test","allowed":false,"rule":"p:1:1"}` + "\n"
	n := MaxLog/len(line) + 100
	var log strings.Builder
	pr := &Process{done: make(chan struct{})}
	pr.read(strings.NewReader(strings.Repeat(line, n)), &log, nil)
	if log.Len() > MaxLog+200 || !strings.HasSuffix(log.String(), "later decisions are counted only\"}\n") {
		t.Errorf("log of %d bytes ends %q", log.Len(), log.String()[max(0, log.Len()-120):])
	}
	if pr.Denied() != int64(n) {
		t.Errorf("denied %d, want %d", pr.Denied(), n)
	}
}
