package diff

// Classified reports whether the key pattern p has a classification rule.
func Classified(p string) bool {
	if _, ok := rules[p]; ok {
		return true
	}
	_, why := classify(&Change{}, p, nil, nil)
	return why != unclassified
}
