package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/cellsandbox/cell/internal/host"
	"github.com/cellsandbox/cell/internal/host/probe"
	"github.com/cellsandbox/cell/internal/trust"
	"github.com/cellsandbox/cell/launcher"
	"github.com/cellsandbox/cell/profiles"
	"github.com/cellsandbox/cell/spec"
)

// commandSource is the profile a command uses, with cell's policies on it
// as the Source's Vet: named (from -p or an argument) when given, else
// the nearest .cell.yaml in the working directory or above, else the
// default built-in. A found .cell.yaml is announced on stderr and must be
// safe (the caller's, writable by no one else), and it is read, with the
// local files it extends, through the trust store's checks, so that what
// is parsed is what was checked; cell run and cell pool start also need
// it trusted (cell trust) and refuse a profile whose writable binds hold
// the trust store, while the review commands only say that it is not
// trusted. What runs, or is planned to run, is checked against the
// working directory too (collisions, a writable home).
func commandSource(c *cli.Context, named string) (launcher.Source, error) {
	sets := c.StringSlice("set")
	starts := c.Command.Name == "run" || c.Command.Name == "start"
	toRun := starts || c.Command.Name == "plan"
	var found string
	if wd, werr := os.Getwd(); werr == nil && named == "" {
		found = trust.Find(wd)
	}
	var src launcher.Source
	var err error
	var vet func(p *spec.Profile, facts *host.Facts, err error) error
	switch {
	case found != "":
		src, vet, err = foundSource(c, found, starts)
		if err != nil {
			return src, err
		}
	default:
		if named == "" {
			named = profiles.Default
		}
		if src, err = launcher.Open(named); err != nil {
			return src, err
		}
		vet = func(p *spec.Profile, facts *host.Facts, err error) error {
			if err != nil && toRun {
				return workdirCollision(named, sets, facts, err)
			}
			return err
		}
	}
	src.Vet = func(p *spec.Profile, facts *host.Facts, err error) error {
		if err = vet(p, facts, err); err != nil {
			return err
		}
		if toRun {
			if err := refuseHome(p, facts); err != nil {
				return err
			}
		}
		if !starts {
			return nil
		}
		dir, derr := trust.Dir(os.Getenv, uint32(os.Geteuid()))
		if derr != nil {
			// No home, hence no store for a sandbox to write.
			return nil
		}
		var writable []string
		for _, m := range p.Filesystem.Mounts {
			if m.Type == spec.MountBind && m.Writable {
				writable = append(writable, m.Source)
			}
		}
		return hint(trust.Covering(dir, writable))
	}
	return src, nil
}

// foundSource reads the .cell.yaml that commandSource found; must is set
// for the commands that run it, which refuse it untrusted. Its vet puts
// the trust store's refusal before the parse's own error.
func foundSource(c *cli.Context, found string, must bool) (launcher.Source, func(*spec.Profile, *host.Facts, error) error, error) {
	uid := uint32(os.Geteuid())
	root, err := trust.Key(found)
	if err != nil {
		return launcher.Source{}, nil, fmt.Errorf("profile %s: %w", found, err)
	}
	fmt.Fprintf(c.App.ErrWriter, "cell: profile %s\n", root)
	var entries []trust.Entry
	dir, storeErr := trust.Dir(os.Getenv, uid)
	if storeErr == nil {
		entries, storeErr = trust.Open(dir, uid).Entries()
	}
	var untrusted error
	r := &checkedRead{uid: uid, check: func(files []trust.Entry) error {
		if untrusted == nil {
			if untrusted = storeErr; untrusted == nil {
				untrusted = trust.Verify(entries, files)
			}
		}
		if must {
			return untrusted
		}
		return nil
	}}
	src, err := r.source(root)
	if r.stop != nil {
		return src, nil, hint(r.stop)
	}
	if err != nil {
		return src, nil, err
	}
	return src, func(_ *spec.Profile, _ *host.Facts, err error) error {
		if r.stop != nil {
			return hint(r.stop)
		}
		if untrusted != nil {
			fmt.Fprintf(c.App.ErrWriter, "cell: note: %v: cell run refuses it until you trust it (cell trust %s)\n", untrusted, root)
		}
		return err
	}, nil
}

// checkedRead reads a profile file and each local file it extends once,
// through trust.Read, so that what is parsed is what was checked. After
// each read, check (when not nil) gets the files read so far; an error
// it returns, or trust.Read's refusal, ends the parse and is kept as
// stop, apart from the parse's own error.
type checkedRead struct {
	uid   uint32
	check func([]trust.Entry) error
	files []trust.Entry
	stop  error
}

func (r *checkedRead) read(f string) ([]byte, error) {
	data, err := trust.Read(f, r.uid)
	if err == nil {
		r.files = append(r.files, trust.Sum(f, data))
		if r.check != nil {
			err = r.check(r.files)
		}
	}
	if err != nil {
		r.stop = firstErr(r.stop, err)
		return nil, err
	}
	return data, nil
}

// source is the profile file root as a launcher.Source whose parents
// are read through r.
func (r *checkedRead) source(root string) (launcher.Source, error) {
	data, err := r.read(root)
	if err != nil {
		return launcher.Source{}, err
	}
	return launcher.Source{File: root, Data: data, Load: func(name, from string) (string, []byte, error) {
		return launcher.LoadParentWith(name, from, func(file string) (string, []byte, error) {
			file, err := trust.Key(file)
			if err != nil {
				return "", nil, err
			}
			data, err := r.read(file)
			return file, data, err
		})
	}}, nil
}

// firstErr is the first error of errs that is not nil.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// hint adds package trust's advice to its errors.
func hint(err error) error {
	var h interface{ Hint() string }
	if errors.As(err, &h) {
		return &codedErr{&hinted{err, h.Hint()}, StatusProfile}
	}
	return err
}

func trustCommand() *cli.Command {
	return &cli.Command{
		Name:      "trust",
		Usage:     "trust a .cell.yaml, so that cell run uses it when it finds it (pinned to its content)",
		ArgsUsage: "[FILE...]",
		Description: "cell run, and cell pool start, use the nearest .cell.yaml in the working\n" +
			"directory or above only when it is trusted with its present content, and the\n" +
			"local files it extends too. cell trust FILE records their SHA-256 in\n" +
			"$XDG_CONFIG_HOME/cell/trusted (or ~/.config/cell/trusted); without FILE it\n" +
			"trusts the one cell run would find. A changed file must be trusted again.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "list", Usage: "print the trusted files with their SHA-256 (as sha256sum does)"},
			&cli.BoolFlag{Name: "revoke", Usage: "forget FILE, or else the one cell run would find"},
		},
		Action: trustAction,
	}
}

func trustAction(c *cli.Context) error {
	if c.Bool("list") && c.Bool("revoke") {
		return usageError("trust: --list and --revoke contradict each other")
	}
	uid := uint32(os.Geteuid())
	dir, err := trust.Dir(os.Getenv, uid)
	if err != nil {
		return err
	}
	store := trust.Open(dir, uid)
	if c.Bool("list") {
		if c.NArg() > 0 {
			return usageError("trust --list takes no FILE")
		}
		entries, err := store.Entries()
		if err != nil {
			return err
		}
		for _, e := range entries {
			fmt.Fprintln(c.App.Writer, e)
		}
		return nil
	}
	files := c.Args().Slice()
	if len(files) == 0 {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		f := trust.Find(wd)
		if f == "" {
			return fmt.Errorf("trust: no %s in %s or above; name the FILE", trust.Name, wd)
		}
		files = []string{f}
	}
	if c.Bool("revoke") {
		var keys []string
		for _, f := range files {
			k, err := trust.Key(f)
			if err != nil {
				// A file gone or moved is revoked by the name it had.
				if k, err = filepath.Abs(f); err != nil {
					return err
				}
			}
			keys = append(keys, k)
		}
		if err := store.Remove(keys...); err != nil {
			return err
		}
		for _, k := range keys {
			fmt.Fprintf(c.App.Writer, "revoked %s\n", k)
		}
		return nil
	}
	facts, err := probe.Host()
	if err != nil {
		return err
	}
	var add []trust.Entry
	for _, f := range files {
		entries, err := trustFiles(f, facts, uid)
		if err != nil {
			return err
		}
		add = append(add, entries...)
	}
	if err := store.Add(add...); err != nil {
		return err
	}
	for _, e := range add {
		fmt.Fprintf(c.App.Writer, "trusted %s\n", e)
	}
	return nil
}

// trustFiles reads the profile file and the local files it extends as
// cell run would, and returns their entries; a profile that does not
// validate is not trusted.
func trustFiles(file string, facts *host.Facts, uid uint32) ([]trust.Entry, error) {
	if isBuiltin(file) {
		return nil, usageError(fmt.Sprintf("trust: %s names a built-in profile, which needs no trust (a file's name has a slash or ends in .yaml)", file))
	}
	root, err := trust.Key(file)
	if err != nil {
		return nil, fmt.Errorf("trust: %w", err)
	}
	r := &checkedRead{uid: uid}
	src, err := r.source(root)
	if err == nil {
		_, err = launcher.Parse(src, nil, facts)
	}
	if r.stop != nil {
		return nil, hint(r.stop)
	}
	if err != nil {
		return nil, err
	}
	return r.files, nil
}
