package spec

import (
	"cmp"
	"slices"
	"strings"
)

// Error is one problem at one position of a profile.
type Error struct {
	// Pos is where the offending text was written.
	Pos Pos
	// Path is the field path of the offending value, such as
	// "filesystem.mounts[2].target"; it is empty for a problem with the
	// file as a whole.
	Path string
	// Msg says what is wrong, in lower case.
	Msg string
}

// Error formats the error as "file:line:col: path: msg", leaving out the path
// when it is empty.
func (e *Error) Error() string {
	if e.Path == "" {
		return e.Pos.String() + ": " + e.Msg
	}
	return e.Pos.String() + ": " + e.Path + ": " + e.Msg
}

// ErrorList is every error found in a profile, in position order.
type ErrorList []*Error

// Error joins the errors' messages with newlines.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// sort orders l by position: the errors in file first, then those of other
// pseudo files (--set) by name, each by line and column; ties keep their order.
// Exact duplicates are removed.
func (l ErrorList) sort(file string) ErrorList {
	slices.SortStableFunc(l, func(a, b *Error) int {
		if c := cmp.Compare(boolInt(a.Pos.File != file), boolInt(b.Pos.File != file)); c != 0 {
			return c
		}
		return cmp.Or(
			cmp.Compare(a.Pos.File, b.Pos.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Col, b.Pos.Col),
		)
	})
	return slices.CompactFunc(l, func(a, b *Error) bool { return *a == *b })
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
