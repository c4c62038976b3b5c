package proto

// PoolVersion is the version of the pool protocol that this build speaks,
// as client and as server (launcher/pool.Version; 1 had no env and dir).
const PoolVersion = 2

// Request is a pool client's first message, which carries the command's
// stdin, stdout and stderr.
type Request struct {
	Version int         `json:"version"`
	Run     *RunRequest `json:"run,omitempty"`
}

// RunRequest is the command that a Request asks for.
type RunRequest struct {
	Args    []string `json:"args"`
	TTY     bool     `json:"tty,omitempty"`
	Console bool     `json:"console,omitempty"`
	Stats   bool     `json:"stats,omitempty"`
	Env     []string `json:"env,omitempty"`
	Dir     string   `json:"dir,omitempty"`
}

// ClientMsg is every later message of a pool client.
type ClientMsg struct {
	Signal int `json:"signal,omitempty"`
}

// ServerMsg is a message of a pool server: the answer (Version with
// Sandbox, or Error) or the last one (Exit, or Error).
type ServerMsg struct {
	Version int        `json:"version,omitempty"`
	Sandbox string     `json:"sandbox,omitempty"`
	Console string     `json:"console,omitempty"`
	Exit    *Status    `json:"exit,omitempty"`
	Stats   *Stats     `json:"stats,omitempty"`
	Error   *WireError `json:"error,omitempty"`
}

// WireError is a refused request or a command that could not be started.
type WireError struct {
	Msg   string `json:"msg"`
	Errno int    `json:"errno,omitempty"`
}

// Stats are an ended sandbox's resource statistics: what `cell run
// --stats` writes and what a pool's client receives. The JSON field names
// are a stable format: fields are added, never renamed or removed. A
// counter that could not be measured is absent (nil).
type Stats struct {
	Name    string `json:"name"`
	Profile string `json:"profile"`
	// Exit is the command's exit code; Signal the signal that killed it
	// (then Exit is 128+signal, as a shell reports it).
	Exit       int    `json:"exit"`
	Signal     string `json:"signal,omitempty"`
	WallTimeUs int64  `json:"wallTimeUs"`
	// CPU time of the sandbox's processes, from the cgroup when there is
	// one, else from the rusage of init and what it reaped.
	CPUUserUs   *uint64 `json:"cpuUserUs,omitempty"`
	CPUSystemUs *uint64 `json:"cpuSystemUs,omitempty"`
	// MemoryPeakBytes is the cgroup's peak, or without a cgroup the
	// largest resident set of a single process (ru_maxrss).
	MemoryPeakBytes *uint64 `json:"memoryPeakBytes,omitempty"`
	OOMKills        *uint64 `json:"oomKills,omitempty"`
	PidsPeak        *uint64 `json:"pidsPeak,omitempty"`
	PidsMaxHits     *uint64 `json:"pidsMaxHits,omitempty"`
	// Source says where the counters come from: "cgroup" or "rusage".
	Source string `json:"source"`
}
