package rlimit

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestParse(t *testing.T) {
	want := map[string]int{
		"nofile": unix.RLIMIT_NOFILE, "nproc": unix.RLIMIT_NPROC, "core": unix.RLIMIT_CORE,
		"as": unix.RLIMIT_AS, "cpu": unix.RLIMIT_CPU, "fsize": unix.RLIMIT_FSIZE,
		"data": unix.RLIMIT_DATA, "stack": unix.RLIMIT_STACK, "memlock": unix.RLIMIT_MEMLOCK,
		"msgqueue": unix.RLIMIT_MSGQUEUE, "nice": unix.RLIMIT_NICE, "rtprio": unix.RLIMIT_RTPRIO,
		"rttime": unix.RLIMIT_RTTIME, "sigpending": unix.RLIMIT_SIGPENDING, "locks": unix.RLIMIT_LOCKS,
	}
	if len(Names()) != len(want) {
		t.Errorf("Names() = %v, want the %d resources", Names(), len(want))
	}
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			r, err := Parse(name)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.String(); got != name {
				t.Errorf("String() = %q", got)
			}
			if r.Number() != want[name] {
				t.Errorf("Number() = %d, want %d", r.Number(), want[name])
			}
			if got, w := r.Macro(), "RLIMIT_"+strings.ToUpper(name); got != w {
				t.Errorf("Macro() = %q, want %q", got, w)
			}
			b, err := r.MarshalText()
			if err != nil {
				t.Fatal(err)
			}
			var back Resource
			if err := back.UnmarshalText(b); err != nil || back != r {
				t.Errorf("text round trip: %v, %v", back, err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	_, err := Parse("nofiles")
	want := `unknown resource limit "nofiles" (valid: nofile, nproc, core, as, cpu, fsize, data, stack, memlock, msgqueue, nice, rtprio, rttime, sigpending, locks)`
	if err == nil || err.Error() != want {
		t.Errorf("Parse(nofiles) = %v\nwant %s", err, want)
	}
	var zero Resource
	if zero.Valid() || zero.String() != "Resource(0)" || zero.Number() != -1 || zero.Unit() != "?" {
		t.Errorf("the zero Resource is %v, valid %v, number %d: it must be invalid, not RLIMIT_CPU", zero, zero.Valid(), zero.Number())
	}
	if _, err := zero.MarshalText(); err == nil {
		t.Error("MarshalText of the zero Resource did not fail")
	}
}

func TestParseValue(t *testing.T) {
	for _, tc := range []struct {
		r    Resource
		in   string
		want uint64
		err  string
	}{
		{NoFile, "1024", 1024, ""},
		{NoFile, "0", 0, ""},
		{NoFile, "unlimited", Unlimited, ""},
		{CPU, "infinity", Unlimited, ""},
		{AS, "4Gi", 4 << 30, ""},
		{MemLock, "64Ki", 64 << 10, ""},
		{Stack, "8Mi", 8 << 20, ""},
		{FSize, "1Ti", 1 << 40, ""},
		{AS, "18446744073709551615", Unlimited, ""},
		{NoFile, "1Ki", 0, `nofile: "1Ki": a size suffix only fits a limit in bytes; nofile counts count`},
		{CPU, "10Mi", 0, `cpu: "10Mi": a size suffix only fits a limit in bytes; cpu counts seconds`},
		{AS, "16777216Ti", 0, `as: "16777216Ti" is too large`},
		{NoFile, "-1", 0, `nofile: "-1" is not a number or "unlimited"`},
		{NoFile, "+1", 0, `nofile: "+1" is not a number or "unlimited"`},
		{NoFile, "", 0, `nofile: "" is not a number or "unlimited"`},
		{AS, "Mi", 0, `as: "Mi" is not a number or "unlimited"`},
		{NoFile, "1k", 0, `nofile: "1k" is not a number or "unlimited"`},
		{NoFile, "Unlimited", 0, `nofile: "Unlimited" is not a number or "unlimited"`},
	} {
		t.Run(tc.r.String()+"="+tc.in, func(t *testing.T) {
			got, err := tc.r.ParseValue(tc.in)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Errorf("error = %v\nwant %s", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("= %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestParseLimit(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   Limit
		str    string // String(), when it differs from in
		call   string
		errStr string
	}{
		{in: "nofile=1024:4096", want: Limit{NoFile, 1024, 4096}, call: "prlimit(0, RLIMIT_NOFILE, {1024, 4096})"},
		{in: "core=0", want: Limit{Core, 0, 0}, call: "prlimit(0, RLIMIT_CORE, {0, 0})"},
		{in: "as=4Gi", want: Limit{AS, 4 << 30, 4 << 30}, str: "as=4294967296", call: "prlimit(0, RLIMIT_AS, {4294967296, 4294967296})"},
		{in: "cpu=10:unlimited", want: Limit{CPU, 10, Unlimited}, call: "prlimit(0, RLIMIT_CPU, {10, unlimited})"},
		{in: "stack=unlimited", want: Limit{Stack, Unlimited, Unlimited}, call: "prlimit(0, RLIMIT_STACK, {unlimited, unlimited})"},
		{in: "nofile=4096:1024", errStr: "nofile: soft limit 4096 is above the hard limit 1024"},
		{in: "nofile=unlimited:1024", errStr: "nofile: soft limit unlimited is above the hard limit 1024"},
		{in: "nofile", errStr: `resource limit "nofile": want name=value or name=soft:hard`},
		{in: "files=1", errStr: `unknown resource limit "files" (valid: nofile, nproc, core, as, cpu, fsize, data, stack, memlock, msgqueue, nice, rtprio, rttime, sigpending, locks)`},
		{in: "nofile=1:x", errStr: `nofile: "x" is not a number or "unlimited"`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseLimit(tc.in)
			if tc.errStr != "" {
				if err == nil || err.Error() != tc.errStr {
					t.Errorf("error = %v\nwant %s", err, tc.errStr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			str := tc.str
			if str == "" {
				str = tc.in
			}
			if got.String() != str {
				t.Errorf("String() = %q, want %q", got.String(), str)
			}
			if got.Call() != tc.call {
				t.Errorf("Call() = %q, want %q", got.Call(), tc.call)
			}
			back, err := ParseLimit(got.String())
			if err != nil || back != got {
				t.Errorf("ParseLimit(String()) = %v, %v", back, err)
			}
		})
	}
}

func TestLimitJSON(t *testing.T) {
	l := Limit{Resource: NoFile, Soft: 16, Hard: Unlimited}
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"resource":"nofile","soft":16,"hard":18446744073709551615}`; string(b) != want {
		t.Errorf("json %s, want %s", b, want)
	}
	var back Limit
	if err := json.Unmarshal(b, &back); err != nil || back != l {
		t.Errorf("round trip: %v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"resource":"nofiles"}`), &back); err == nil {
		t.Error("unknown resource in JSON accepted")
	}
}
