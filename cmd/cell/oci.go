//go:build !cell_lean

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/cellsandbox/cell/internal/host/probe"
	"github.com/cellsandbox/cell/profiles"
	"github.com/cellsandbox/cell/spec"
	"github.com/cellsandbox/cell/spec/oci"
)

// exportCommand is cell export: a profile written as an OCI bundle.
func exportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "write a profile as an OCI bundle (config.json and rootfs) that runc and crun run",
		ArgsUsage: "--oci DIR [-- CMD [ARGS...]]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "profile", Aliases: []string{"p"}, Value: profiles.Default, Usage: "profile `FILE`, or the name of a built-in profile"},
			&cli.StringSliceFlag{Name: "set", Usage: "override a profile field: `KEY=VALUE`"},
			&cli.StringFlag{Name: "oci", Required: true, Usage: "write the bundle into `DIR`, which must not exist or be empty"},
			&cli.BoolFlag{Name: "lossy", Usage: "write the bundle even where config.json cannot express the profile, printing every loss"},
		},
		Action: exportBundle,
	}
}

func exportBundle(c *cli.Context) error {
	pos, args, _ := splitArgs(c)
	if len(pos) > 0 {
		return usageError(fmt.Sprintf("export: unexpected argument %q: the profile is -p's, and the command goes after --", pos[0]))
	}
	facts, err := probe.Host()
	if err != nil {
		return err
	}
	named := ""
	if c.IsSet("profile") {
		named = c.String("profile")
	}
	p, err := resolveProfile(c, named, facts)
	if err != nil {
		return err
	}
	ex, err := oci.Export(p, oci.ExportOptions{
		UID: facts.UID, GID: facts.GID, Args: args,
		Exists: func(path string) bool { _, err := os.Stat(path); return err == nil },
	})
	if err != nil {
		return err
	}
	if len(ex.Losses) > 0 {
		var b strings.Builder
		for _, l := range ex.Losses {
			fmt.Fprintf(&b, "\n  %s", l)
		}
		if !c.Bool("lossy") {
			return &hinted{
				err:  fmt.Errorf("export: config.json cannot express %d %s of %s:%s", len(ex.Losses), plural(len(ex.Losses), "part", "parts"), p.Name, b.String()),
				hint: "--lossy writes the bundle without them",
			}
		}
		for _, l := range ex.Losses {
			fmt.Fprintf(c.App.ErrWriter, "cell: loss: %s\n", l)
		}
	}
	return writeBundle(c.String("oci"), ex)
}

// writeBundle writes config.json and the rootfs, with what the profile's
// dir, file and symlink mounts make in it, into dir.
func writeBundle(dir string, ex *oci.Exported) error {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("export: %w", err)
	}
	if ents, err := os.ReadDir(dir); err != nil {
		return fmt.Errorf("export: %w", err)
	} else if len(ents) > 0 {
		return fmt.Errorf("export: %s is not empty", dir)
	}
	if !filepath.IsAbs(ex.Spec.Root.Path) {
		rootfs := filepath.Join(dir, ex.Spec.Root.Path)
		if err := os.Mkdir(rootfs, 0o755); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		// Chmod, since Mkdir's mode passes through the umask.
		if err := os.Chmod(rootfs, os.FileMode(ex.RootMode)); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		for _, e := range ex.Rootfs {
			if err := writeEntry(rootfs, e); err != nil {
				return fmt.Errorf("export: %w", err)
			}
		}
	}
	data, err := json.MarshalIndent(ex.Spec, "", "\t")
	if err != nil {
		return fmt.Errorf("export: encode config.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, oci.ConfigName), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// writeEntry makes one dir, file or symlink of a profile in rootfs. Its
// path is the profile's (validated absolute and clean), so it stays in
// rootfs; the parents are made as cell makes them, 0755.
func writeEntry(rootfs string, e oci.Entry) error {
	p := filepath.Join(rootfs, e.Path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	// The cases not named share the default.
	//exhaustive:ignore
	switch e.Type {
	case spec.MountDir:
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
	case spec.MountFile:
		if err := os.WriteFile(p, []byte(e.Content), 0o644); err != nil {
			return err
		}
	case spec.MountSymlink:
		return os.Symlink(e.LinkTo, p)
	default:
		return fmt.Errorf("rootfs entry %s: type %s is not a file system object", e.Path, e.Type)
	}
	return os.Chmod(p, os.FileMode(e.Mode))
}
