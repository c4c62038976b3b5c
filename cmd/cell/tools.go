package main

// toolsName is the file name of cell's full build (cmd/cell without the
// cell_lean tag): cell's run binary, built with the tag, leaves out the
// review tools, OCI bundles, CRIU and the egress proxy, whose packages
// cost every launch their start, and runs this program beside it for
// them with its own arguments.
const toolsName = "cell-tools"

// The commands that the run binary leaves to cell-tools, with the usage
// that cell --help lists (TestLeanBuild compares both builds' help).
var toolUsage = map[string]string{
	"export":     "write a profile as an OCI bundle (config.json and rootfs) that runc and crun run",
	"checkpoint": "write a running sandbox's processes, mounts, namespaces, limits and plan to DIR (CRIU)",
	"restore":    "rebuild a sandbox from a checkpoint's plan and resume its processes (CRIU)",
	"lint":       "report what in profiles widens the sandbox, with an exposure score",
	"diff":       "compare two profiles: what widens, narrows or stays neutral, and the change in the plan",
	"explain":    "describe a profile in plain words for a reviewer",
	"show":       "print the resolved profile (after extends, variables, --set and defaults) as YAML",
	"schema":     "print the JSON Schema of profiles",
	"profiles":   "list the built-in profiles with their descriptions",
}
