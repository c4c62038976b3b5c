package spec

// Given reports whether the value at the field path path was written in
// the profile (or by --set), as opposed to left at its zero value: it
// tells "writable: false" from no writable at all.
func (p *Profile) Given(path string) bool {
	return p != nil && p.given(path)
}
