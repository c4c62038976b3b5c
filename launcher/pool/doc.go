// Package pool hands commands to sandboxes that were built ahead of time:
// the sandboxes of a pool (`cell pool start`), each of which runs exactly
// one command, and a running sandbox's exec socket (`cell exec`). It holds
// both sides of one socket protocol: the client (Dial, Client.Start,
// Client.Run), which `cell run --pool` and `cell exec` use and a Go
// program can use without starting a cell process, and the server: the
// pool daemon (Serve, which `cell pool start` runs) and its parts
// (Accept, Conn.RunPooled, Conn.Exec), and a running sandbox's exec
// socket (ServeExec, which launcher.Run serves).
//
// A pooled sandbox has run every step of its plan up to the command's
// (namespaces, mounts, cgroup and limits, capabilities, no_new_privs,
// landlock, seccomp) when a request arrives; its init forks the command
// from the thread that holds those filters. The request brings only the
// argument vector and the three standard descriptors; the command's
// credentials, working directory and environment are the profile's.
//
// # Finding the socket
//
// A pool NAME listens on the unix stream socket pool-NAME.sock in the
// state directory (/run/cell for root, $XDG_RUNTIME_DIR/cell otherwise;
// see internal/state.Dir); a running sandbox NAME on NAME.sock there. The
// sockets are mode 0600, and the server also refuses a peer (SO_PEERCRED)
// that is neither its own user nor root. The client checks the other way
// before it sends anything: the state directory, the record and the
// socket must be the caller's and writable by no one else
// (internal/state), and the server (SO_PEERCRED) must run as the caller
// or root and, for Dial and cell exec, be the cell process that the
// record names, by pid and start time.
//
// # Messages
//
// Both directions carry JSON objects, one per line (UTF-8, each ended by
// "\n"; no newline inside an object). Unknown fields are ignored, so that
// fields can be added within a version. One connection carries one
// request:
//
//  1. Client to server, the request. It must be written with one sendmsg
//     whose SCM_RIGHTS control message carries exactly three descriptors,
//     in order the command's stdin, stdout and stderr (any file, pipe,
//     socket or terminal; the server passes them on and closes its
//     copies):
//
//     {"version":2,"run":{"args":["make","test"],"tty":false,"stats":true,"env":["CC=clang","TERM=xterm"],"dir":"/src"}}
//
//     version is the client's protocol version (Version). args is the
//     argument vector, args[0] looked up in the profile's PATH as execvp
//     does; it must not be empty. tty asks that stdin become the
//     command's controlling terminal (stdin must then be a terminal).
//     console (with tty) asks for that terminal to be made in the
//     sandbox's own devpts instead; stdin, stdout and stderr then serve
//     only if the sandbox cannot make one.
//     stats asks for the sandbox's resource statistics with the exit
//     report; only a pool's sandbox has them, and they cost the wait for
//     the sandbox's end (its pid namespace's teardown and its cgroup's
//     removal) before the report is sent. env is the caller's
//     environment (KEY=VALUE strings): the command gets the values of
//     the variables that the profile's passEnv names and its env does not
//     set (cell plan --pool lists them), and no other. dir, when set, is
//     the command's working directory inside the sandbox instead of the
//     profile's process.cwd. env and dir are for a pool's sandbox; cell
//     exec's commands run with the sandbox's own.
//
//  2. Server to client, the answer to the request, sent when the request
//     has been given a sandbox (a pool's client may wait here while a
//     sandbox is built):
//
//     {"version":2,"sandbox":"ci-1a2b3c4d"}
//
//     version is the server's protocol version; sandbox names the sandbox
//     that runs the command (as `cell ps` lists it). For a request with
//     console whose terminal the sandbox made, console names it
//     ("console":"/dev/pts/0") and the message carries its master
//     (SCM_RIGHTS), between which and its terminal the client copies.
//     Or the request is
//     refused, and the server closes the connection after:
//
//     {"version":2,"error":{"msg":"protocol version 3 is not served here: this server speaks version 2"}}
//
//  3. Client to server, any number of times while the command runs: a
//     signal for the command (its number on Linux). One sent before the
//     command was forked is delivered as soon as it is.
//
//     {"signal":15}
//
//  4. Server to client, the last message; the server closes the
//     connection after it. The command's end: its pid inside the sandbox,
//     its exit code, or the signal that killed it (then code is 0), and
//     with stats the statistics, the same object as `cell run --stats`
//     writes (its field names are stable; a counter the host cannot
//     measure is absent; wallTimeUs counts from the request's hand-over
//     to the sandbox's end):
//
//     {"exit":{"pid":2,"code":0},"stats":{"name":"ci-1a2b3c4d","profile":"build-worker","exit":0,"wallTimeUs":1840,"cpuUserUs":1200,"memoryPeakBytes":3420160,"source":"cgroup"}}
//
//     Or the command could not be started, with the errno when a system
//     call failed (2, ENOENT: not found; a shell reports 127, else 126):
//
//     {"error":{"msg":"execve nosuch: ENOENT (no such file or directory)","errno":2}}
//
// A client that closes the connection before the last message is taken
// to have given up: the server kills the command (SIGKILL).
//
// # Versions
//
// Version is 2 (1 had no env and dir). Both sides check the other's version: the server the
// request's, the client the answer's, which the server sends in every
// answer, a refusal included. A request of a version the server does not
// speak is refused with an error naming both versions, before a sandbox is
// taken for it, and a client that reads an answer of another version
// fails naming both. The version changes with any change that an older
// peer would misread; the "version" field of the first message in each
// direction keeps its name and meaning in every version.
package pool
