//go:build tools

// Package ocivalidation pins the opencontainers/runtime-tools validation
// suite (v0.9.0, with the runtime-spec and selinux versions it builds
// with) for `make test-oci`; it is a module of its own, outside cell's.
package ocivalidation

import (
	_ "github.com/opencontainers/runtime-tools/cmd/runtimetest"
	_ "github.com/opencontainers/runtime-tools/validation/util"
)
