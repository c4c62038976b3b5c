package plan

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

// BenchmarkDecode measures what init does with the plan it receives:
// decode and check the default profile's plan (root), as compact JSON.
func BenchmarkDecode(b *testing.B) {
	indented, err := os.ReadFile("../../internal/compile/testdata/default.root.json")
	if err != nil {
		b.Fatal(err)
	}
	var in bytes.Buffer
	if err := json.Compact(&in, indented); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(in.Len()))
	for b.Loop() {
		if _, err := Decode(in.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
}
