package lint

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
)

// Write prints reports as text: one line per finding, its hint on the
// next, then the report's exposure score with the findings that make it.
func Write(w io.Writer, reports []*Report) error {
	var b strings.Builder
	for _, r := range reports {
		for _, f := range r.Findings {
			fmt.Fprintf(&b, "%s\n", f)
			if f.Hint != "" {
				fmt.Fprintf(&b, "    hint: %s\n", f.Hint)
			}
		}
		fmt.Fprintf(&b, "%s\n", r.ScoreLine())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ScoreLine says r's score and the findings that make it, by severity:
// "p.yaml: exposure 3.4/10 (medium): 1 high (CELL010), 1 low (CELL015)".
// Info findings add nothing to the score and are left out.
func (r *Report) ScoreLine() string {
	var parts []string
	for i := len(Severities) - 1; i > 0; i-- {
		s := Severities[i]
		n, ids := 0, []string{}
		for _, f := range r.Findings {
			if f.Severity == s {
				n++
				if !slices.Contains(ids, f.Rule) {
					ids = append(ids, f.Rule)
				}
			}
		}
		if n > 0 {
			slices.Sort(ids)
			parts = append(parts, fmt.Sprintf("%d %s (%s)", n, s, strings.Join(ids, ", ")))
		}
	}
	what := "nothing widens it"
	if len(parts) > 0 {
		what = strings.Join(parts, ", ")
	}
	return fmt.Sprintf("%s: exposure %.1f/10 (%s): %s", r.File, r.Score, r.Verdict, what)
}

// WriteJSON prints reports as a JSON object {"reports": [...]}.
func WriteJSON(w io.Writer, reports []*Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(struct {
		Reports []*Report `json:"reports"`
	}{reports})
}

// SARIF 2.1.0 objects, with the properties cell fills in.
type (
	sarifLog struct {
		Schema  string     `json:"$schema"`
		Version string     `json:"version"`
		Runs    []sarifRun `json:"runs"`
	}
	sarifRun struct {
		Tool       sarifTool      `json:"tool"`
		Results    []sarifResult  `json:"results"`
		Properties map[string]any `json:"properties,omitempty"`
	}
	sarifTool struct {
		Driver sarifDriver `json:"driver"`
	}
	sarifDriver struct {
		Name  string      `json:"name"`
		Rules []sarifRule `json:"rules"`
	}
	sarifRule struct {
		ID                   string         `json:"id"`
		Name                 string         `json:"name"`
		ShortDescription     sarifText      `json:"shortDescription"`
		FullDescription      sarifText      `json:"fullDescription"`
		Help                 sarifText      `json:"help"`
		DefaultConfiguration sarifConfig    `json:"defaultConfiguration"`
		Properties           map[string]any `json:"properties"`
	}
	sarifText struct {
		Text string `json:"text"`
	}
	sarifConfig struct {
		Level string `json:"level"`
	}
	sarifResult struct {
		RuleID     string          `json:"ruleId"`
		RuleIndex  int             `json:"ruleIndex"`
		Level      string          `json:"level"`
		Message    sarifText       `json:"message"`
		Locations  []sarifLocation `json:"locations"`
		Properties map[string]any  `json:"properties"`
	}
	sarifLocation struct {
		PhysicalLocation sarifPhysical `json:"physicalLocation"`
	}
	sarifPhysical struct {
		ArtifactLocation sarifArtifact `json:"artifactLocation"`
		Region           *sarifRegion  `json:"region,omitempty"`
	}
	sarifArtifact struct {
		URI string `json:"uri"`
	}
	sarifRegion struct {
		StartLine   int `json:"startLine"`
		StartColumn int `json:"startColumn,omitempty"`
	}
)

// sarifSchema is the URI of the SARIF 2.1.0 JSON Schema that logs name.
const sarifSchema = "https://json.schemastore.org/sarif-2.1.0.json"

// level is the SARIF level of a severity: error for high and critical,
// warning for medium, note below.
func (s Severity) level() string {
	switch s {
	case Info, Low:
		return "note"
	case Medium:
		return "warning"
	case High, Critical:
		return "error"
	}
	return "none"
}

// securitySeverity is the CVSS-like number code scanning services sort
// and label security results by.
func (s Severity) securitySeverity() string {
	switch s {
	case Info:
		return "0.0"
	case Low:
		return "3.0"
	case Medium:
		return "5.5"
	case High:
		return "8.0"
	case Critical:
		return "9.5"
	}
	return "0.0"
}

// artifactURI turns a profile's file name into a URI reference: relative
// paths stay relative (to the directory cell ran in), absolute ones become
// file URIs, and "builtin:NAME" is a URI already.
func artifactURI(file string) string {
	switch {
	case strings.HasPrefix(file, "builtin:"):
		return file
	case filepath.IsAbs(file):
		return (&url.URL{Scheme: "file", Path: filepath.ToSlash(file)}).String()
	}
	u := (&url.URL{Path: filepath.ToSlash(file)}).String()
	return strings.TrimPrefix(u, "./")
}

// WriteSARIF prints reports as one SARIF 2.1.0 log with one run, listing
// every rule. The run's properties hold each profile's exposure score.
func WriteSARIF(w io.Writer, reports []*Report) error {
	all := Rules()
	index := make(map[string]int)
	run := sarifRun{Tool: sarifTool{Driver: sarifDriver{Name: "cell"}}, Results: []sarifResult{}}
	for i, r := range all {
		index[r.ID] = i
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{
			ID:                   r.ID,
			Name:                 r.Name,
			ShortDescription:     sarifText{r.Summary},
			FullDescription:      sarifText{r.Help},
			Help:                 sarifText{r.Help},
			DefaultConfiguration: sarifConfig{r.Severity.level()},
			Properties: map[string]any{
				"tags":              []string{"security", "sandbox"},
				"security-severity": r.Severity.securitySeverity(),
				"severity":          r.Severity.String(),
			},
		})
	}
	var scores []map[string]any
	for _, rep := range reports {
		scores = append(scores, map[string]any{"file": rep.File, "profile": rep.Profile, "score": rep.Score, "verdict": rep.Verdict})
		for _, f := range rep.Findings {
			loc := sarifPhysical{ArtifactLocation: sarifArtifact{URI: artifactURI(f.Pos.File)}}
			if f.Pos.Line > 0 {
				loc.Region = &sarifRegion{StartLine: f.Pos.Line, StartColumn: f.Pos.Col}
			}
			msg := f.Message
			if f.Hint != "" {
				msg += " (fix: " + f.Hint + ")"
			}
			run.Results = append(run.Results, sarifResult{
				RuleID:    f.Rule,
				RuleIndex: index[f.Rule],
				Level:     f.Severity.level(),
				Message:   sarifText{msg},
				Locations: []sarifLocation{{loc}},
				Properties: map[string]any{
					"severity":          f.Severity.String(),
					"security-severity": f.Severity.securitySeverity(),
					"path":              f.Path,
					"hint":              f.Hint,
				},
			})
		}
	}
	run.Properties = map[string]any{"exposure": scores}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(sarifLog{Schema: sarifSchema, Version: "2.1.0", Runs: []sarifRun{run}})
}
