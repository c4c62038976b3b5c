package spec

import (
	"os"
	"testing"
)

func BenchmarkParseFull(b *testing.B) {
	data, err := os.ReadFile("testdata/valid/full.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Parse("full.yaml", data, Options{Vars: testVars}); err != nil {
			b.Fatal(err)
		}
	}
}
