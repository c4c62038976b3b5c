package lint

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/cellsandbox/cell/spec"
)

// Severity is how much a finding widens the sandbox.
type Severity uint8

// The severities, lowest first. Info findings are facts a reviewer should
// know; they add nothing to the exposure score.
const (
	Info Severity = iota
	Low
	Medium
	High
	Critical
)

// Severities lists every Severity, lowest first.
var Severities = []Severity{Info, Low, Medium, High, Critical}

// String returns the severity's name: "info", "low", "medium", "high" or
// "critical".
func (s Severity) String() string {
	switch s {
	case Info:
		return "info"
	case Low:
		return "low"
	case Medium:
		return "medium"
	case High:
		return "high"
	case Critical:
		return "critical"
	}
	return fmt.Sprintf("Severity(%d)", uint8(s))
}

// ParseSeverity parses a name printed by String.
func ParseSeverity(s string) (Severity, error) {
	for _, c := range Severities {
		if c.String() == s {
			return c, nil
		}
	}
	names := make([]string, len(Severities))
	for i, c := range Severities {
		names[i] = c.String()
	}
	return 0, fmt.Errorf("unknown severity %q (known: %s)", s, strings.Join(names, ", "))
}

// MarshalText prints the name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses the name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// weight is the share of the remaining protection a finding of severity s
// removes, for the exposure score.
func (s Severity) weight() float64 {
	switch s {
	case Info:
		return 0
	case Low:
		return 0.04
	case Medium:
		return 0.12
	case High:
		return 0.3
	case Critical:
		return 0.5
	}
	return 0
}

// Finding is one rule's verdict on one value of a profile.
type Finding struct {
	// Rule is the ID of the rule, such as "CELL010".
	Rule string `json:"rule"`
	// Severity is the rule's severity for this value.
	Severity Severity `json:"severity"`
	// Path is the field path of the value, such as
	// "filesystem.mounts[3].writable".
	Path string `json:"path"`
	// Pos is where the value was written.
	Pos spec.Pos `json:"pos"`
	// Message says what the value allows, in one line.
	Message string `json:"message"`
	// Hint says how to avoid the finding.
	Hint string `json:"hint,omitempty"`
}

// String formats the finding as "file:line:col: severity ID: message".
func (f Finding) String() string {
	return fmt.Sprintf("%s: %s %s: %s", f.Pos, f.Severity, f.Rule, f.Message)
}

// Options are what the rules know of the caller besides the profile.
type Options struct {
	// Home is the caller's home directory; binds of it, or of a directory
	// that holds it, are reported. Empty means only /home and /root are
	// known as homes.
	Home string
	// PWD is the working directory of the caller: a writable bind of it
	// (or of a directory holding it) is a project, whose .git must stay
	// out of reach. Empty means no bind is known as the project.
	PWD string
}

// The reviewer that cell lint reads every profile as, whoever runs it:
// ${HOME}, ${USER}, ${PWD}, ${UID} and ${GID} expand to these, so that two
// machines produce the same report for the same files.
const (
	ReviewerHome = "/home/reviewer"
	ReviewerUser = "reviewer"
	ReviewerPWD  = "/home/reviewer/project"
	ReviewerUID  = 1000
	ReviewerGID  = 1000
)

// ReviewerVars are the variables of the reviewer, with lookupEnv for
// ${env:NAME} (a value the profile names explicitly).
func ReviewerVars(lookupEnv func(string) (string, bool)) spec.Vars {
	return spec.Vars{Home: ReviewerHome, User: ReviewerUser, PWD: ReviewerPWD, UID: ReviewerUID, GID: ReviewerGID, LookupEnv: lookupEnv}
}

// ReviewerOptions are the Options of the reviewer.
func ReviewerOptions() Options { return Options{Home: ReviewerHome, PWD: ReviewerPWD} }

// Report is the result of linting one profile.
type Report struct {
	// File is the file the profile was read from.
	File string `json:"file"`
	// Profile is the profile's name.
	Profile string `json:"profile"`
	// Findings are sorted by position, then rule.
	Findings []Finding `json:"findings"`
	// Score is the exposure score, 0 (nothing found) to 10.
	Score float64 `json:"score"`
	// Verdict is Verdict(Score).
	Verdict string `json:"verdict"`
}

// Profile runs every rule of Rules on p.
func Profile(p *spec.Profile, opts Options) *Report {
	ps := &pass{p: p, opts: opts}
	for _, r := range rules {
		ps.rule = r
		r.check(ps)
	}
	slices.SortStableFunc(ps.findings, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(a.Pos.File, b.Pos.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Col, b.Pos.Col),
			cmp.Compare(a.Rule, b.Rule),
		)
	})
	if ps.findings == nil {
		ps.findings = []Finding{}
	}
	score := Score(ps.findings)
	return &Report{File: p.File, Profile: p.Name, Findings: ps.findings, Score: score, Verdict: Verdict(score)}
}

// Score is the exposure score of findings: 10 × (1 − Π(1 − wᵢ)), where wᵢ
// is the weight of finding i's severity (critical 0.5, high 0.3, medium
// 0.12, low 0.04, info 0), rounded to one decimal. One critical finding
// scores 5, one high 3, two high 5.1.
func Score(findings []Finding) float64 {
	kept := 1.0
	for _, f := range findings {
		kept *= 1 - f.Severity.weight()
	}
	return math.Round(100*(1-kept)) / 10
}

// Verdict names the band of an exposure score: "ok" below 2, "medium"
// below 5, "exposed" below 8, else "unsafe".
func Verdict(score float64) string {
	switch {
	case score < 2:
		return "ok"
	case score < 5:
		return "medium"
	case score < 8:
		return "exposed"
	}
	return "unsafe"
}

// Max returns the highest severity of r's findings and whether it has any.
func (r *Report) Max() (Severity, bool) {
	if len(r.Findings) == 0 {
		return 0, false
	}
	m := Info
	for _, f := range r.Findings {
		m = max(m, f.Severity)
	}
	return m, true
}

// AtLeast returns the findings of r whose severity is s or higher.
func (r *Report) AtLeast(s Severity) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Severity >= s {
			out = append(out, f)
		}
	}
	return out
}

// pass is one run of the rules over a profile.
type pass struct {
	p        *spec.Profile
	opts     Options
	rule     *Rule
	findings []Finding
}

// report records a finding of the current rule at its default severity.
func (ps *pass) report(path, hint, format string, args ...any) {
	ps.reportAs(ps.rule.Severity, path, hint, format, args...)
}

// reportAs records a finding of the current rule at severity sev.
func (ps *pass) reportAs(sev Severity, path, hint, format string, args ...any) {
	ps.findings = append(ps.findings, Finding{
		Rule:     ps.rule.ID,
		Severity: sev,
		Path:     path,
		Pos:      ps.p.At(path),
		Message:  fmt.Sprintf(format, args...),
		Hint:     hint,
	})
}
