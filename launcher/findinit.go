package launcher

import (
	"debug/buildinfo"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"

	"github.com/cellsandbox/cell/internal/sibling"
)

// InitName is the file name of the separately built init that cell uses
// when it lies beside cell's own executable.
const InitName = "cell-init"

// FindInit returns the path of the init that sandboxes run: cell-init
// (InitName) beside this process's executable when it is safe to trust
// and comes from the same build, else "" (this executable is re-executed
// as init, through /proc/self/exe), with the reason it was not used.
//
// cell-init must be the launcher's own code: a stale one could build a
// sandbox differently from the plan that was printed. So both binaries
// must be stamped by Go with the same committed revision of an
// unmodified tree (a build from a dirty tree or without version control
// cannot tell, and is not trusted), the same Go and the same module
// versions. The file must also be a regular executable with the
// executable's owner, writable by no one else, in a directory that only
// root or that owner can write, so that no other user can put an init in
// its place. The answer is computed once per process.
func FindInit() (path, why string) { return findInit() }

var findInit = sync.OnceValues(func() (string, string) {
	self, err := os.Executable()
	if err != nil {
		return "", err.Error()
	}
	path := filepath.Join(filepath.Dir(self), InitName)
	if why := initTrusted(self, path); why != "" {
		return "", why
	}
	return path, ""
})

func initTrusted(self, path string) string {
	if why := sibling.Safe(self, path); why != "" {
		return why
	}
	mine, ok := debug.ReadBuildInfo()
	if !ok {
		return "cell has no build information"
	}
	theirs, err := buildinfo.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("%s: %v", path, err)
	}
	return sameBuild(mine, theirs)
}

// sameBuild says why theirs (cell-init) may not be from the build of
// mine (cell), or returns "".
func sameBuild(mine, theirs *debug.BuildInfo) string {
	setting := func(b *debug.BuildInfo, key string) string {
		for _, s := range b.Settings {
			if s.Key == key {
				return s.Value
			}
		}
		return ""
	}
	rev := setting(mine, "vcs.revision")
	switch {
	case rev == "":
		return "cell was built without version control information, so the build of " + InitName + " cannot be matched"
	case setting(mine, "vcs.modified") != "false":
		return "cell was built from a modified tree, so the build of " + InitName + " cannot be matched"
	case setting(theirs, "vcs.revision") != rev || setting(theirs, "vcs.modified") != "false":
		return fmt.Sprintf("%s is from another build (revision %s, modified %s; cell's %s)", InitName,
			setting(theirs, "vcs.revision"), setting(theirs, "vcs.modified"), rev)
	case theirs.GoVersion != mine.GoVersion:
		return fmt.Sprintf("%s was built with %s, cell with %s", InitName, theirs.GoVersion, mine.GoVersion)
	case theirs.Main.Path != mine.Main.Path:
		return fmt.Sprintf("%s is from module %s, cell from %s", InitName, theirs.Main.Path, mine.Main.Path)
	}
	versions := map[string]string{}
	for _, d := range mine.Deps {
		versions[d.Path] = d.Version
	}
	for _, d := range theirs.Deps {
		if v, ok := versions[d.Path]; !ok || v != d.Version {
			return fmt.Sprintf("%s uses %s %s, cell %q", InitName, d.Path, d.Version, v)
		}
	}
	return ""
}
