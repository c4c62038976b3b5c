package spec

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics and that every failure is an
// ErrorList of errors that each have a line, a column and a message.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/valid/*.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "")
		f.Add(data, "filesystem.mounts[+]={type: tmpfs, target: /scratch}")
	}
	f.Add([]byte(setBase), "process.args=[sh, -c, 'echo hi']")
	f.Add([]byte(setBase), "filesystem.mounts[1].target=/${env:X:-y}")
	f.Add([]byte(hdr+"a: &a [*a]\nprocess: &p {args: *p}\n"), "process.args[0]=x")
	f.Add([]byte(hdr+"<<: {name: x}\nids: {uid: ${UID}, groups: [-1]}\n"), "ids.uidMap[+]={inside: 0, count: 1}")
	f.Add([]byte("---\n---\n"), "=")
	f.Add([]byte(""), "a[")
	vars := testVars
	f.Fuzz(func(t *testing.T, data []byte, set string) {
		var sets []string
		if set != "" {
			sets = []string{set}
		}
		p, err := Parse("f.yaml", data, Options{Vars: vars, Sets: sets})
		if err == nil {
			if p == nil {
				t.Fatal("no profile and no error")
			}
			return
		}
		if p != nil {
			t.Fatal("a profile and an error")
		}
		var l ErrorList
		if !errors.As(err, &l) || len(l) == 0 {
			t.Fatalf("error is %T, not a non-empty ErrorList: %v", err, err)
		}
		for _, e := range l {
			if e.Pos.Line <= 0 || e.Pos.Col <= 0 || e.Msg == "" {
				t.Errorf("error without a line, column or message: %#v", e)
			}
		}
	})
}
