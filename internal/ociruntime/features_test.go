package ociruntime

import (
	"fmt"
	"testing"

	"github.com/cellsandbox/cell/spec/oci"
)

// TestFeaturesTrue: what features says cell-oci takes, the translation
// takes: each mount option on a bind, each seccomp action and operator,
// each capability; and it says seccomp is applied (engines that read
// features before they ask for a filter).
func TestFeaturesTrue(t *testing.T) {
	f := Features()
	lin := f["linux"].(map[string]any)
	sc := lin["seccomp"].(map[string]any)
	if sc["enabled"] != true {
		t.Fatal("features says seccomp is not applied")
	}
	parse := func(what, body string) {
		t.Helper()
		cfg := `{"ociVersion": "1.0.2", "root": {"path": "/r"}, ` + body + `}`
		if _, err := oci.Parse("config.json", []byte(cfg), "/b"); err != nil {
			t.Errorf("%s, which features lists: %v", what, err)
		}
	}
	for _, o := range f["mountOptions"].([]string) {
		opt := o
		if o == "size" || o == "mode" {
			opt += "=1k"
		}
		parse("bind option "+o, fmt.Sprintf(`"mounts": [{"destination": "/m", "source": "/srv", "options": ["bind", %q]}], "linux": {"namespaces": [{"type": "mount"}]}`, opt))
	}
	for _, a := range sc["actions"].([]string) {
		errno := ""
		if a == "SCMP_ACT_ERRNO" {
			errno = `, "errnoRet": 1`
		}
		parse("seccomp action "+a, fmt.Sprintf(`"linux": {"namespaces": [{"type": "mount"}], "seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": [{"names": ["getpid"], "action": %q%s}]}}`, a, errno))
	}
	for _, op := range sc["operators"].([]string) {
		parse("seccomp operator "+op, fmt.Sprintf(`"linux": {"namespaces": [{"type": "mount"}], "seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "args": [{"index": 0, "value": 8, "valueTwo": 8, "op": %q}]}]}}`, op))
	}
	for _, c := range lin["capabilities"].([]string) {
		parse("capability "+c, fmt.Sprintf(`"process": {"args": ["true"], "capabilities": {"bounding": [%q], "permitted": [%q], "effective": [%q]}}, "linux": {"namespaces": [{"type": "mount"}]}`, c, c, c))
	}
}
