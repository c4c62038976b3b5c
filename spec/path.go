package spec

import (
	"strconv"
	"strings"
)

// At returns the position of the value at path ("filesystem.mounts[2].target"),
// or, when that value was not written (or was null), of its mapping entry's
// key. Failing both it returns the position of the nearest ancestor: of
// its key if it has one, as in "ids:", else of its value, as for a list
// element. It returns Pos{File: p.File} when nothing has a position, as
// for a Profile that was not made by Parse.
func (p *Profile) At(path string) Pos {
	if p == nil {
		return Pos{}
	}
	if pos, ok := p.positions[path]; ok {
		return pos
	}
	for {
		if pos, ok := p.keys[path]; ok {
			return pos
		}
		if pos, ok := p.positions[path]; ok {
			return pos
		}
		if path == "" {
			return Pos{File: p.File}
		}
		path = parentPath(path)
	}
}

// given reports whether the value at path was written in the profile (not
// null, not absent).
func (p *Profile) given(path string) bool {
	_, ok := p.positions[path]
	return ok
}

// joinKey returns the path of the mapping entry key under path.
func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// joinIndex returns the path of the list element i under path.
func joinIndex(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// parentPath strips the last element from path: "a.b[2]" gives "a.b",
// "a.b" gives "a", "a" gives "".
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}
