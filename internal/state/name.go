package state

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"time"

	"github.com/cellsandbox/cell/internal/cgroup"
)

// Name is the name of a new sandbox: given, checked by ValidName, or,
// when given is "", the profile's name and a random suffix.
func Name(given, profile string) (string, error) {
	if given != "" {
		return given, ValidName(given)
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	// A profile's name has up to 63 characters, a sandbox's too.
	const suffix = len("-01234567")
	if len(profile) > 63-suffix {
		profile = profile[:63-suffix]
	}
	return profile + "-" + hex.EncodeToString(b[:]), nil
}

// NewRecord is the record of a sandbox that this process is about to
// start and will supervise: CellPid and CellStart are this process.
func NewRecord(name, profile string, cg *cgroup.Group) *Record {
	r := &Record{Name: name, Profile: profile, Started: time.Now().UTC(), Cgroup: cg, CellPid: os.Getpid()}
	r.CellStart, _ = StartTime(r.CellPid)
	return r
}
