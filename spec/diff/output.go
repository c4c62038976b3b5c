package diff

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Summary says how many changes there are of each class:
// "3 changes: 1 widens, 1 narrows, 1 neutral".
func (r *Report) Summary() string {
	n := len(r.Changes)
	if n == 0 {
		return "no changes"
	}
	noun := "changes"
	if n == 1 {
		noun = "change"
	}
	return fmt.Sprintf("%d %s: %d widens, %d narrows, %d neutral", n, noun, r.Count(Widens), r.Count(Narrows), r.Count(Neutral))
}

// context is the number of unchanged plan lines shown around a change.
const context = 2

// hunks returns the lines of a line diff worth showing: the changed ones
// with context lines around them, and nil between hunks.
func hunks(lines []Line) []*Line {
	show := make([]bool, len(lines))
	for i, l := range lines {
		if l.Op != Same {
			for j := max(0, i-context); j <= min(len(lines)-1, i+context); j++ {
				show[j] = true
			}
		}
	}
	var out []*Line
	gap := false
	for i := range lines {
		if !show[i] {
			gap = true
			continue
		}
		if gap && len(out) > 0 {
			out = append(out, nil)
		}
		gap = false
		out = append(out, &lines[i])
	}
	return out
}

// Write prints r as text: a summary line, then each change with its class,
// key, old and new values, the reason and the positions in both files,
// then the changed lines of the plans.
func Write(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s -> %s: %s\n", r.Old, r.New, r.Summary())
	for _, c := range r.Changes {
		fmt.Fprintf(&b, "%-7s %s: %s -> %s\n", c.Class, c.Key, show(c.Old), show(c.New))
		fmt.Fprintf(&b, "        %s\n", c.Why)
		fmt.Fprintf(&b, "        %s -> %s\n", c.OldPos, c.NewPos)
	}
	if r.Plan != nil {
		if !Differ(r.Plan) {
			b.WriteString("plan: unchanged\n")
		} else {
			b.WriteString("plan:\n")
			for _, l := range hunks(r.Plan) {
				if l == nil {
					b.WriteString("  ...\n")
					continue
				}
				fmt.Fprintf(&b, "%s %s\n", l.Op, l.Text)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mdCell escapes text for a Markdown table cell.
func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// mdCode writes s as inline code, or nothing when s is empty.
func mdCode(s string) string {
	if s == "" {
		return ""
	}
	return "`" + mdCell(strings.ReplaceAll(s, "`", "'")) + "`"
}

// classMark is the Markdown label of a class.
func classMark(c Class) string {
	switch c {
	case Neutral:
	case Widens:
		return "**widens**"
	case Narrows:
		return "narrows"
	}
	return "neutral"
}

// WriteMarkdown prints r as Markdown for a pull-request comment: a
// summary, a table of changes with widenings first, and the plan's
// changes in a collapsed diff block.
func WriteMarkdown(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### Sandbox profile: `%s` → `%s`\n\n", mdCell(r.Old), mdCell(r.New))
	if n := r.Count(Widens); n > 0 {
		fmt.Fprintf(&b, "**%s.** Widenings come first; each needs a reviewer's approval.\n\n", r.Summary())
	} else {
		fmt.Fprintf(&b, "%s.\n\n", r.Summary())
	}
	if len(r.Changes) > 0 {
		b.WriteString("| Class | Field | Old | New | Why | Where |\n|---|---|---|---|---|---|\n")
		for _, cls := range []Class{Widens, Narrows, Neutral} {
			for _, c := range r.Changes {
				if c.Class != cls {
					continue
				}
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s → %s |\n", classMark(c.Class), mdCode(c.Key),
					mdCode(c.Old), mdCode(c.New), mdCell(c.Why), mdCell(c.OldPos.String()), mdCell(c.NewPos.String()))
			}
		}
		b.WriteString("\n")
	}
	if r.Plan != nil {
		if !Differ(r.Plan) {
			b.WriteString("The compiled plan is unchanged.\n")
		} else {
			b.WriteString("<details><summary>Changes in the compiled plan</summary>\n\n```diff\n")
			for _, l := range hunks(r.Plan) {
				if l == nil {
					b.WriteString("@@ ... @@\n")
					continue
				}
				fmt.Fprintf(&b, "%s %s\n", l.Op, l.Text)
			}
			b.WriteString("```\n\n</details>\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON prints r as JSON, with the count of each class.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(struct {
		*Report
		Widens  int `json:"widens"`
		Narrows int `json:"narrows"`
		Neutral int `json:"neutral"`
	}{r, r.Count(Widens), r.Count(Narrows), r.Count(Neutral)})
}
