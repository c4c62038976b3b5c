package spec

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExpand(t *testing.T) {
	for _, tc := range []struct {
		name, value, want string
	}{
		{"HOME", "${HOME}/x", "/home/alice/x"},
		{"USER", "${USER}", "alice"},
		{"UID and GID", "${UID}:${GID}", "1000:100"},
		{"PWD", "${PWD}", "/home/alice/src"},
		{"env", "${env:TERM}", "xterm"},
		{"env default when unset", "${env:MISSING:-C.UTF-8}", "C.UTF-8"},
		{"env default when empty", "${env:EMPTY:-x}", "x"},
		{"env empty", "<${env:EMPTY}>", "<>"},
		{"env default with colons", "${env:MISSING:-a:b}", "a:b"},
		{"env default with a variable", "${env:MISSING:-${PWD}/out}", "/home/alice/src/out"},
		{"env default with an env default", "${env:MISSING:-${env:ALSO:-${USER}}}x", "alicex"},
		{"env set, default with a variable", "${env:TERM:-${PWD}/out}/y", "xterm/y"},
		{"env default with a literal brace", "${env:MISSING:-a$${b}c}", "a${b}c"},
		{"dollar dollar", "$$HOME $${USER}", "$HOME ${USER}"},
		{"dollar dollar before a variable", "$$${USER}", "$alice"},
		{"lone dollars", "cost $5, $ and $", "cost $5, $ and $"},
		{"several", "a${USER}b${UID}c", "aaliceb1000c"},
		{"single quotes expand too", "'${USER}'", "alice"},
		{"block scalar", "|\n  ${USER}\n", "alice\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse("p.yaml", []byte(hdr+"description: "+tc.value+"\n"), Options{Vars: testVars})
			if err != nil {
				t.Fatal(err)
			}
			if p.Description != tc.want {
				t.Errorf("got %q, want %q", p.Description, tc.want)
			}
		})
	}
}

func TestExpandTyped(t *testing.T) {
	src := hdr + "ids:\n  uid: ${UID}\n  gid: \"${GID}\"\nfilesystem:\n  root: {readOnly: \"${env:RO}\", size: \"${env:SIZE}\"}\n"
	vars := testVars
	vars.LookupEnv = func(name string) (string, bool) {
		v, ok := map[string]string{"RO": "true", "SIZE": "2Mi"}[name]
		return v, ok
	}
	p, err := Parse("p.yaml", []byte(src), Options{Vars: vars})
	if err != nil {
		t.Fatal(err)
	}
	want := struct {
		UID, GID uint32
		Root     Root
	}{1000, 100, Root{ReadOnly: true, Size: 2 << 20}}
	got := struct {
		UID, GID uint32
		Root     Root
	}{p.IDs.UID, p.IDs.GID, p.Filesystem.Root}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestExpandErrors(t *testing.T) {
	const known = "(known: ${HOME}, ${USER}, ${UID}, ${GID}, ${PWD}, ${env:NAME})"
	runErrorCases(t, []errorCase{
		{
			name: "unknown variable close to a known one",
			src:  hdr + "description: ${HOEM}\n",
			want: []string{`p.yaml:3:14: description: unknown variable ${HOEM} (did you mean ${HOME}?)`},
		},
		{
			name: "unknown variable in lower case",
			src:  hdr + "description: ${user}\n",
			want: []string{`p.yaml:3:14: description: unknown variable ${user} (did you mean ${USER}?)`},
		},
		{
			name: "environment variable without env:",
			src:  hdr + "description: ${LANG}\n",
			want: []string{`p.yaml:3:14: description: unknown variable ${LANG} (did you mean ${env:LANG}?)`},
		},
		{
			name: "unknown variable",
			src:  hdr + "description: ${1x}\n",
			want: []string{`p.yaml:3:14: description: unknown variable ${1x} ` + known},
		},
		{
			name: "unset environment variable",
			src:  hdr + "description: x ${env:MISSING}\n",
			want: []string{`p.yaml:3:16: description: ${env:MISSING}: environment variable MISSING is not set (write ${env:MISSING:-default} to give a default)`},
		},
		{
			name: "bad environment variable name",
			src:  hdr + "description: ${env:a-b}\n",
			want: []string{`p.yaml:3:14: description: ${env:a-b}: "a-b" is not a valid environment variable name`},
		},
		{
			name: "unterminated",
			src:  hdr + "description: x ${USER\n",
			want: []string{`p.yaml:3:16: description: unterminated "${USER": missing "}"`},
		},
		{
			name: "in double quotes",
			src:  hdr + "description: \"a ${MISSING}\"\n",
			want: []string{`p.yaml:3:17: description: unknown variable ${MISSING} (did you mean ${env:MISSING}?)`},
		},
		{
			name: "after an escape, placed at the scalar",
			src:  hdr + "description: \"\\t ${MISSING}\"\n",
			want: []string{`p.yaml:3:14: description: unknown variable ${MISSING} (did you mean ${env:MISSING}?)`},
		},
		{
			name: "two in one value",
			src:  hdr + "description: ${A} ${B}\n",
			want: []string{
				`p.yaml:3:14: description: unknown variable ${A} (did you mean ${env:A}?)`,
				`p.yaml:3:19: description: unknown variable ${B} (did you mean ${env:B}?)`,
			},
		},
		{
			name: "in a block scalar, placed at the scalar",
			src:  hdr + "description: |\n  ${MISSING}\n",
			want: []string{`p.yaml:3:14: description: unknown variable ${MISSING} (did you mean ${env:MISSING}?)`},
		},
		{
			name: "keys are not expanded",
			src:  hdr + "process:\n  env:\n    ${USER}: x\n",
			want: []string{`p.yaml:5:5: process.env.${USER}: ` + envNameRule},
		},
		{
			name: "typed after expansion",
			src:  hdr + "ids:\n  uid: ${USER}\n",
			want: []string{`p.yaml:4:8: ids.uid: must be an integer, not "alice"`},
		},
		{
			name: "in a --set value",
			src:  hdr,
			sets: []string{"description=${MISSING}"},
			want: []string{`--set:1:13: description: unknown variable ${MISSING} (did you mean ${env:MISSING}?)`},
		},
		{
			name: "in a quoted --set value",
			src:  hdr,
			sets: []string{`description="a ${MISSING}"`},
			want: []string{`--set:1:16: description: unknown variable ${MISSING} (did you mean ${env:MISSING}?)`},
		},
	})
}

// TestExpandZeroVars checks variables whose value the caller did not give.
func TestExpandZeroVars(t *testing.T) {
	for _, tc := range []struct{ ref, want string }{
		{"${HOME}", "${HOME} has no value here"},
		{"${USER}", "${USER} has no value here"},
		{"${PWD}", "${PWD} has no value here"},
		{"${env:TERM}", "${env:TERM}: environment variable TERM is not set (write ${env:TERM:-default} to give a default)"},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(hdr+"description: "+tc.ref+"\n"), Options{})
			want := []string{"p.yaml:3:14: description: " + tc.want}
			if diff := cmp.Diff(want, errorLines(t, err)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
