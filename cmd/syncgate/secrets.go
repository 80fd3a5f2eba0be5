package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/syncgate/syncgate/internal/yamlerr"
	"github.com/syncgate/syncgate/vault"
)

type secretsFlags struct {
	config, backend, path, keyFile, keyEnv, addr, mount string
	vaultAuth                                           operatorAuthFlags
}

// operatorAuthFlags choose how an operator command logs in to Vault: as the
// operator (a token from --token-file, VAULT_TOKEN or ~/.vault-token, as the
// vault CLI leaves it) unless --gateway-auth asks for the config's own auth
// section. The gateway's AppRole secret id is never used by default: a
// wrapped one works once, and one with limited uses would run out.
type operatorAuthFlags struct {
	tokenFile   string
	gatewayAuth bool
}

// flagAdder is the part of a cobra flag set register needs.
type flagAdder interface {
	StringVar(p *string, name, value, usage string)
	BoolVar(p *bool, name string, value bool, usage string)
}

func (f *operatorAuthFlags) register(fl flagAdder) {
	fl.StringVar(&f.tokenFile, "token-file", "", "Vault: file holding the operator's token (default $VAULT_TOKEN, then ~/.vault-token)")
	fl.BoolVar(&f.gatewayAuth, "gateway-auth", false, "Vault: log in with the config's auth section (the gateway's identity) instead of the operator's token")
}

// apply sets c.Auth for an operator command.
func (f *operatorAuthFlags) apply(c *vault.StoreConfig) error {
	if f.gatewayAuth {
		if f.tokenFile != "" {
			return errors.New("--token-file and --gateway-auth exclude each other")
		}
		if c.Auth.Method == "approle" && c.Auth.Wrapped {
			return errors.New("--gateway-auth: the config's secret_id_file holds a response-wrapping token, which works once and belongs to serve; use an operator token instead")
		}
		return nil
	}
	switch {
	case f.tokenFile != "":
		c.Auth = vault.VaultAuth{Method: "token", TokenFile: f.tokenFile}
	case os.Getenv("VAULT_TOKEN") != "":
		c.Auth = vault.VaultAuth{Method: "token"}
	default:
		home, err := os.UserHomeDir()
		p := filepath.Join(home, ".vault-token")
		if _, serr := os.Stat(p); err != nil || serr != nil {
			return errors.New("no operator Vault token: pass --token-file FILE, set VAULT_TOKEN or run `vault login`; --gateway-auth logs in with the config's auth section instead")
		}
		c.Auth = vault.VaultAuth{Method: "token", TokenFile: p}
	}
	return nil
}

func (f *secretsFlags) storeConfig() (vault.StoreConfig, error) {
	var c vault.StoreConfig
	if f.config != "" {
		raw, err := os.ReadFile(f.config)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		var doc struct {
			Secrets vault.StoreConfig `yaml:"secrets"`
		}
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			return c, fmt.Errorf("config %s: %w", f.config, yamlerr.Scrub(err))
		}
		c = doc.Secrets
		c.ResolvePaths(filepath.Dir(f.config))
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&c.Backend, f.backend)
	set(&c.Path, f.path)
	set(&c.KeyFile, f.keyFile)
	set(&c.KeyEnv, f.keyEnv)
	set(&c.Address, f.addr)
	set(&c.Mount, f.mount)
	if f.config == "" && c.Path == "" && (c.Backend == "" || c.Backend == "file") {
		return c, errors.New("no secret store: use --config FILE or --backend file --path FILE --key-file FILE")
	}
	if c.Backend == "vault" {
		if err := f.vaultAuth.apply(&c); err != nil {
			return c, err
		}
	}
	return c, nil
}

func (f *secretsFlags) open(ctx context.Context, cmd *cobra.Command) (vault.Store, error) {
	c, err := f.storeConfig()
	if err != nil {
		return nil, withCode(2, err)
	}
	// The operator reads these messages as plain lines on stderr.
	plain := zerolog.ConsoleWriter{Out: cmd.ErrOrStderr(), NoColor: true,
		PartsExclude: []string{zerolog.TimestampFieldName, zerolog.LevelFieldName}}
	return vault.Open(ctx, c, vault.OpenOptions{Logger: zerolog.New(plain)})
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// readValue reads a secret from stdin, never from argv (where ps shows it).
func readValue(cmd *cobra.Command) ([]byte, error) {
	if isTerminal(cmd.InOrStdin()) {
		fmt.Fprintln(cmd.ErrOrStderr(), "reading the value from stdin; end with Ctrl-D")
	}
	v, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<20+1))
	if err != nil {
		return nil, fmt.Errorf("read value: %w", err)
	}
	if len(v) > 1<<20 {
		return nil, errors.New("value larger than 1 MiB")
	}
	v = bytes.TrimSuffix(bytes.TrimSuffix(v, []byte("\n")), []byte("\r"))
	if len(v) == 0 {
		return nil, errors.New("empty value on stdin")
	}
	return v, nil
}

func newSecretsCmd() *cobra.Command {
	f := &secretsFlags{}
	root := &cobra.Command{
		Use:   "secrets",
		Short: "Manage the gateway's secrets (file store or Vault)",
		Long: "Put, get, list and rotate secrets in the store the serve config's `secrets:` section names\n" +
			"(--config), or in the one given by flags. Values are read from stdin, never from arguments.\n" +
			"With Vault, the command logs in as the operator (--token-file, $VAULT_TOKEN or ~/.vault-token),\n" +
			"not as the gateway, unless --gateway-auth says so.",
	}
	pf := root.PersistentFlags()
	pf.StringVar(&f.config, "config", "", "serve config file; only its secrets: section is read")
	pf.StringVar(&f.backend, "backend", "", "file or vault")
	pf.StringVar(&f.path, "path", "", "file store path (vault: KV path prefix)")
	pf.StringVar(&f.keyFile, "key-file", "", "file store key file")
	pf.StringVar(&f.keyEnv, "key-env", "", "environment variable holding the file store key")
	pf.StringVar(&f.addr, "vault-addr", "", "Vault address (default $VAULT_ADDR)")
	pf.StringVar(&f.mount, "mount", "", "Vault KV v2 mount (default secret)")
	f.vaultAuth.register(pf)

	var cas int
	put := &cobra.Command{
		Use:   "put NAME",
		Short: "Store a new version of NAME, read from stdin",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := readValue(cmd)
			if err != nil {
				return withCode(2, err)
			}
			s, err := f.open(cmd.Context(), cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			ver, err := s.Put(cmd.Context(), args[0], v, cas)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: version %d\n", args[0], ver)
			return nil
		},
	}
	put.Flags().IntVar(&cas, "cas", vault.NoCAS, "write only if the current version is this (0: only if absent)")

	var reveal bool
	var version int
	get := &cobra.Command{
		Use:   "get NAME",
		Short: "Show a secret's versions; --reveal prints the value, to a terminal only",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.open(cmd.Context(), cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			sec, err := s.GetVersion(cmd.Context(), args[0], version)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if reveal {
				if !isTerminal(out) {
					return withCode(2, errors.New("--reveal prints only to a terminal (stdout is not one)"))
				}
				fmt.Fprintf(out, "%s\n", sec.Value)
				return nil
			}
			fmt.Fprintf(out, "name: %s\nversion: %d\ncreated: %s\nbytes: %d\n", sec.Name, sec.Version, sec.Created.UTC().Format("2006-01-02T15:04:05Z"), len(sec.Value))
			if vs, err := s.Versions(cmd.Context(), args[0]); err == nil {
				fmt.Fprintln(out, "versions:")
				for _, v := range vs {
					del := ""
					if v.Deleted {
						del = " (deleted)"
					}
					fmt.Fprintf(out, "  - %d %s%s\n", v.Version, v.Created.UTC().Format("2006-01-02T15:04:05Z"), del)
				}
			}
			return nil
		},
	}
	get.Flags().BoolVar(&reveal, "reveal", false, "print the value (only to a terminal)")
	get.Flags().IntVar(&version, "version", 0, "version to show (default latest)")

	list := &cobra.Command{
		Use:   "list [PREFIX]",
		Short: "List secret names",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.open(cmd.Context(), cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			prefix := ""
			if len(args) == 1 {
				prefix = args[0]
			}
			names, err := s.List(cmd.Context(), prefix)
			if err != nil {
				return err
			}
			for _, n := range names {
				fmt.Fprintln(cmd.OutOrStdout(), n)
			}
			return nil
		},
	}

	var keyType, transitKey string
	rotate := &cobra.Command{
		Use:   "rotate NAME",
		Short: "Write a new version: a client secret from stdin, or a new key (--type rsa|ec)",
		Long: "rotate NAME writes a new version of NAME. With --type secret (default) the value is read from\n" +
			"stdin; with --type rsa (2048) or ec (P-256) a new private key is generated, stored, and its public\n" +
			"key printed for registration with the identity provider. With --transit KEY (Vault backend) the\n" +
			"Transit key is rotated inside Vault and its new public key printed; NAME is then unused.",
		Args: cobra.RangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if transitKey != "" {
				s, err := f.open(cmd.Context(), cmd)
				if err != nil {
					return err
				}
				defer s.Close()
				vs, ok := s.(*vault.VaultStore)
				if !ok {
					return withCode(2, errors.New("--transit needs the vault backend"))
				}
				ki, err := vs.Transit().Rotate(cmd.Context(), transitKey)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "transit key %s (%s): version %d\nsha256: %s\n%s", ki.Name, ki.Type, ki.LatestVersion, vault.PublicKeyFingerprint(ki.PublicKeyPEM), ki.PublicKeyPEM)
				return nil
			}
			if len(args) != 1 {
				return withCode(2, errors.New("rotate needs NAME (or --transit KEY)"))
			}
			var value, pub []byte
			var err error
			switch strings.ToLower(keyType) {
			case "secret", "":
				value, err = readValue(cmd)
			case "rsa", "ec":
				value, pub, err = vault.GenerateKeyPEM(strings.ToLower(keyType))
			default:
				return withCode(2, fmt.Errorf("--type %q: want secret, rsa or ec", keyType))
			}
			if err != nil {
				return withCode(2, err)
			}
			s, err := f.open(cmd.Context(), cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			cur := 0
			if old, err := s.Get(cmd.Context(), args[0]); err == nil {
				cur = old.Version
			} else if !errors.Is(err, vault.ErrNotFound) {
				return err
			}
			ver, err := s.Put(cmd.Context(), args[0], value, cur)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%s: version %d (was %d)\n", args[0], ver, cur)
			if pub != nil {
				fmt.Fprintf(out, "public key sha256: %s\n%s", vault.PublicKeyFingerprint(pub), pub)
			}
			return nil
		},
	}
	rotate.Flags().StringVar(&keyType, "type", "secret", "secret (from stdin), rsa or ec")
	rotate.Flags().StringVar(&transitKey, "transit", "", "rotate this Vault Transit key instead")

	keygen := &cobra.Command{
		Use:   "keygen FILE",
		Short: "Create a new file store key (0600); refuses to overwrite",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := vault.GenerateKeyFile(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", args[0])
			return nil
		},
	}
	root.AddCommand(put, get, list, rotate, keygen)
	return root
}
