package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/cellsandbox/cell/internal/host"
	"github.com/cellsandbox/cell/spec"
)

// workdirStandIn takes the place of the working directory when cell asks
// whether a profile's error comes from where it was run.
const workdirStandIn = "/.cell-working-directory"

// workdirCollision returns err, or, when the profile is valid from any
// other directory, what in the working directory it collides with.
func workdirCollision(name string, sets []string, facts *host.Facts, err error) error {
	var list spec.ErrorList
	if !errors.As(err, &list) || facts.Cwd == "" {
		return err
	}
	elsewhere := *facts
	elsewhere.Cwd = workdirStandIn
	p, err2 := parseProfile(name, sets, &elsewhere)
	if err2 != nil {
		return err // wrong wherever it runs
	}
	bind := -1
	for i, m := range p.Filesystem.Mounts {
		if m.Target == workdirStandIn {
			bind = i
			break
		}
	}
	if bind < 0 {
		return err
	}
	cwd := facts.Cwd
	at := fmt.Sprintf("filesystem.mounts[%d]", bind)
	what := fmt.Sprintf("%s binds the working directory at the same path in the sandbox (%s)", p.File, p.At(at+".target"))
	var why string
	if cwd == "/" {
		why = "the working directory is /, the sandbox's own root"
	} else {
		for i, m := range p.Filesystem.Mounts {
			pos := p.At(fmt.Sprintf("filesystem.mounts[%d]", i))
			switch {
			case i == bind:
				continue
			case m.Target == cwd:
				why = fmt.Sprintf("the working directory %s is where the sandbox has its own %s (a %s mount, %s)", cwd, m.Target, m.Type, pos)
			case strings.HasPrefix(m.Target, cwd+"/"):
				why = fmt.Sprintf("the working directory %s holds %s, which the sandbox mounts on its own (a %s mount, %s)", cwd, m.Target, m.Type, pos)
			default:
				continue
			}
			break
		}
	}
	if why == "" {
		why = fmt.Sprintf("the working directory %s collides with the sandbox's own mounts", cwd)
	}
	return &hinted{
		err: &codedErr{fmt.Errorf("%s: %s", why, what), StatusProfile},
		hint: fmt.Sprintf("run cell from a project directory (cd into it first), or bind this one elsewhere: --set %s.target=/work --set process.cwd=/work",
			at),
	}
}

// refuseHome refuses a built-in profile's writable bind of the working
// directory when that is a home, a directory of homes or above one: the
// command could change every dotfile, ~/.ssh and ~/.bashrc with them.
// A profile of the user's own that binds it is the user's choice.
func refuseHome(p *spec.Profile, facts *host.Facts) error {
	cwd := filepath.Clean(facts.Cwd)
	if !isHomeDir(cwd, facts.Home) {
		return nil
	}
	for i, m := range p.Filesystem.Mounts {
		at := fmt.Sprintf("filesystem.mounts[%d]", i)
		pos := p.At(at + ".writable")
		if m.Type != spec.MountBind || !m.Writable || filepath.Clean(m.Source) != cwd || !strings.HasPrefix(pos.File, "builtin:") {
			continue
		}
		return &hinted{
			err: &codedErr{fmt.Errorf("the working directory %s is a home directory, or holds one: %s binds it writable (%s), so the command could change ~/.ssh, ~/.bashrc and every other file there",
				cwd, p.File, pos), StatusProfile},
			hint: fmt.Sprintf("run cell from a project directory (cd into it first); to bind it read-only: --set %s.writable=false; to make it writable anyway, name a profile of your own that binds it (cell show %s > home.yaml; cell run -p home.yaml)",
				at, strings.TrimPrefix(pos.File, "builtin:")),
		}
	}
	return nil
}

// isHomeDir reports whether dir is the caller's home, /root, /home, a
// directory of /home, or a directory (other than /) that holds one.
func isHomeDir(dir, home string) bool {
	if dir == "/" {
		return false
	}
	if filepath.Dir(dir) == "/home" {
		return true
	}
	for _, h := range []string{home, "/root", "/home"} {
		if h == "" || h == "/" {
			continue
		}
		h = filepath.Clean(h)
		if h == dir || strings.HasPrefix(h, dir+"/") {
			return true
		}
	}
	return false
}
