// Package proto is the wire of cell's two socket protocols: the one
// between cell and a sandbox's init (parent↔init), and the one between a
// pool's or a running sandbox's server and its clients (the pool
// protocol, whose messages are documented for other programs in
// launcher/pool). It holds their messages, their versions and the one
// framing both use; it does no work of its own beyond reading and writing
// them, so that each side's code reads what it does with a message, not
// how it travels.
//
// # Framing
//
// Both protocols run over a unix stream socket and carry JSON objects,
// one a line: UTF-8, each ended by "\n", no newline inside one (Go's
// encoding/json never writes one). Descriptors travel as SCM_RIGHTS with
// the sendmsg that writes the first byte of their message; the reader
// collects them as they arrive (received close-on-exec) and each message
// type says how many are its own (Message.FDs; a pool request carries
// three). A Reader refuses a line longer than MaxMessage, and a stream
// that ends inside a line is a *TruncatedError, never a short message.
// Blank lines are skipped. Unknown fields are ignored, so that fields can
// be added within a version; whatever an older peer would misread needs a
// new version.
//
// # Parent↔init
//
// cell makes a socket pair and passes one end to init at the number that
// init's exec-init step names. From cell, in this order:
//
//  1. Only when setuid helpers write init's ID maps (init then runs first
//     with the wait-for-maps argument): {"protocol":V,"mapped":true} once
//     they have. init reads it a byte at a time, so as not to consume
//     what follows, and executes itself again.
//  2. {"protocol":V,"runtime":{...}}: what only this run knows (Runtime).
//  3. The plan, one line, exactly the bytes of plan.Encode, which
//     `cell plan --json` prints indented: nothing is rewritten on the
//     way. It is at most MaxPlan bytes.
//  4. Any number of {"signal":N}, {"exec":{...}} (with three
//     descriptors: stdin, stdout, stderr) and {"execSignal":{...}}, until
//     init ends.
//
// V is InitVersion. init refuses a first message of another version (or
// none) with a failure for no step (Failure.Step is -1) whose text names
// both versions, and exits; cell reports it as it is. cell and cell-init
// are separate binaries (cell finds cell-init of the same build, see
// launcher's FindInit), so this is the last line against a mismatch.
//
// From init, in this order: with a traced run, the plan's hash; while it
// runs its steps, a trace record per step (traced runs), a console
// ({"console":NAME} with the pty's master) and the egress proxy's sockets
// ({"egress":[...]} with one descriptor each) when its steps make them;
// then either {"failure":{...}} for the step that failed, after which init
// exits, or {"socket":true} with a new socket's other end, made in the
// sandbox's network namespace (cell puts it at its old socket's number,
// which closes that; init reads the old one to its end, then uses the new
// one), {"ready":true} when it reads the socket with recvmsg (exec
// requests may then come), the exits and consoles of exec'd commands,
// and last {"exit":{...}}. init's end closes its socket; EOF without an
// exit or failure report means init died, and cell says so. cell closes
// its end after init has been reaped.
//
// # Pool
//
// One connection carries one request. The client writes the Request with
// the command's three descriptors; the server answers once with its
// version and the sandbox that took the request, or refuses it (and
// closes); the client then sends any number of signals (ClientMsg) and
// the server ends with the command's exit or why it could not start, and
// closes. A client that closes first has given up: the server kills the
// command. Both check the other's version: the server the request's, the
// client the answer's (see launcher/pool for the fields, which are a
// public format).
package proto
