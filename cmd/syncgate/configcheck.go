package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check config files before a rollout",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check serve|sync FILE",
		Short: "Load a serve or sync config with the loader the command uses (exit 0 ok, 2 errors)",
		Long: `Load FILE exactly as "syncgate serve --config FILE" or "syncgate sync --config
FILE" would, without starting anything: unknown fields, bad values and (for
sync) any field that looks like a credential are errors. For serve, the
policy the config names is loaded too and checked against the config's
credentials and client certificates. Certificate, key and secret files are
not opened.`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch args[0] {
			case "serve":
				cfg, err := loadServeConfig(args[1])
				if err != nil {
					return withCode(2, err)
				}
				if _, err := loadPolicy(cfg, cfg); err != nil {
					return withCode(2, fmt.Errorf("policy %s: %w", cfg.path(cfg.Policy), err))
				}
			case "sync":
				if _, err := loadSyncConfig(args[1]); err != nil {
					return withCode(2, err)
				}
			default:
				return withCode(2, fmt.Errorf("config check: want serve or sync, not %q", args[0]))
			}
			fmt.Fprintln(cmd.OutOrStdout(), "ok")
			return nil
		},
	})
	cmd.AddCommand(newInstallKeysCmd())
	return cmd
}

// newInstallKeysCmd copies mounted secret files into a directory of the
// running user with mode 0600. Kubernetes makes Secret volume files group
// readable (0440) when the pod has an fsGroup, and syncgate refuses private
// keys that others can read; an init container running this command as the
// gateway's user gives it private copies on a memory-backed emptyDir.
func newInstallKeysCmd() *cobra.Command {
	var dst string
	cmd := &cobra.Command{
		Use:   "install-keys SRC_DIR... --to DIR",
		Short: "Copy the regular files of each SRC_DIR into DIR/<SRC_DIR's name>/ with mode 0600 (for Secret volumes in Kubernetes)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dst == "" {
				return withCode(2, fmt.Errorf("--to is required"))
			}
			n, err := installKeys(dst, args)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d files installed in %s\n", n, dst)
			return nil
		},
	}
	cmd.Flags().StringVar(&dst, "to", "", "destination directory (created 0700)")
	return cmd
}

func installKeys(dst string, srcs []string) (int, error) {
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return 0, err
	}
	n := 0
	for _, src := range srcs {
		ents, err := os.ReadDir(src)
		if err != nil {
			return n, err
		}
		into := filepath.Join(dst, filepath.Base(filepath.Clean(src)))
		if err := os.MkdirAll(into, 0o700); err != nil {
			return n, err
		}
		for _, e := range ents {
			name := e.Name()
			if name == "" || name[0] == '.' { // ..data and the timestamped dirs of atomic volumes
				continue
			}
			p := filepath.Join(src, name)
			fi, err := os.Stat(p) // follows the volume's symlinks
			if err != nil {
				return n, err
			}
			if !fi.Mode().IsRegular() {
				continue
			}
			if err := copyPrivate(p, filepath.Join(into, name)); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

func copyPrivate(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".install-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
