package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// The JSON Schema is read by editors (JavaScript's RegExp), by validators
// in other languages and by cell's own tests (RE2). These tests check that
// it means the same thing to all of them as Parse does.

// schemaPatterns returns every "pattern" in the checked-in schema.
func schemaPatterns(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var root any
	if err := json.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if p, ok := c.(string); ok && k == "pattern" {
					out = append(out, p)
					continue
				}
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(root)
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) < 5 {
		t.Fatalf("found %d patterns in the schema, want more", len(out))
	}
	return out
}

// portableRegexp reports why p is outside the syntax that RE2 and
// ECMA-262 (with the u flag, as editors compile JSON Schema patterns) read
// alike, or "" if it is inside: literals, escaped syntax characters, the
// classes \d \w \s and their negations, bracket classes, groups with no
// "?" but "(?:", the quantifiers * + ? {n} {n,} {n,m} (and lazy ones),
// anchors ^ and $, and |. Inline flags such as (?i), named groups, \A, \z,
// \Q, \p{...} and [[:alpha:]] are each valid in only one of the two.
func portableRegexp(p string) string {
	const syntax = `^$\.*+?()[]{}|/`
	inClass := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\':
			if i+1 == len(p) {
				return "a trailing backslash"
			}
			i++
			e := p[i]
			switch {
			case strings.IndexByte("dDwWsS", e) >= 0:
			case strings.IndexByte("ntrfv", e) >= 0:
			case !inClass && strings.IndexByte("bB", e) >= 0:
			case strings.IndexByte(syntax, e) >= 0:
			case inClass && e == '-':
			default:
				return fmt.Sprintf(`the escape \%c at %d`, e, i-1)
			}
		case inClass:
			switch {
			case c == ']':
				inClass = false
			case c == '[':
				return fmt.Sprintf("a [ inside a class at %d (a POSIX class, or a literal that the u flag refuses)", i)
			}
		case c == '[':
			inClass = true
			if strings.HasPrefix(p[i+1:], "^") {
				i++
			}
			if strings.HasPrefix(p[i+1:], "]") {
				return fmt.Sprintf("an empty class or a leading ] at %d", i)
			}
		case c == '(' && strings.HasPrefix(p[i+1:], "?"):
			if !strings.HasPrefix(p[i+1:], "?:") {
				return fmt.Sprintf("the group syntax %q at %d (inline flags, named or lookaround groups)", p[i:min(i+4, len(p))], i)
			}
		case c == '{':
			// Only a quantifier: ECMA-262's u flag refuses a literal {.
			j := strings.IndexByte(p[i:], '}')
			if j < 0 || !regexp.MustCompile(`^\{[0-9]+(,[0-9]*)?\}$`).MatchString(p[i:i+j+1]) || i == 0 {
				return fmt.Sprintf("a { at %d that is not a quantifier", i)
			}
			i += j
		case c == '}' || c == ']':
			return fmt.Sprintf("an unescaped %c at %d", c, i)
		case c >= 0x80:
			return fmt.Sprintf("a non-ASCII byte at %d", i)
		}
	}
	if inClass {
		return "an unclosed class"
	}
	return ""
}

func TestPortableRegexp(t *testing.T) {
	for p, ok := range map[string]bool{
		`^[a-z0-9][a-z0-9._-]{0,62}$`:      true,
		`\$\{[^}]+\}`:                      true,
		`^([Cc][Aa][Pp]_)?[A-Za-z_]+$`:     true,
		`^(?:a|b)+?\S\d$`:                  true,
		`^(?i)(CAP_)?[A-Z_]+$`:             false, // the old capability pattern
		`(?P<n>a)`:                         false,
		`\Aa\z`:                            false,
		`[[:alpha:]]`:                      false,
		`\p{L}`:                            false,
		`a{`:                               false,
		`a\-b`:                             false,
		`[a-]`:                             true,
		`(?=a)`:                            false,
		"é":                                false,
		`^[0-9]+(Ki|Mi|Gi|Ti|k|K|M|G|T)?$`: true,
		`^[0-9]{1,5}(:[0-9]{1,5})?(/(tcp|udp))?$`: true,
	} {
		if why := portableRegexp(p); (why == "") != ok {
			t.Errorf("portableRegexp(%q) = %q, want portable %v", p, why, ok)
		}
	}
}

// TestSchemaPatternsPortable compiles every pattern of the schema with
// Go's regexp (RE2), checks that it keeps to the syntax ECMA-262 reads the
// same way, and, where node is installed, compiles it with JavaScript's
// RegExp as editors do.
func TestSchemaPatternsPortable(t *testing.T) {
	pats := schemaPatterns(t)
	for _, p := range pats {
		if _, err := regexp.Compile(p); err != nil {
			t.Errorf("pattern %q: RE2: %v", p, err)
		}
		if why := portableRegexp(p); why != "" {
			t.Errorf("pattern %q: not portable to ECMA-262: %s", p, why)
		}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Log("node is not installed: patterns not compiled with JavaScript's RegExp (the portability rule above still applies)")
		return
	}
	js, _ := json.Marshal(pats)
	out, err := exec.Command(node, "-e", `for (const p of `+string(js)+`) {
		try { new RegExp(p, "u") } catch (e) { console.log(p + ": " + e.message) }
	}`).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("JavaScript's RegExp refuses patterns of the schema: %v\n%s", err, out)
	}
}

// profileJSON returns the profile src as JSON, read by yaml.v3 (YAML 1.2,
// as Parse reads it): the one document both schema validators are given.
func profileJSON(t *testing.T, src []byte) []byte {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(src, &v); err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("as JSON: %v", err)
	}
	return j
}

// schemaCase is a profile and whether it is valid. loose, if set, says
// why the schema cannot see what makes it invalid: the schema is given
// JSON, which keeps no quotes and no digits of a YAML number.
type schemaCase struct {
	name  string
	src   string
	valid bool
	loose string
}

// Why the schema accepts what Parse refuses.
const (
	quotesUnseen = "quotes are not in the JSON: a YAML 1.2 reader gives the schema the string either way"
	digitsUnseen = "a YAML number's digits are not in the JSON, only its value"
	acrossFields = "a rule that spans a rule's fields (to or domain, domain and proto), which Parse checks"
)

// schemaCorpus is profiles at the edges of what the schema says: YAML's
// implicit types (booleans, yes and no, numbers, nulls) where a string, a
// boolean or a number is expected, the spellings of capabilities, sizes
// and modes, and variables.
func schemaCorpus() []schemaCase {
	const egress = "network: {mode: none, egress: {default: deny, allow: ["
	const h = "apiVersion: cell/v1\nname: x\n"
	mnt := func(m string) string { return h + "filesystem:\n  mounts:\n    - " + m + "\n" }
	caps := func(c string) string { return h + "security:\n  capabilities: " + c + "\n" }
	env := func(v string) string { return h + "process:\n  env: {X: " + v + "}\n" }
	return []schemaCase{
		{"minimal", h, true, ""},
		{"env string", env("hello"), true, ""},
		{"env quoted true", env(`"true"`), true, ""},
		{"env true", env("true"), false, ""},
		{"env false", env("false"), false, ""},
		{"env yes", env("yes"), false, quotesUnseen},
		{"env quoted yes", env(`"yes"`), true, ""},
		{"env on", env("on"), false, quotesUnseen},
		{"env No", env("No"), false, quotesUnseen},
		{"env y", env("y"), false, quotesUnseen},
		{"env number", env("8080"), false, ""},
		{"env quoted number", env(`"8080"`), true, ""},
		{"env float", env("1.5"), false, ""},
		{"env null", env("~"), true, ""},
		{"env empty", env(`""`), true, ""},
		{"env list", env("[a]"), false, ""},
		{"env variable", env(`"${HOME}"`), true, ""},
		{"hostname number", h + "hostname: 42\n", false, ""},
		{"hostname quoted number", h + "hostname: \"42\"\n", true, ""},
		{"hostname true", h + "hostname: true\n", false, ""},
		{"hostname off", h + "hostname: off\n", false, quotesUnseen},
		{"description number", h + "description: 1.0\n", false, ""},
		{"name number", "apiVersion: cell/v1\nname: 1\n", false, ""},
		{"name quoted number", "apiVersion: cell/v1\nname: \"1\"\n", true, ""},
		{"args numbers", h + "process: {args: [sleep, 10]}\n", false, ""},
		{"args quoted", h + "process: {args: [sleep, \"10\"]}\n", true, ""},
		{"passEnv yes", h + "process: {passEnv: [yes]}\n", false, quotesUnseen},
		{"readOnly true", h + "filesystem: {root: {readOnly: true}}\n", true, ""},
		{"readOnly yes", h + "filesystem: {root: {readOnly: yes}}\n", false, ""},
		{"readOnly no", h + "filesystem: {root: {readOnly: no}}\n", false, ""},
		{"writable false", mnt("{type: bind, source: /a, target: /t, writable: false}"), true, ""},
		{"writable yes", mnt("{type: bind, source: /a, target: /t, writable: yes}"), false, ""},
		{"writable quoted true", mnt(`{type: bind, source: /a, target: /t, writable: "true"}`), false, ""},
		{"writable 1", mnt("{type: bind, source: /a, target: /t, writable: 1}"), false, ""},
		{"writable on", mnt("{type: bind, source: /a, target: /t, writable: on}"), false, ""},
		{"writable True", mnt("{type: bind, source: /a, target: /t, writable: True}"), true, ""},
		{"writable variable", mnt("{type: bind, source: /a, target: /t, writable: \"${env:W:-false}\"}"), true, ""},
		{"target number", mnt("{type: tmpfs, target: 5}"), false, ""},
		{"tmpfs size number", mnt("{type: tmpfs, target: /t, size: 65536}"), true, ""},
		{"tmpfs size quoted number", mnt(`{type: tmpfs, target: /t, size: "65536"}`), true, ""},
		{"tmpfs size unit", mnt("{type: tmpfs, target: /t, size: 64Mi}"), true, ""},
		{"tmpfs size bad unit", mnt("{type: tmpfs, target: /t, size: 64MB}"), false, ""},
		{"tmpfs size negative", mnt("{type: tmpfs, target: /t, size: -1}"), false, ""},
		{"tmpfs size float", mnt("{type: tmpfs, target: /t, size: 1.5}"), false, ""},
		{"tmpfs size true", mnt("{type: tmpfs, target: /t, size: true}"), false, ""},
		{"mode octal", mnt("{type: tmpfs, target: /t, mode: 0755}"), true, ""},
		{"mode 0o", mnt("{type: tmpfs, target: /t, mode: 0o755}"), true, ""},
		{"mode quoted", mnt(`{type: tmpfs, target: /t, mode: "1777"}`), true, ""},
		{"mode not octal", mnt("{type: tmpfs, target: /t, mode: 0800}"), false, digitsUnseen},
		{"mode too big", mnt("{type: tmpfs, target: /t, mode: 17777}"), false, ""},
		{"mode true", mnt("{type: tmpfs, target: /t, mode: true}"), false, ""},
		{"uid number", h + "ids: {uid: 1000}\n", true, ""},
		{"uid quoted", h + "ids: {uid: \"1000\"}\n", false, ""},
		{"uid float", h + "ids: {uid: 1.0}\n", false, digitsUnseen},
		{"uid negative", h + "ids: {uid: -1}\n", false, ""},
		{"uid true", h + "ids: {uid: true}\n", false, ""},
		{"uid variable", h + "ids: {uid: \"${UID}\"}\n", true, ""},
		{"capability upper", caps("[CAP_NET_RAW]"), true, ""},
		{"capability lower", caps("[cap_net_raw]"), true, ""},
		{"capability no prefix", caps("[net_raw]"), true, ""},
		{"capability mixed case", caps("[Cap_Net_Raw]"), true, ""},
		{"capability sets", caps("{bounding: [NET_RAW], ambient: [net_raw], inheritable: [CAP_NET_RAW]}"), true, ""},
		{"capability empty", caps("[]"), true, ""},
		{"capability digit", caps("[CAP_1]"), false, ""},
		{"capability unknown", caps("[CAP_NET_RAWS]"), false, ""},
		{"capability number", caps("[12]"), false, ""},
		{"capability yes", caps("[yes]"), false, ""},
		{"capability space", caps(`["NET RAW"]`), false, ""},
		{"namespace host", h + "namespaces: {uts: host}\n", true, ""},
		{"namespace yes", h + "namespaces: {net: yes}\n", false, ""},
		{"namespace true", h + "namespaces: {net: true}\n", false, ""},
		{"network none", h + "network: {mode: none}\n", true, ""},
		{"network off", h + "network: {mode: off}\n", false, ""},
		{"null section", h + "filesystem:\n", true, ""},
		{"null field", h + "hostname: null\n", true, ""},
		{"null list item", h + "process: {args: [a, ~]}\n", false, ""},
		{"null name", "apiVersion: cell/v1\nname:\n", false, ""},
		{"apiVersion number", "apiVersion: 1\nname: x\n", false, ""},
		{"unknown key", h + "hostnme: y\n", false, ""},
		{"cpus number", h + "resources: {cpu: {max: 1.5}}\n", true, ""},
		{"cpus string", h + "resources: {cpu: {max: \"1.5\"}}\n", true, ""},
		{"cpus max", h + "resources: {cpu: {max: max}}\n", true, ""},
		{"cpus yes", h + "resources: {cpu: {max: yes}}\n", false, ""},
		{"memory size", h + "resources: {memory: {max: 512Mi}}\n", true, ""},
		{"memory max", h + "resources: {memory: {max: max}}\n", true, ""},
		{"memory yes", h + "resources: {memory: {max: yes}}\n", false, ""},
		{"egress domain", h + egress + "{domain: example.com, ports: [443]}]}}\n", true, ""},
		{"egress wildcard", h + egress + "{domain: \"*.githubusercontent.com\"}]}}\n", true, ""},
		{"egress bare star", h + egress + "{domain: \"*\"}]}}\n", false, ""},
		{"egress inner star", h + egress + "{domain: \"a.*.example.com\"}]}}\n", false, ""},
		{"egress domain with a scheme", h + egress + "{domain: \"https://example.com\"}]}}\n", false, ""},
		{"egress domain trailing dot", h + egress + "{domain: \"example.com.\"}]}}\n", false, ""},
		{"egress domain too long", h + egress + "{domain: " + strings.Repeat("a.", 127) + "com}]}}\n", false, ""},
		{"egress to and domain", h + egress + "{to: 192.0.2.1, domain: example.com}]}}\n", false, acrossFields},
		{"egress neither", h + egress + "{ports: [443]}]}}\n", false, acrossFields},
		{"egress domain udp", h + egress + "{domain: example.com, proto: udp}]}}\n", false, acrossFields},
		{"egress domain address", h + egress + "{domain: 192.0.2.1}]}}\n", false, acrossFields},
		{"egress sni optional", h + egress + "{domain: example.com, sni: optional}]}}\n", true, ""},
		{"egress sni maybe", h + egress + "{domain: example.com, sni: maybe}]}}\n", false, ""},
		{"egress sni on an address", h + egress + "{to: 192.0.2.1, sni: optional}]}}\n", false, acrossFields},
	}
}

// pythonJSONSchema returns a python3 that has python-jsonschema (Debian's
// python3-jsonschema), or "" and why not.
func pythonJSONSchema() (string, string) {
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(py)
		if err != nil {
			continue
		}
		if exec.Command(path, "-c", "import jsonschema").Run() == nil {
			return path, ""
		}
	}
	return "", "no python3 with jsonschema (apt-get install python3-jsonschema)"
}

// TestSchemaAgreesWithParse validates every built-in profile, the valid
// examples, the README's profiles and a corpus of valid and invalid
// profiles with the Go validator, with python-jsonschema, and with Parse
// (what cell validate runs), and fails where any of them disagrees with
// the expected answer.
func TestSchemaAgreesWithParse(t *testing.T) {
	cases := schemaCorpus()
	builtins, _ := filepath.Glob("../profiles/*.yaml")
	valid, _ := filepath.Glob("testdata/valid/*.yaml")
	if len(builtins) < 9 || len(valid) == 0 {
		t.Fatalf("found %d built-in and %d valid profiles", len(builtins), len(valid))
	}
	for _, f := range append(builtins, valid...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, schemaCase{name: f, src: string(data), valid: true})
	}
	for name, data := range readmeProfiles(t) {
		cases = append(cases, schemaCase{name: name, src: string(data), valid: true})
	}

	s := compileSchema(t)
	dir := t.TempDir()
	verdict := make(map[string]map[string]string) // case, validator: "" or why not valid
	var files []string
	for i, c := range cases {
		v := make(map[string]string)
		verdict[c.name] = v
		j := profileJSON(t, []byte(c.src))
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
		if err != nil {
			t.Fatal(err)
		}
		v["go"] = errText(s.Validate(inst))
		if !strings.Contains(c.src, "\nextends:") {
			_, err = Parse("p.yaml", []byte(c.src), Options{Vars: testVars})
			v["parse"] = errText(err)
		}
		f := filepath.Join(dir, fmt.Sprintf("%03d.json", i))
		if err := os.WriteFile(f, j, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}

	if py, why := pythonJSONSchema(); py == "" {
		if os.Getenv("CELL_TEST_STRICT") != "" {
			t.Errorf("%s; CELL_TEST_STRICT forbids skipping the second validator", why)
		} else {
			t.Logf("python-jsonschema not run: %s", why)
		}
	} else {
		out, err := exec.Command(py, append([]string{"testdata/schema/validate.py", schemaFile}, files...)...).Output()
		if err != nil {
			stderr := ""
			if e, ok := err.(*exec.ExitError); ok {
				stderr = string(e.Stderr)
			}
			t.Fatalf("python-jsonschema: %v\n%s", err, stderr)
		}
		dec := json.NewDecoder(bytes.NewReader(out))
		for i := range cases {
			var r struct {
				File  string
				Valid bool
				Error string
			}
			if err := dec.Decode(&r); err != nil || r.File != files[i] {
				t.Fatalf("python-jsonschema's line %d: %v, %q (want %s)", i+1, err, r.File, files[i])
			}
			if r.Valid {
				r.Error = ""
			} else if r.Error == "" {
				r.Error = "invalid"
			}
			verdict[cases[i].name]["python"] = r.Error
		}
	}

	for _, c := range cases {
		for _, by := range []string{"parse", "go", "python"} {
			why, ok := verdict[c.name][by]
			valid := c.valid || (c.loose != "" && by != "parse")
			switch {
			case !ok:
			case valid && why != "":
				t.Errorf("%s: %s rejects a valid profile: %s", c.name, by, why)
			case !valid && why == "":
				t.Errorf("%s: %s accepts an invalid profile:\n%s", c.name, by, c.src)
			}
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
