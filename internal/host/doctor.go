package host

import ()

// Status is the outcome of one check.
type Status string

// The outcomes: the feature works, does not (and what needs it fails), or
// works with a limitation.
const (
	OK   Status = "ok"
	Fail Status = "fail"
	Warn Status = "warn"
)

// Check is one thing `cell doctor` looks at.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	// Fix is the exact change that would make it work, when there is one.
	Fix string `json:"fix,omitempty"`
}
