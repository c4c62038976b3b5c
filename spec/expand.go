package spec

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Vars are the values of the ${...} variables in a profile.
type Vars struct {
	// Home, User and PWD are the values of ${HOME}, ${USER} and ${PWD}.
	// Using one that is empty is an error.
	Home, User, PWD string
	// UID and GID are the values of ${UID} and ${GID}.
	UID, GID uint32
	// LookupEnv gives the value of ${env:NAME}, as os.LookupEnv does; nil
	// means nothing is set.
	LookupEnv func(name string) (string, bool)
}

// varNames are the variables other than ${env:NAME}, for suggestions.
var varNames = []string{"HOME", "USER", "UID", "GID", "PWD"}

// varError is one problem in a string's variables; off is the byte offset
// of the "$" that starts the reference.
type varError struct {
	off int
	msg string
}

// expand replaces the variable references in s: ${HOME}, ${USER}, ${UID},
// ${GID}, ${PWD}, ${env:NAME} and ${env:NAME:-default} (the default is used
// when NAME is unset or empty, and may hold references itself, such as
// ${env:OUT:-${PWD}/out}). "$$" is a literal "$", and a "$" followed by
// anything but "{" or "$" is kept as it is, so that shell text such as "$1"
// needs no escape.
func (v *Vars) expand(s string) (string, []varError) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	var errs []varError
	for i := 0; i < len(s); {
		switch {
		case s[i] != '$':
			b.WriteByte(s[i])
			i++
		case strings.HasPrefix(s[i:], "$$"):
			b.WriteByte('$')
			i += 2
		case strings.HasPrefix(s[i:], "${"):
			end := closingBrace(s[i:])
			if end < 0 {
				errs = append(errs, varError{i, fmt.Sprintf("unterminated %q: missing \"}\"", shorten(s[i:]))})
				return b.String(), errs
			}
			val, msg := v.lookup(s[i+2 : i+end])
			if msg != "" {
				errs = append(errs, varError{i, msg})
			}
			b.WriteString(val)
			i += end + 1
		default:
			b.WriteByte('$')
			i++
		}
	}
	return b.String(), errs
}

// closingBrace returns the index in s, which starts with "${", of the "}"
// that closes it, past nested "${...}", or -1.
func closingBrace(s string) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			// A literal "${...}": its "}" is its own.
			depth++
			i += 2
		case strings.HasPrefix(s[i:], "$$"):
			i++
		case strings.HasPrefix(s[i:], "${"):
			depth++
			i++
		case s[i] == '}':
			if depth--; depth == 0 {
				return i
			}
		}
	}
	return -1
}

// lookup returns the value of the reference ref (the text between "${" and
// "}"), or a message saying why it has none.
func (v *Vars) lookup(ref string) (string, string) {
	if rest, ok := strings.CutPrefix(ref, "env:"); ok {
		name, def, hasDef := strings.Cut(rest, ":-")
		if !envNameRE().MatchString(name) {
			return "", fmt.Sprintf("${%s}: %q is not a valid environment variable name", shorten(ref), shorten(name))
		}
		var val string
		var set bool
		if v.LookupEnv != nil {
			val, set = v.LookupEnv(name)
		}
		switch {
		case set && val != "":
			return val, ""
		case hasDef:
			val, errs := v.expand(def)
			if len(errs) > 0 {
				return val, errs[0].msg
			}
			return val, ""
		case set:
			return "", ""
		}
		if len(ref) > 64 {
			return "", fmt.Sprintf("environment variable %s is not set", shorten(name))
		}
		return "", fmt.Sprintf("${%s}: environment variable %s is not set (write ${env:%s:-default} to give a default)", ref, name, name)
	}
	var val string
	switch ref {
	case "HOME":
		val = v.Home
	case "USER":
		val = v.User
	case "PWD":
		val = v.PWD
	case "UID":
		return strconv.FormatUint(uint64(v.UID), 10), ""
	case "GID":
		return strconv.FormatUint(uint64(v.GID), 10), ""
	default:
		msg := fmt.Sprintf("unknown variable ${%s}", shorten(ref))
		if s, ok := closest(ref, varNames); ok {
			msg += fmt.Sprintf(" (did you mean ${%s}?)", s)
		} else if envNameRE().MatchString(ref) && len(ref) <= 64 {
			msg += fmt.Sprintf(" (did you mean ${env:%s}?)", ref)
		} else {
			msg += " (known: ${HOME}, ${USER}, ${UID}, ${GID}, ${PWD}, ${env:NAME})"
		}
		return "", msg
	}
	if val == "" {
		return "", fmt.Sprintf("${%s} has no value here", ref)
	}
	return val, ""
}

// shorten cuts s to a length fit for a message.
func shorten(s string) string {
	const max = 24
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}

// closest returns the candidate nearest to name, if one is within edit
// distance 2 ignoring case, and the edits change less than half of the
// longer word: "nmae" suggests "name", but "base" does not.
func closest(name string, candidates []string) (string, bool) {
	best, bestD := "", 3
	for _, c := range candidates {
		d := editDistance(strings.ToLower(name), strings.ToLower(c))
		if d < bestD && 2*d < max(len(name), len(c)) {
			best, bestD = c, d
		}
	}
	return best, best != ""
}

// editDistance is the optimal string alignment distance between a and b:
// the number of single-byte insertions, deletions, substitutions and
// transpositions of neighbours that turn a into b.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20 // not a typo of anything we know
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
