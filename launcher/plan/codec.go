package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Version is the version of the plan's JSON form, its top-level
// "version". Decode refuses any other: init and cell must agree on what
// every field means. Version 1 was the untyped form, whose steps had one
// set of fields for every op; version 2 gives each step its op's own
// arguments, under "args".
const Version = 2

// planJSON is Plan with its version, as it is encoded.
type planJSON struct {
	Version int `json:"version"`
	planFields
}

// planFields is Plan without its methods, so that encoding it does not
// recurse into Plan's MarshalJSON.
type planFields Plan

// MarshalJSON encodes the plan with its version (a value receiver, so
// that a Plan encoded by value has it too).
func (p Plan) MarshalJSON() ([]byte, error) {
	return json.Marshal(planJSON{Version: Version, planFields: planFields(p)})
}

// UnmarshalJSON decodes a plan of this Version (see Decode).
func (p *Plan) UnmarshalJSON(b []byte) error { return decodePlan(b, p) }

// stepJSON is a step as it is encoded: the side, the op by name, the
// position, and the action's own fields under "args".
type stepJSON struct {
	Side Side            `json:"side"`
	Op   Op              `json:"op"`
	Pos  Pos             `json:"pos"`
	Args json.RawMessage `json:"args,omitempty"`
}

// MarshalJSON encodes the step; a step without an action is an error.
func (s Step) MarshalJSON() ([]byte, error) {
	if s.Do == nil {
		return nil, fmt.Errorf("%s step at %s has no action", s.Side, s.Pos)
	}
	args, err := json.Marshal(s.Do)
	if err != nil {
		return nil, fmt.Errorf("%s step: %w", s.Do.Op(), err)
	}
	if bytes.Equal(args, []byte("{}")) {
		args = nil
	}
	return json.Marshal(stepJSON{Side: s.Side, Op: s.Do.Op(), Pos: s.Pos, Args: args})
}

// UnmarshalJSON decodes a step: its op (an unknown one is an error)
// picks the type of its action, which its args fill.
func (s *Step) UnmarshalJSON(b []byte) error {
	d := &decoder{b: b}
	if err := s.decode(d); err != nil {
		return err
	}
	if d.peek() != 0 {
		return d.errorf("data after the step")
	}
	return nil
}

// Encode returns the plan as JSON, the form in which it reaches init.
func (p *Plan) Encode() ([]byte, error) { return json.Marshal(p) }

// Decode parses a plan encoded by Encode and checks it.
func Decode(b []byte) (*Plan, error) {
	var p Plan
	if err := decodePlan(b, &p); err != nil {
		return nil, fmt.Errorf("decode plan: %w", err)
	}
	if err := p.Check(); err != nil {
		return nil, fmt.Errorf("decode plan: %w", err)
	}
	return &p, nil
}
