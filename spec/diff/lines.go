package diff

// Op says what a Line of a line diff is.
type Op uint8

// The line operations.
const (
	Same Op = iota
	Insert
	Delete
)

// String returns " ", "+" or "-", as in a unified diff.
func (o Op) String() string {
	switch o {
	case Same:
		return " "
	case Insert:
		return "+"
	case Delete:
		return "-"
	}
	return "?"
}

// MarshalText prints the sign.
func (o Op) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// Line is one line of a line diff.
type Line struct {
	Op   Op     `json:"op"`
	Text string `json:"text"`
}

// Lines returns a shortest edit script from a to b as lines kept, deleted
// and inserted, deletions before insertions where lines are replaced. It
// takes time and memory proportional to len(a)×len(b), which is fine for
// plans of a few hundred steps.
func Lines(a, b []string) []Line {
	// lcs[i][j] is the length of the longest common subsequence of a[i:]
	// and b[j:].
	lcs := make([][]int32, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []Line
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			out = append(out, Line{Same, a[i]})
			i++
			j++
		case j == len(b) || i < len(a) && lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, Line{Delete, a[i]})
			i++
		default:
			out = append(out, Line{Insert, b[j]})
			j++
		}
	}
	return out
}

// Differ reports whether lines hold an insertion or deletion.
func Differ(lines []Line) bool {
	for _, l := range lines {
		if l.Op != Same {
			return true
		}
	}
	return false
}
