package spec

import (
	"errors"
	"fmt"
	"math"
	"path"
	"reflect"
	"regexp"
	"strings"
	"sync"

	"github.com/go-playground/validator/v10"
)

var (
	// envNameRE matches a valid environment variable name.
	envNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })
	// profileNameRE matches a valid profile name.
	profileNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`) })
)

// newValidator returns a validator that knows the profile's custom tags and
// cross-field rules and names fields by their yaml keys.
func newValidator() *validator.Validate {
	v := validator.New()
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" {
			return f.Name
		}
		return name // "-" makes the validator skip the field
	})
	for tag, f := range map[string]func(string) bool{
		"apiversion":  func(s string) bool { return s == APIVersion },
		"profilename": func(s string) bool { return profileNameRE().MatchString(s) },
		"abspath":     func(s string) bool { return absPathProblem(s) == "" },
		"envname":     func(s string) bool { return envNameRE().MatchString(s) },
		"nonul":       func(s string) bool { return !strings.ContainsRune(s, 0) },
		"cpulist":     validCPUList,
		"sysctlname":  validSysctlName,
		"devaccess":   validDeviceAccess,
		"cgroupname":  validCgroupName,
		"domain":      validDomain,
		"pagesize":    validPageSize,
		"ifname":      validIfName,
	} {
		if err := v.RegisterValidation(tag, func(fl validator.FieldLevel) bool { return f(fl.Field().String()) }); err != nil {
			panic(err) // only a bad tag name can fail
		}
	}
	v.RegisterStructValidation(validateProfile, Profile{})
	v.RegisterStructValidation(validateFilesystem, Filesystem{})
	v.RegisterStructValidation(validateIDs, IDs{})
	v.RegisterStructValidation(validateIDRange, IDRange{})
	v.RegisterStructValidation(validateProcess, Process{})
	v.RegisterStructValidation(validateResources, Resources{})
	v.RegisterStructValidation(validateSecurity, Security{})
	v.RegisterStructValidation(validateNetwork, Network{})
	return v
}

// validate checks p against its validate tags and cross-field rules and
// returns an Error for each violation, placed with p.At.
func validate(p *Profile) ErrorList {
	err := newValidator().Struct(p)
	var ves validator.ValidationErrors
	if !errors.As(err, &ves) {
		if err != nil { // a bug: Struct got something other than a struct
			return ErrorList{{Pos: p.At(""), Msg: "internal error: " + err.Error()}}
		}
		return nil
	}
	var out ErrorList
	for _, fe := range ves {
		path, isKey := fieldPath(fe.Namespace())
		pos := p.At(path)
		if kp, ok := p.keys[path]; ok && isKey && (fe.Tag() == "envname" || fe.Tag() == "pagesize" || fe.Tag() == "ifname") {
			pos = kp // the key is wrong, not the value
		}
		msg := message(fe.Tag(), fe.Param(), fe.Kind(), fe.Value(), p.given(path))
		out = append(out, &Error{Pos: pos, Path: path, Msg: msg})
	}
	return out
}

// message says what the validate tag demands of value, of the given kind,
// with the tag's param. given tells whether the value was written, so that
// an explicit zero is not called missing.
func message(tag, param string, kind reflect.Kind, value any, given bool) string {
	switch tag {
	case "required":
		switch {
		case !given:
			return "is required"
		case kind == reflect.String:
			return "must not be empty"
		}
		return "must not be 0"
	case "min", "max":
		limit := "at least"
		if tag == "max" {
			limit = "at most"
		}
		switch kind {
		case reflect.String:
			return fmt.Sprintf("must be %s %s characters long", limit, param)
		case reflect.Slice, reflect.Map:
			return fmt.Sprintf("must have %s %s entries", limit, param)
		}
		return fmt.Sprintf("must be %s %s, not %v", limit, param, value)
	case "gt":
		return fmt.Sprintf("must be greater than %s", param)
	case "apiversion":
		return fmt.Sprintf("must be %q, not %q", APIVersion, shorten(fmt.Sprint(value)))
	case "profilename":
		return `must be 1 to 63 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit`
	case "hostname_rfc1123":
		return `must be a host name (RFC 1123): labels of letters, digits and "-" joined by "."`
	case "abspath":
		return absPathProblem(fmt.Sprint(value))
	case "envname":
		return `must be a variable name: a letter or "_", then letters, digits or "_"`
	case "nonul":
		return "must not contain a NUL byte"
	case "between":
		return fmt.Sprintf("must be between %s, not %v", param, value)
	case "oneof":
		return fmt.Sprintf("must be one of %s, not %q", strings.ReplaceAll(param, " ", ", "), shorten(fmt.Sprint(value)))
	case "rlimitname":
		return fmt.Sprintf("unknown rlimit %q (known: %s)", shorten(fmt.Sprint(value)), param)
	case "errnoname":
		return fmt.Sprintf("unknown errno %q (use a name such as EPERM or EACCES)", shorten(fmt.Sprint(value)))
	case "errnoonly":
		return "only applies to action errno"
	case "devaccess":
		return fmt.Sprintf(`must be r, w and m, each at most once (such as "rwm" or "r"), not %q`, shorten(fmt.Sprint(value)))
	case "sysctlname":
		return fmt.Sprintf(`must be a kernel parameter's name such as "net.ipv4.ip_forward": lower-case letters, digits, "_" and "-" in parts joined by ".", not %q`, shorten(fmt.Sprint(value)))
	case "cpulist":
		return fmt.Sprintf(`must be a list of CPU or memory node numbers and ranges such as "0-3,6", not %q`, shorten(fmt.Sprint(value)))
	case "cgroupname":
		return fmt.Sprintf(`must be a relative cgroup path such as "cell" or "ci/workers", not %q`, shorten(fmt.Sprint(value)))
	case "nonzero":
		return "must be more than 0 (" + param + ")"
	case "above":
		return "must not be above " + param
	case "onlyfor":
		return "only applies to " + param
	case "requiredfor":
		return fmt.Sprintf("is required for %s mounts", param)
	case "notroot":
		return `must not be "/": the root is set up by filesystem.root`
	case "sametarget":
		return "has the same target as " + param
	case "undernondir":
		return "is under " + param
	case "shadows":
		return "shadows " + param
	case "rangeend":
		return fmt.Sprintf("%s + count must be at most %d", param, uint32(math.MaxUint32))
	case "overlaps":
		return "overlaps " + param
	case "unmapped":
		return fmt.Sprintf("%v is not in any inside range of %s", value, param)
	case "duplicate":
		return "duplicates " + param
	case "needs":
		return "needs " + param
	case "pagemultiple":
		return "must be a whole number of pages of its size (the kernel would round it down to " + param + ")"
	case "pagesize":
		_, err := PageSizeKB(fmt.Sprint(value))
		if err == nil {
			return "must be a huge page size"
		}
		return err.Error()
	case "ifname":
		return fmt.Sprintf(`must be an interface name: 1 to 15 characters without "/", ":" or spaces, not %q`, shorten(fmt.Sprint(value)))
	case "subnet":
		return fmt.Sprintf(`must be an IPv4 subnet from /8 to /29 without host bits, such as "10.88.0.0/24", not %q`, shorten(fmt.Sprint(value)))
	case "ipaddr":
		return fmt.Sprintf("must be an IPv4 or IPv6 address, not %q", shorten(fmt.Sprint(value)))
	case "cidr":
		return fmt.Sprintf(`must be an address or a CIDR without host bits, such as "192.0.2.0/24" or "2001:db8::1", not %q`, shorten(fmt.Sprint(value)))
	case "domain":
		return fmt.Sprintf(`must be a host name such as "example.com", or "*." and one such as "*.example.com", not %q`, shorten(fmt.Sprint(value)))
	case "domainaddr":
		return fmt.Sprintf("%q is an address: name it with to:", shorten(fmt.Sprint(value)))
	case "exclusive":
		return "cannot be given with " + param
	case "netneeds":
		return fmt.Sprintf("%v needs %s", value, param)
	}
	return fmt.Sprintf("fails the %q check", tag)
}

// absPathProblem says what keeps s from being an absolute, clean path
// without "..", or returns "" if nothing does.
func absPathProblem(s string) string {
	switch {
	case strings.ContainsRune(s, 0):
		return "must not contain a NUL byte"
	case !path.IsAbs(s):
		return fmt.Sprintf("must be an absolute path, not %q", shorten(s))
	case strings.Contains("/"+s+"/", "/../"):
		return `must not contain ".."`
	case path.Clean(s) != s:
		return fmt.Sprintf("must be a clean path: write %q", shorten(path.Clean(s)))
	}
	return ""
}

// fieldPath turns a validator namespace ("Profile.process.env[FOO]") into a
// field path ("process.env.FOO") by walking Profile's type, and reports
// whether the last element is a map key.
func fieldPath(ns string) (string, bool) {
	_, rest, _ := strings.Cut(ns, ".")
	t := reflect.TypeFor[Profile]()
	p := ""
	isKey := false
	for rest != "" {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		isKey = false
		switch {
		case rest[0] == '.':
			rest = rest[1:]
		case rest[0] == '[' && t.Kind() == reflect.Map:
			// Map values here are scalars, so the key runs to the last "]".
			end := strings.LastIndexByte(rest, ']')
			p, rest, t, isKey = joinKey(p, rest[1:end]), rest[end+1:], t.Elem(), true
		case rest[0] == '[' && t.Kind() == reflect.Slice:
			end := strings.IndexByte(rest, ']')
			p, rest, t = p+rest[:end+1], rest[end+1:], t.Elem()
		case t.Kind() == reflect.Struct:
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			name := rest[:end]
			f, ok := fieldByKey(t, name)
			if !ok {
				return joinKey(p, rest), false
			}
			p, rest, t = joinKey(p, name), rest[end:], f.Type
		default:
			return p + rest, false
		}
	}
	return p, isKey
}

// fieldByKey returns the field of the struct type t whose yaml key is name.
func fieldByKey(t reflect.Type, name string) (reflect.StructField, bool) {
	for _, f := range YAMLFields(t) {
		if f.Name == name {
			return t.FieldByIndex(f.Index), true
		}
	}
	return reflect.StructField{}, false
}

// mountField is a Mount field that applies to some mount types only.
type mountField struct {
	name  string
	types []MountType
	// required says the field must be set for the first of types.
	required bool
	// value returns the field's value and whether it is not zero.
	value func(m *Mount) (any, bool)
}

// mountFields lists the type-specific fields of Mount.
var mountFields = []mountField{
	{"source", []MountType{MountBind}, true, func(m *Mount) (any, bool) { return m.Source, m.Source != "" }},
	{"device", []MountType{MountTmpfs, MountProc, MountSysfs, MountMqueue}, false, func(m *Mount) (any, bool) { return m.Device, m.Device != "" }},
	{"writable", []MountType{MountBind}, false, func(m *Mount) (any, bool) { return m.Writable, m.Writable }},
	{"recursive", []MountType{MountBind}, false, func(m *Mount) (any, bool) { return m.Recursive, m.Recursive != nil }},
	{"optional", []MountType{MountBind}, false, func(m *Mount) (any, bool) { return m.Optional, m.Optional }},
	{"noexec", []MountType{MountBind, MountTmpfs}, false, func(m *Mount) (any, bool) { return m.NoExec, m.NoExec }},
	{"size", []MountType{MountTmpfs, MountOverlay}, false, func(m *Mount) (any, bool) { return m.Size, m.Size != 0 }},
	{"lower", []MountType{MountOverlay}, true, func(m *Mount) (any, bool) { return m.Lower, len(m.Lower) > 0 }},
	{"mode", []MountType{MountTmpfs, MountDir, MountFile}, false, func(m *Mount) (any, bool) { return m.Mode, m.Mode != nil }},
	{"content", []MountType{MountFile}, false, func(m *Mount) (any, bool) { return m.Content, m.Content != "" }},
	{"linkTo", []MountType{MountSymlink}, true, func(m *Mount) (any, bool) { return m.LinkTo, m.LinkTo != "" }},
	{"unmasked", []MountType{MountProc}, false, func(m *Mount) (any, bool) { return m.Unmasked, m.Unmasked }},
	{"idmap", []MountType{MountBind}, false, func(m *Mount) (any, bool) { return m.IDMap, m.IDMap != nil }},
	{"followSymlinks", []MountType{MountBind, MountOverlay}, false, func(m *Mount) (any, bool) { return m.FollowSymlinks, m.FollowSymlinks }},
	{"handBack", []MountType{MountBind}, false, func(m *Mount) (any, bool) { return m.HandBack, m.HandBack }},
	{"keepSymlinks", []MountType{MountBind}, false, func(m *Mount) (any, bool) { return m.KeepSymlinks, m.KeepSymlinks }},
	{"propagation", []MountType{MountBind, MountTmpfs}, false, func(m *Mount) (any, bool) { return m.Propagation, m.Propagation != PropagationDefault }},
	{"devices", []MountType{MountDev}, false, func(m *Mount) (any, bool) { return m.Devices, len(m.Devices) > 0 }},
}

// typeList names types in a message: "bind", "bind and tmpfs", "a, b and c".
func typeList(types []MountType) string {
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = t.String()
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// validateProfile checks the rules that need the positions of the values
// (was a field written at all?) or span several parts of the profile.
func validateProfile(sl validator.StructLevel) {
	p := sl.Current().Addr().Interface().(*Profile)
	// given reports whether the field at path was written or is not zero;
	// positions are absent from a Profile not made by Parse.
	given := func(path string, nonZero bool) bool { return nonZero || p.given(path) }

	for i := range p.Filesystem.Mounts {
		m := &p.Filesystem.Mounts[i]
		mp := joinIndex("filesystem.mounts", i)
		if m.Type == MountInvalid {
			continue // "type: is required" says enough
		}
		for _, f := range mountFields {
			fp := joinKey(mp, f.name)
			v, nonZero := f.value(m)
			switch applies := contains(f.types, m.Type); {
			case applies && f.required && !nonZero && f.types[0] == m.Type:
				sl.ReportError(v, fp, f.name, "requiredfor", m.Type.String())
			case !applies && given(fp, nonZero):
				sl.ReportError(v, fp, f.name, "onlyfor", fmt.Sprintf("%s mounts, not %s", typeList(f.types), m.Type))
			}
		}
		if fp := joinKey(mp, "handBack"); m.HandBack && !m.Writable {
			sl.ReportError(m.HandBack, fp, "handBack", "needs", "writable: true")
		}
		if fp := joinKey(mp, "handBack"); m.HandBack && m.IDMap != nil {
			sl.ReportError(m.HandBack, fp, "handBack", "needs", "no idmap (a hand-back bind is ID-mapped to the caller by cell)")
		}
		if fp := joinKey(mp, "type"); m.Type == MountMqueue && p.Namespaces.IPC != New && p.Namespaces.Mount != Host {
			// Else it would be the host's queues. A sandbox that
			// shares the host's mount namespace as well as its IPC
			// namespace (the OCI runtime spec's container without
			// namespaces) opens those queues by name anyway, and its
			// root could mount them itself: the mount shows it their
			// names, which lint's shared-namespace findings cover.
			sl.ReportError(m.Type, fp, "type", "needs", "namespaces.ipc: new (an mqueue mount shows the IPC namespace's queues)")
		}
		if fp := joinKey(mp, "keepSymlinks"); m.KeepSymlinks && !m.HandBack {
			sl.ReportError(m.KeepSymlinks, fp, "keepSymlinks", "needs", "handBack: true")
		}
		for j, d := range m.Devices {
			dp := joinIndex(joinKey(mp, "devices"), j)
			if !strings.HasPrefix(d.Path, m.Target+"/") {
				sl.ReportError(d.Path, joinKey(dp, "path"), "path", "needs", "to be under the dev mount's target "+m.Target)
			}
			if d.Type == DeviceAll {
				sl.ReportError(d.Type, joinKey(dp, "type"), "type", "oneof", "c b p")
			}
			if d.Type == DeviceFIFO && (d.Major != 0 || d.Minor != 0) {
				sl.ReportError(d.Major, joinKey(dp, "major"), "major", "onlyfor", "c and b devices, not a FIFO")
			}
		}
		if fp := joinKey(mp, "size"); m.Type == MountTmpfs && m.Size == 0 && p.given(fp) {
			sl.ReportError(m.Size, fp, "size", "gt", "0")
		}
	}
	if fp := "filesystem.root.size"; p.Filesystem.Root.Size == 0 && p.given(fp) {
		sl.ReportError(p.Filesystem.Root.Size, fp, "size", "gt", "0")
	}
	if r := p.Filesystem.Root; r.Path != "" {
		// A directory's size and mode are the host's, not a tmpfs option.
		if given("filesystem.root.size", r.Size != 0) {
			sl.ReportError(r.Size, "filesystem.root.size", "size", "onlyfor", "a tmpfs root, not filesystem.root.path")
		}
		if given("filesystem.root.mode", r.Mode != nil) {
			sl.ReportError(r.Mode, "filesystem.root.mode", "mode", "onlyfor", "a tmpfs root, not filesystem.root.path")
		}
	}

	ns := p.Namespaces
	for _, j := range []struct {
		kind, path string
		share      Share
	}{{"mount", ns.Join.Mount, ns.Mount}, {"pid", ns.Join.PID, ns.PID}, {"net", ns.Join.Net, ns.Net}, {"uts", ns.Join.UTS, ns.UTS}, {"ipc", ns.Join.IPC, ns.IPC}, {"cgroup", ns.Join.Cgroup, ns.Cgroup}} {
		if j.path != "" && j.share != New {
			sl.ReportError(j.path, "namespaces.join."+j.kind, j.kind, "exclusive", "namespaces."+j.kind+": host")
		}
	}
	if ns.User == Host {
		for _, f := range []struct {
			path string
			m    []IDRange
		}{{"ids.uidMap", p.IDs.UIDMap}, {"ids.gidMap", p.IDs.GIDMap}} {
			if len(f.m) > 0 {
				sl.ReportError(f.m, f.path, f.path, "needs", "namespaces.user: new")
			}
		}
	}
	if ns.UTS == Host {
		for _, f := range []struct{ path, v string }{{"hostname", p.Hostname}, {"domainname", p.Domainname}} {
			if given(f.path, f.v != "") {
				sl.ReportError(f.v, f.path, f.path, "needs", "namespaces.uts: new")
			}
		}
	}
	switch mode := p.Network.Mode; {
	case mode == NetNone && ns.Net == Host && p.given("network.mode"):
		sl.ReportError(mode, "network.mode", "mode", "netneeds", "namespaces.net: new")
	case mode == NetNone && ns.Net == Host:
		sl.ReportError(ns.Net, "namespaces.net", "net", "netneeds", "network.mode: host (the default network.mode is none)")
	case mode == NetHost && ns.Net == New:
		sl.ReportError(mode, "network.mode", "mode", "netneeds", "namespaces.net: host")
	case mode.OwnNamespace() && ns.Net == Host:
		sl.ReportError(mode, "network.mode", "mode", "netneeds", "namespaces.net: new")
	}
	if ns.Mount == Host {
		validateHostMounts(sl, p)
	}
}

// validateHostMounts checks a filesystem made in the host's mount
// namespace: a root directory (filesystem.root.path) that the command is
// chrooted into, with mounts under it that cell makes on the host and
// unmounts after the sandbox. What needs a root of the sandbox's own (the
// root tmpfs's size and mode, a propagation type of "/") or a staging
// area the host must not see (overlay layers, ID-mapped trees) is
// refused, and so are mounts without a root directory: they would be
// made on the host's own "/".
func validateHostMounts(sl validator.StructLevel, p *Profile) {
	r := p.Filesystem.Root
	for _, f := range []struct {
		path    string
		v       any
		nonZero bool
		why     string
	}{
		{"filesystem.root.size", r.Size, r.Size != 0, "namespaces.mount: new (with namespaces.mount: host the root is filesystem.root.path, a directory, not a tmpfs)"},
		{"filesystem.root.mode", r.Mode, r.Mode != nil, "namespaces.mount: new (with namespaces.mount: host the root is filesystem.root.path, a directory, not a tmpfs)"},
		{"filesystem.root.propagation", r.Propagation, r.Propagation != PropagationDefault, "namespaces.mount: new (with namespaces.mount: host, cell makes its bind of filesystem.root.path private, so that its mounts do not reach the host's other mounts)"},
		{"filesystem.root.readOnly", r.ReadOnly, r.ReadOnly && r.Path == "", "filesystem.root.path or namespaces.mount: new (it would remount the host's root read-only)"},
		{"filesystem.mounts", p.Filesystem.Mounts, len(p.Filesystem.Mounts) > 0 && r.Path == "", "filesystem.root.path or namespaces.mount: new (they would be made on the host's root)"},
	} {
		if f.nonZero {
			sl.ReportError(f.v, f.path, f.path, "needs", f.why)
		}
	}
	if r.Path == "" {
		return
	}
	if r.Path == "/" {
		sl.ReportError(r.Path, "filesystem.root.path", "path", "needs", `a directory other than "/" with namespaces.mount: host (the command would be chrooted into the host's root, and cell's mounts made over the host's)`)
	}
	if p.Namespaces.User == New {
		sl.ReportError(p.Namespaces.User, "namespaces.user", "user", "needs", "host with namespaces.mount: host and filesystem.root.path (init's mounts are made in the host's mount namespace, over which a user namespace of the sandbox's own has no privilege)")
	}
	for i := range p.Filesystem.Mounts {
		m := &p.Filesystem.Mounts[i]
		mp := joinIndex("filesystem.mounts", i)
		switch {
		case m.Type == MountOverlay:
			sl.ReportError(m.Type, joinKey(mp, "type"), "type", "needs", "namespaces.mount: new (an overlay's upper and work layers are made where the host would not see them)")
		case m.IDMap != nil:
			sl.ReportError(m.IDMap, joinKey(mp, "idmap"), "idmap", "needs", "namespaces.mount: new")
		case m.HandBack:
			sl.ReportError(m.HandBack, joinKey(mp, "handBack"), "handBack", "needs", "namespaces.mount: new")
		}
	}
}

// validateFilesystem checks that mount targets are unique, not "/", not
// under a file or symlink, and listed parents first.
func validateFilesystem(sl validator.StructLevel) {
	fs := sl.Current().Interface().(Filesystem)
	first := make(map[string]int)
	for i, m := range fs.Mounts {
		t := m.Target
		if absPathProblem(t) != "" || m.Type == MountInvalid {
			continue // reported by the target's or type's own tags
		}
		fp := joinKey(joinIndex("mounts", i), "target")
		if t == "/" {
			sl.ReportError(t, fp, "target", "notroot", "")
			continue
		}
		if j, ok := first[t]; ok {
			sl.ReportError(t, fp, "target", "sametarget", joinIndex("mounts", j))
			continue
		}
		first[t] = i
		for j, o := range fs.Mounts[:i] {
			if (o.Type == MountFile || o.Type == MountSymlink) && under(t, o.Target) {
				sl.ReportError(t, fp, "target", "undernondir",
					fmt.Sprintf("mounts[%d] (%s), which is a %s, not a directory", j, o.Target, o.Type))
				break
			}
			if under(o.Target, t) && absPathProblem(o.Target) == "" {
				sl.ReportError(t, fp, "target", "shadows",
					fmt.Sprintf("mounts[%d] (%s): list %s before it", j, o.Target, t))
				break
			}
		}
	}
}

// under reports whether the clean absolute path p is strictly under dir.
func under(p, dir string) bool {
	if dir == "/" {
		return p != "/"
	}
	rest, ok := strings.CutPrefix(p, dir)
	return ok && strings.HasPrefix(rest, "/")
}

// validateIDRange checks that a range ends within the 32-bit ID space.
func validateIDRange(sl validator.StructLevel) {
	r := sl.Current().Interface().(IDRange)
	if uint64(r.Inside)+uint64(r.Count) > math.MaxUint32 {
		sl.ReportError(r.Count, "count", "Count", "rangeend", "inside")
	}
	if !r.Outside.Symbolic() && uint64(r.Outside)+uint64(r.Count) > math.MaxUint32 {
		sl.ReportError(r.Count, "count", "Count", "rangeend", "outside")
	}
}

// validateIDs checks that the ranges of each map do not overlap and that
// the uid, gid and groups are mapped and groups unique.
func validateIDs(sl validator.StructLevel) {
	ids := sl.Current().Interface().(IDs)
	overlaps(sl, "uidMap", ids.UIDMap)
	overlaps(sl, "gidMap", ids.GIDMap)
	if len(ids.UIDMap) > 0 && !mapped(ids.UIDMap, ids.UID) {
		sl.ReportError(ids.UID, "uid", "UID", "unmapped", "uidMap")
	}
	if len(ids.GIDMap) > 0 && !mapped(ids.GIDMap, ids.GID) {
		sl.ReportError(ids.GID, "gid", "GID", "unmapped", "gidMap")
	}
	if ids.SetGroups == SetGroupsDeny && len(ids.Groups) > 0 {
		sl.ReportError(ids.Groups, "groups", "Groups", "needs", "ids.setgroups: allow (deny forbids setting them)")
	}
	first := make(map[uint32]int)
	for i, g := range ids.Groups {
		fp := joinIndex("groups", i)
		if j, ok := first[g]; ok {
			sl.ReportError(g, fp, fp, "duplicate", joinIndex("groups", j))
			continue
		}
		first[g] = i
		if len(ids.GIDMap) > 0 && !mapped(ids.GIDMap, g) {
			sl.ReportError(g, fp, fp, "unmapped", "gidMap")
		}
	}
}

// overlaps reports ranges of m whose inside or outside IDs overlap an
// earlier range's.
func overlaps(sl validator.StructLevel, name string, m []IDRange) {
	for i, r := range m {
		for _, side := range []struct {
			name  string
			start func(IDRange) uint32
		}{
			{"inside", func(r IDRange) uint32 { return r.Inside }},
			{"outside", func(r IDRange) uint32 { return uint32(r.Outside) }},
		} {
			if side.name == "outside" && r.Outside.Symbolic() {
				continue // allocated when compiled or run
			}
			lo, hi := uint64(side.start(r)), uint64(side.start(r))+uint64(r.Count)
			for j, o := range m[:i] {
				if side.name == "outside" && o.Outside.Symbolic() {
					continue
				}
				olo, ohi := uint64(side.start(o)), uint64(side.start(o))+uint64(o.Count)
				if lo < ohi && olo < hi {
					fp := joinKey(joinIndex(name, i), side.name)
					sl.ReportError(side.start(r), fp, side.name, "overlaps",
						fmt.Sprintf("%s[%d] (%s %d-%d)", name, j, side.name, olo, ohi-1))
					break
				}
			}
		}
	}
}

// mapped reports whether id is in an inside range of m.
func mapped(m []IDRange, id uint32) bool {
	for _, r := range m {
		if id >= r.Inside && uint64(id) < uint64(r.Inside)+uint64(r.Count) {
			return true
		}
	}
	return false
}

// validateProcess checks that inherited descriptors are unique.
func validateProcess(sl validator.StructLevel) {
	pr := sl.Current().Interface().(Process)
	first := make(map[int]int)
	for i, fd := range pr.InheritFDs {
		if j, ok := first[fd]; ok {
			fp := joinIndex("inheritFds", i)
			sl.ReportError(fd, fp, fp, "duplicate", joinIndex("inheritFds", j))
			continue
		}
		first[fd] = i
	}
}

// contains reports whether ts holds t.
func contains(ts []MountType, t MountType) bool {
	for _, c := range ts {
		if c == t {
			return true
		}
	}
	return false
}
