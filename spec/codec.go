package spec

import "github.com/cellsandbox/cell/internal/codec"

// plainProfile is Profile without its methods, for the codec's own
// encoding of its exported fields.
type plainProfile Profile

// binaryProfile is a Profile as MarshalBinary writes it: its fields, its
// file and the positions of its values, which At reports.
type binaryProfile struct {
	P         *plainProfile
	File      string
	Positions map[string]Pos
	Keys      map[string]Pos
}

// MarshalBinary encodes the profile with the positions of its values, so
// that a decoded profile is the same value (At reports the same
// positions). It is the codec of launcher's cache of compiled profiles
// (internal/codec), which checks that a profile decodes equal before it
// keeps it; the bytes are for the same build of cell only.
func (p *Profile) MarshalBinary() ([]byte, error) {
	return codec.Marshal(binaryProfile{P: (*plainProfile)(p), File: p.File, Positions: p.positions, Keys: p.keys})
}

// UnmarshalBinary decodes what MarshalBinary encoded.
func (p *Profile) UnmarshalBinary(data []byte) error {
	var b binaryProfile
	if err := codec.Unmarshal(data, &b); err != nil {
		return err
	}
	if b.P != nil {
		*p = Profile(*b.P)
	}
	p.File, p.positions, p.keys = b.File, b.Positions, b.Keys
	return nil
}
