package seccomp

//go:generate go run gen_sysnum.go -o sysnum.go

// LookupSyscall returns the x86_64 number of the syscall name ("openat"),
// and false when x86_64 has no such syscall. Names are those of the
// kernel's syscall table, without a sys_ prefix; syscalls of other
// architectures (chown32, socketcall) are unknown.
func LookupSyscall(name string) (nr int, ok bool) {
	return syscallNumber(name)
}

// SyscallName returns the name of the x86_64 syscall nr, and false when
// the number is unused.
func SyscallName(nr int) (name string, ok bool) {
	if nr < 0 || nr > maxSyscall || syscallNames[nr] == "" {
		return "", false
	}
	return syscallNames[nr], true
}

// Syscalls returns the numbers of every x86_64 syscall, in order.
func Syscalls() []int {
	nrs := make([]int, 0, len(syscallNames))
	for nr, name := range syscallNames {
		if name != "" {
			nrs = append(nrs, nr)
		}
	}
	return nrs
}

// closest returns the syscall name nearest to name, or "" when none is
// within a few edits.
func closest(name string) string {
	best, bestDist := "", len(name)/3+2
	for _, cand := range syscallNames {
		if cand == "" {
			continue
		}
		if d := editDistance(name, cand); d < bestDist {
			best, bestDist = cand, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
