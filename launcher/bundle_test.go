package launcher

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cellsandbox/cell/spec/oci"
)

// TestBundleConfig checks that Open tells bundles from profiles as
// spec/oci does, which the lean build cannot link.
func TestBundleConfig(t *testing.T) {
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle")
	os.Mkdir(bundle, 0o755)
	os.WriteFile(filepath.Join(bundle, "config.json"), []byte("{}"), 0o644)
	os.Mkdir(filepath.Join(dir, "empty"), 0o755)
	os.WriteFile(filepath.Join(dir, "p.yaml"), []byte("apiVersion: cell/v1\n"), 0o644)
	for _, path := range []string{
		bundle, filepath.Join(bundle, "config.json"), filepath.Join(dir, "empty"),
		filepath.Join(dir, "p.yaml"), filepath.Join(dir, "missing"), "config.json", "default",
	} {
		wc, wok := oci.Bundle(path)
		gc, gok := bundleConfig(path)
		if wc != gc || wok != gok {
			t.Errorf("bundleConfig(%q) = %q, %t; oci.Bundle: %q, %t", path, gc, gok, wc, wok)
		}
	}
}
