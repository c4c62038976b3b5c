package spec

// testEnv is the caller's environment in tests.
var testEnv = map[string]string{"TERM": "xterm", "EMPTY": "", "TOOL": "/opt/tool"}

// testVars are the variables' values in tests.
var testVars = Vars{
	Home: "/home/alice",
	User: "alice",
	PWD:  "/home/alice/src",
	UID:  1000,
	GID:  100,
	LookupEnv: func(name string) (string, bool) {
		v, ok := testEnv[name]
		return v, ok
	},
}
