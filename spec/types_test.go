package spec

import (
	"testing"

	"gopkg.in/yaml.v3"
)

func TestStrings(t *testing.T) {
	for _, tc := range []struct {
		v    interface{ String() string }
		want string
	}{
		{New, "new"},
		{Host, "host"},
		{Share(9), "Share(9)"},
		{MountInvalid, ""},
		{MountBind, "bind"},
		{MountTmpfs, "tmpfs"},
		{MountProc, "proc"},
		{MountDev, "dev"},
		{MountDir, "dir"},
		{MountFile, "file"},
		{MountSymlink, "symlink"},
		{MountType(99), "MountType(99)"},
		{NetNone, "none"},
		{NetHost, "host"},
		{NetMode(7), "NetMode(7)"},
		{Size(0), "0"},
		{Size(1000), "1000"},
		{Size(64 << 20), "64Mi"},
		{Size(3 << 40), "3Ti"},
		{Size(1536), "1536"},
		{FileMode(0o755), "0755"},
		{FileMode(0o1777), "1777"},
		{Pos{}, "-"},
		{Pos{File: "p.yaml"}, "p.yaml"},
		{Pos{File: "p.yaml", Line: 3, Col: 7}, "p.yaml:3:7"},
	} {
		if got := tc.v.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.v, got, tc.want)
		}
	}
}

// TestTextRoundTrip checks that every printed enum and scalar value reads
// back as itself.
func TestTextRoundTrip(t *testing.T) {
	type textual interface {
		MarshalText() ([]byte, error)
	}
	for _, tc := range []struct {
		v   textual
		dst yaml.Unmarshaler
	}{
		{New, new(Share)}, {Host, new(Share)},
		{MountBind, new(MountType)}, {MountTmpfs, new(MountType)}, {MountProc, new(MountType)},
		{MountDev, new(MountType)}, {MountDir, new(MountType)}, {MountFile, new(MountType)}, {MountSymlink, new(MountType)},
		{NetNone, new(NetMode)}, {NetHost, new(NetMode)},
		{Size(0), new(Size)}, {Size(1e9), new(Size)}, {Size(5 << 30), new(Size)},
		{FileMode(0), new(FileMode)}, {FileMode(0o7777), new(FileMode)},
	} {
		text, err := tc.v.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		if err := tc.dst.UnmarshalYAML(&yaml.Node{Kind: yaml.ScalarNode, Value: string(text)}); err != nil {
			t.Errorf("%q: %v", text, err)
			continue
		}
		if got := reflectElem(tc.dst); got != tc.v {
			t.Errorf("%q read back as %v, want %v", text, got, tc.v)
		}
	}
}

func reflectElem(p yaml.Unmarshaler) any {
	switch p := p.(type) {
	case *Share:
		return *p
	case *MountType:
		return *p
	case *NetMode:
		return *p
	case *Size:
		return *p
	case *FileMode:
		return *p
	}
	return nil
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Size
		ok   bool
	}{
		{"65536", 65536, true},
		{"64Mi", 64 << 20, true},
		{"2G", 2e9, true},
		{"1k", 1000, true},
		{"1K", 1000, true},
		{"16777215Ti", 16777215 << 40, true},
		{"16777216Ti", 0, false},
		{"", 0, false},
		{"Mi", 0, false},
		{"+1", 0, false},
		{"-1", 0, false},
		{"1.5G", 0, false},
		{"1 G", 0, false},
	} {
		got, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseFileMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want FileMode
		ok   bool
	}{
		{"0755", 0o755, true},
		{"755", 0o755, true},
		{"0o1777", 0o1777, true},
		{"0O644", 0o644, true},
		{"07777", 0o7777, true},
		{"010000", 0, false},
		{"0o", 0, false},
		{"0o0o7", 0, false},
		{"0x1ff", 0, false},
		{"+7", 0, false},
		{"8", 0, false},
	} {
		got, err := ParseFileMode(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseFileMode(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestParsePortMap(t *testing.T) {
	for in, want := range map[string]string{"8080:80/tcp": "8080:80/tcp", "8080:80": "8080:80/tcp", "53/udp": "53:53/udp", "443": "443:443/tcp"} {
		m, err := ParsePortMap(in)
		if err != nil || m.String() != want {
			t.Errorf("ParsePortMap(%q) = %v, %v; want %s", in, m, err, want)
		}
	}
	for _, in := range []string{"", "0", "80:0", "65536", "a:b", "80/sctp", "1:2:3"} {
		if m, err := ParsePortMap(in); err == nil {
			t.Errorf("ParsePortMap(%q) = %v, want an error", in, m)
		}
	}
}
