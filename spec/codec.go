package spec

import (
	"bytes"
	"encoding/gob"
)

// plainProfile is Profile without its methods, for gob's own encoding of
// its exported fields.
type plainProfile Profile

// gobProfile is a Profile as GobEncode writes it: its fields, its file
// and the positions of its values, which At reports.
type gobProfile struct {
	P         *plainProfile
	File      string
	Positions map[string]Pos
	Keys      map[string]Pos
}

// GobEncode encodes the profile with the positions of its values, so that
// a decoded profile is the same value (At reports the same positions).
// It is the codec of launcher's cache of compiled profiles, which checks
// that a profile decodes equal before it keeps it.
func (p *Profile) GobEncode() ([]byte, error) {
	var b bytes.Buffer
	err := gob.NewEncoder(&b).Encode(gobProfile{P: (*plainProfile)(p), File: p.File, Positions: p.positions, Keys: p.keys})
	return b.Bytes(), err
}

// GobDecode decodes what GobEncode encoded.
func (p *Profile) GobDecode(data []byte) error {
	var g gobProfile
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&g); err != nil {
		return err
	}
	if g.P != nil {
		*p = Profile(*g.P)
	}
	p.File, p.positions, p.keys = g.File, g.Positions, g.Keys
	return nil
}
