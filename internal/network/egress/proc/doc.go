// Package proc is the egress proxy's process seen from cell: starting it
// (Spawn) on the sockets init made, reading its decisions (Decision, one
// JSON line each) into the sandbox's log, and counting the denials of a
// log (CountDenied). The proxy itself, with its DNS library, is package
// egress, which runs in the proxy's own process: a program that only
// starts proxies (cell's lean run binary) links this package and not
// that one.
package proc
