package spec

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite generated files (schemas/profile.v1.schema.json)")

const schemaFile = "../schemas/profile.v1.schema.json"

// TestSchemaUpToDate fails when the checked-in schema is not what
// JSONSchema generates; -update rewrites it.
func TestSchemaUpToDate(t *testing.T) {
	got, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(schemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatalf("%v (run go test ./spec -run Schema -update)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s is stale; run go test ./spec -run Schema -update (-want +got):\n%s", schemaFile, diff)
	}
}

// compileSchema compiles the checked-in schema.
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("profile.v1.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("profile.v1.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// yamlToJSON reads YAML the way an editor's YAML plugin does and returns
// the value as the schema validator wants it.
func yamlToJSON(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// readmeProfiles returns the YAML blocks of README.md that are profiles.
func readmeProfiles(t *testing.T) map[string][]byte {
	t.Helper()
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]byte)
	blocks := strings.Split(string(data), "```yaml\n")
	for i, b := range blocks[1:] {
		body, _, _ := strings.Cut(b, "```")
		if strings.Contains(body, "apiVersion: cell/v1") {
			out[fmt.Sprintf("README.md block %d", i+1)] = []byte(body)
		}
	}
	if len(out) == 0 {
		t.Fatal("no profile in README.md")
	}
	return out
}

// TestSchemaValidates checks the valid examples, every built-in profile
// and the README's profiles against the schema with an independent
// validator.
func TestSchemaValidates(t *testing.T) {
	s := compileSchema(t)
	files, err := filepath.Glob("testdata/valid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no valid profiles: %v", err)
	}
	builtins, err := filepath.Glob("../profiles/*.yaml")
	if err != nil || len(builtins) < 9 {
		t.Fatalf("found %d built-in profiles: %v", len(builtins), err)
	}
	docs := readmeProfiles(t)
	for _, file := range append(files, builtins...) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		docs[file] = data
	}
	for name, data := range docs {
		t.Run(name, func(t *testing.T) {
			if err := s.Validate(yamlToJSON(t, data)); err != nil {
				t.Errorf("schema rejects a valid profile: %v", err)
			}
			if strings.HasPrefix(name, "README") && !strings.Contains(string(data), "\nextends:") {
				if _, err := Parse(name, data, Options{Vars: testVars}); err != nil {
					t.Errorf("Parse rejects the README's profile:\n%v", err)
				}
			}
			if strings.HasPrefix(name, "../profiles/") && !strings.HasPrefix(string(data), "# yaml-language-server: $schema=../schemas/profile.v1.schema.json\n") {
				t.Errorf("a built-in profile must start with the yaml-language-server line naming the schema")
			}
		})
	}
}

func TestSchemaRejects(t *testing.T) {
	s := compileSchema(t)
	for _, tc := range []struct {
		name, src, want string
	}{
		{"unknown top-level key", "apiVersion: cell/v1\nname: x\nhostnme: y\n", "hostnme"},
		{"unknown mount key", "apiVersion: cell/v1\nname: x\nfilesystem:\n  mounts:\n    - {type: tmpfs, target: /t, sise: 1}\n", "sise"},
		{"missing name", "apiVersion: cell/v1\n", "name"},
		{"wrong apiVersion", "apiVersion: cell/v2\nname: x\n", "cell/v1"},
		{"bad mount type", "apiVersion: cell/v1\nname: x\nfilesystem:\n  mounts:\n    - {type: nfs, target: /t}\n", "nfs"},
		{"uid too large", "apiVersion: cell/v1\nname: x\nids: {uid: 4294967296}\n", "maximum"},
		{"relative target", "apiVersion: cell/v1\nname: x\nfilesystem:\n  mounts:\n    - {type: tmpfs, target: t}\n", "/target"},
		{"bad env name", "apiVersion: cell/v1\nname: x\nprocess: {env: {1A: x}}\n", "1A"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Validate(yamlToJSON(t, []byte(tc.src)))
			if err == nil {
				t.Fatal("schema accepts an invalid profile")
			}
			if _, perr := Parse("bad.yaml", []byte(tc.src), Options{Vars: testVars}); perr == nil {
				t.Error("Parse accepts a profile the schema rejects")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error does not mention %q:\n%v", tc.want, err)
			}
		})
	}
}

// TestValidProfilesParse checks that the schema's positive examples are
// valid profiles for Parse too.
func TestValidProfilesParse(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid/*.yaml")
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Parse(file, data, Options{Vars: testVars}); err != nil {
				t.Errorf("Parse:\n%v", err)
			}
		})
	}
}

// TestSchemaClosed checks that every object in the schema that lists its
// properties forbids others.
func TestSchemaClosed(t *testing.T) {
	data, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	var root any
	if err := json.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	objects := 0
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if _, ok := v["properties"]; ok {
				objects++
				if v["additionalProperties"] != false {
					t.Errorf("%s: additionalProperties is %v, not false", path, v["additionalProperties"])
				}
			}
			for k, c := range v {
				walk(path+"/"+k, c)
			}
		case []any:
			for i, c := range v {
				walk(fmt.Sprintf("%s/%d", path, i), c)
			}
		}
	}
	walk("#", root)
	if objects < 9 {
		t.Errorf("found %d objects with properties, want at least 9", objects)
	}
}

// TestSchemaDocumented checks that every field of the schema has a
// description and at least one example, and that no documentation is
// left for a field that is gone.
func TestSchemaDocumented(t *testing.T) {
	data, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	var root any
	if err := json.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]bool)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		if props, ok := m["properties"].(map[string]any); ok {
			for k, p := range props {
				fp := k
				if path != "" {
					fp = path + "." + k
				}
				seen[fp] = true
				pm := p.(map[string]any)
				if d, _ := pm["description"].(string); d == "" {
					t.Errorf("%s has no description (add one to fieldDocs in spec/schemadoc.go)", fp)
				}
				if ex, _ := pm["examples"].([]any); len(ex) == 0 {
					t.Errorf("%s has no example (add one to fieldDocs in spec/schemadoc.go)", fp)
				}
				walk(fp, p)
			}
		}
		for _, key := range []string{"items", "additionalProperties"} {
			walk(path, m[key])
		}
		if any, ok := m["anyOf"].([]any); ok {
			for _, a := range any {
				walk(path, a)
			}
		}
	}
	walk("", root)
	for fp := range fieldDocs {
		if !seen[fp] {
			t.Errorf("fieldDocs documents %s, which the schema does not have", fp)
		}
	}
}
