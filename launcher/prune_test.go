package launcher

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// TestPlanCachePruneConcurrent stores from many launches at once into a
// full cache, as concurrent `cell run`s do: entries vanish under a
// prune's feet and other writers' temporary files come and go, and
// neither may crash a launch or fail its store.
func TestPlanCachePruneConcurrent(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 150 {
				c := &planCache{dir: dir, euid: os.Geteuid(), key: fmt.Sprintf("%02d%04d", w, i)}
				if err := c.store(&cacheEntry{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) > maxEntries {
		t.Errorf("%d entries left, want at most %d", len(ents), maxEntries)
	}
}
