package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/syncgate/syncgate/audit"
	vaultpkg "github.com/syncgate/syncgate/vault"
)

// Exit codes of `syncgate audit verify`.
const (
	auditExitBroken = 1 // the log is not intact
	auditExitUsage  = 2 // bad arguments or unreadable files
)

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify, query and summarise the audit log",
	}
	cmd.AddCommand(newAuditVerifyCmd(), newAuditQueryCmd(), newAuditSummaryCmd(), newAuditPubkeyCmd(), newAuditKeygenCmd())
	return cmd
}

func usageErr(err error) error { return withCode(auditExitUsage, err) }

func newAuditVerifyCmd() *cobra.Command {
	var (
		pubkeys      []string
		vault        bool
		vaultConfig  string
		transitKey   string
		allowPartial bool
		maxUnsigned  int64
		asJSON       bool
		vaultAuth    operatorAuthFlags
	)
	cmd := &cobra.Command{
		Use:   "verify FILE...",
		Short: "Check the hash chain (and checkpoint signatures) of an audit log",
		Long: `Checks every record's hash, the chain of prev links across rotated and gzipped
files, consecutive seqs and a torn tail, and with --pubkey the signed checkpoints.
An active file given on the command line brings its rotated siblings with it;
files are verified in chain order (by their first seq).
Exit 0: intact. Exit 1: not intact (the first broken seq and the reason are printed).
Exit 2: bad arguments or unreadable files.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var vo audit.VerifyOptions
			vo.AllowPartial = allowPartial
			switch {
			case maxUnsigned < 0:
				vo.NoUnsignedLimit = true
			default:
				vo.MaxUnsigned = uint64(maxUnsigned)
			}
			var pems [][]byte
			if vault {
				keys, err := transitPublicKeys(cmd.Context(), vaultConfig, transitKey, &vaultAuth)
				if err != nil {
					return usageErr(err)
				}
				for _, k := range keys {
					pems = append(pems, k.PublicKeyPEM)
				}
			}
			if len(pubkeys) > 0 || len(pems) > 0 {
				for _, p := range pubkeys {
					b, err := os.ReadFile(p)
					if err != nil {
						return usageErr(fmt.Errorf("read public key: %w", err))
					}
					pems = append(pems, b)
				}
				v, err := audit.NewVerifier(pems...)
				if err != nil {
					return usageErr(err)
				}
				vo.Verifier = v
			}
			files, err := audit.ExpandFiles(args)
			if err != nil {
				return usageErr(err)
			}
			res, err := audit.Verify(cmd.Context(), files, vo)
			if err != nil {
				return usageErr(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else if res.Intact {
				fmt.Fprintf(out, "intact: %d records, seq %d..%d in %d file(s), head %s\n", res.Records, res.FirstSeq, res.LastSeq, len(res.Files), res.Head)
				if vo.Verifier != nil {
					fmt.Fprintf(out, "signed: %d checkpoint(s), signed through seq %d, %d record(s) after the last checkpoint\n", res.Checkpoints, res.SignedThrough, res.Unsigned)
					if res.UnsignedLimit != "" {
						fmt.Fprintf(out, "unsigned stretches bounded by %s\n", res.UnsignedLimit)
					} else {
						fmt.Fprintln(out, "unsigned stretches not bounded (the checkpoints record no cadence, or --max-unsigned -1)")
					}
				}
			} else {
				fmt.Fprintf(out, "BROKEN at seq %d (%s line %d): %s\n", res.Problem.Seq, res.Problem.File, res.Problem.Line, res.Problem.Reason)
				fmt.Fprintf(out, "verified before it: %d records", res.Records)
				if res.Records > 0 {
					fmt.Fprintf(out, ", seq %d..%d", res.FirstSeq, res.LastSeq)
				}
				fmt.Fprintln(out)
			}
			if !res.Intact {
				return withCode(auditExitBroken, nil)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&pubkeys, "pubkey", nil, "PEM public key file for checkpoint signatures (repeat for rotated keys)")
	cmd.Flags().BoolVar(&vault, "vault", false, "verify checkpoint signatures with the Vault Transit key named in --config (audit.checkpoint.transit) or --transit-key")
	cmd.Flags().StringVar(&vaultConfig, "config", "", "with --vault: the serve config whose secrets section reaches Vault")
	cmd.Flags().StringVar(&transitKey, "transit-key", "", "with --vault: the Transit key name (default: the config's audit.checkpoint.transit)")
	vaultAuth.register(cmd.Flags())
	cmd.Flags().BoolVar(&allowPartial, "allow-partial", false, "accept a chain that starts after seq 1 (oldest files removed by retention)")
	cmd.Flags().Int64Var(&maxUnsigned, "max-unsigned", 0, "with --pubkey, fail when more records than this are not covered by a signed checkpoint (0 = twice the checkpoint cadence recorded in the log; -1 = no limit)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

// filterFlags are the record filters query and summary share.
type filterFlags struct {
	since, until                              string
	kinds, decisions, clients, subjects       []string
	destinations, hosts, rules, statusStrings []string
}

func (f *filterFlags) register(cmd *cobra.Command, all bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.since, "since", "", "only records at or after T (RFC 3339, a date, or a duration before now such as 24h)")
	fl.StringVar(&f.until, "until", "", "only records before T (same forms as --since)")
	fl.StringSliceVar(&f.clients, "client", nil, "client name (repeat or comma-separate)")
	fl.StringSliceVar(&f.destinations, "destination", nil, "policy destination")
	if !all {
		return
	}
	fl.StringSliceVar(&f.kinds, "kind", nil, "record kind: http, token, config, sync, checkpoint")
	fl.StringSliceVar(&f.decisions, "decision", nil, "allow or deny")
	fl.StringSliceVar(&f.subjects, "subject", nil, "subject (the user acted as)")
	fl.StringSliceVar(&f.hosts, "host", nil, "request host")
	fl.StringSliceVar(&f.statusStrings, "status", nil, "response status code")
	fl.StringSliceVar(&f.rules, "rule", nil, "policy rule")
}

func (f *filterFlags) build(now time.Time) (audit.Filter, error) {
	var out audit.Filter
	var err error
	if out.Since, err = audit.ParseTime(f.since, now); err != nil {
		return out, fmt.Errorf("--since: %w", err)
	}
	if out.Until, err = audit.ParseTime(f.until, now); err != nil {
		return out, fmt.Errorf("--until: %w", err)
	}
	for _, d := range f.decisions {
		if d != "allow" && d != "deny" {
			return out, fmt.Errorf("--decision %q: want allow or deny", d)
		}
	}
	for _, s := range f.statusStrings {
		n, err := strconv.Atoi(s)
		if err != nil || n < 100 || n > 599 {
			return out, fmt.Errorf("--status %q: want an HTTP status code", s)
		}
		out.Statuses = append(out.Statuses, n)
	}
	out.Kinds, out.Decisions, out.Clients, out.Subjects = f.kinds, f.decisions, f.clients, f.subjects
	out.Destinations, out.Hosts, out.Rules = f.destinations, f.hosts, f.rules
	return out, nil
}

func newAuditQueryCmd() *cobra.Command {
	var (
		ff     filterFlags
		format string
	)
	cmd := &cobra.Command{
		Use:   "query [flags] FILE...",
		Short: "Print the records that match filters, as JSON Lines, a table or CSV",
		Long: `Reads plain and gzipped files; an active file brings its rotated siblings.
Lists match when any value matches. Prints the records' own JSON lines by default,
so the output can be verified record by record and piped to jq.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := ff.build(time.Now())
			if err != nil {
				return usageErr(err)
			}
			files, err := audit.ExpandFiles(args)
			if err != nil {
				return usageErr(err)
			}
			out := cmd.OutOrStdout()
			var emit func(line []byte, r *audit.Record) error
			var finish func() error
			switch format {
			case "jsonl", "json":
				emit = func(line []byte, _ *audit.Record) error {
					_, err := out.Write(append(line, '\n'))
					return err
				}
				finish = func() error { return nil }
			case "table":
				tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, strings.ToUpper(strings.Join(audit.TableColumns, "\t")))
				emit = func(_ []byte, r *audit.Record) error {
					row := audit.Row(r)
					for i := range row {
						row[i] = tableCell(row[i])
					}
					_, err := fmt.Fprintln(tw, strings.Join(row, "\t"))
					return err
				}
				finish = tw.Flush
			case "csv":
				cw := csv.NewWriter(out)
				if err := cw.Write(audit.TableColumns); err != nil {
					return err
				}
				emit = func(_ []byte, r *audit.Record) error { return cw.Write(csvSafe(audit.Row(r))) }
				finish = func() error { cw.Flush(); return cw.Error() }
			default:
				return usageErr(fmt.Errorf("--format %q: want jsonl, table or csv", format))
			}
			if err := audit.Query(cmd.Context(), files, f, emit); err != nil {
				return usageErr(err)
			}
			return finish()
		},
	}
	ff.register(cmd, true)
	cmd.Flags().StringVar(&format, "format", "jsonl", "output: jsonl, table or csv")
	return cmd
}

// tableCell keeps a value on one table row: control characters from a
// logged path or reason must not break or forge lines of the table.
func tableCell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// csvSafe defuses spreadsheet formula injection: a logged path or reason
// that starts with = + - @ is prefixed with a quote.
func csvSafe(row []string) []string {
	for i, s := range row {
		if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
			row[i] = "'" + s
		}
	}
	return row
}

func newAuditSummaryCmd() *cobra.Command {
	var (
		ff         filterFlags
		format     string
		maxDenials int
	)
	cmd := &cobra.Command{
		Use:   "summary [--since T] [--until T] FILE...",
		Short: "Count requests by destination, decision and client, and list denials with reasons",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := ff.build(time.Now())
			if err != nil {
				return usageErr(err)
			}
			files, err := audit.ExpandFiles(args)
			if err != nil {
				return usageErr(err)
			}
			s, err := audit.Summarize(cmd.Context(), files, f, maxDenials)
			if err != nil {
				return usageErr(err)
			}
			out := cmd.OutOrStdout()
			switch format {
			case "json":
				return json.NewEncoder(out).Encode(s)
			case "text":
				return printSummary(out, s)
			default:
				return usageErr(fmt.Errorf("--format %q: want text or json", format))
			}
		},
	}
	ff.register(cmd, false)
	cmd.Flags().StringVar(&format, "format", "text", "output: text or json")
	cmd.Flags().IntVar(&maxDenials, "max-denials", 100, "list at most this many denials (0 = all)")
	return cmd
}

func printSummary(out io.Writer, s *audit.Summary) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	if s.Records == 0 {
		fmt.Fprintln(tw, "no records in range")
		return tw.Flush()
	}
	fmt.Fprintf(tw, "records\t%d\t(%s .. %s)\n", s.Records, s.From.Format(time.RFC3339), s.To.Format(time.RFC3339))
	section := func(title string, m map[string]int) {
		fmt.Fprintf(tw, "\n%s\n", title)
		for _, k := range audit.SortedCounts(m) {
			fmt.Fprintf(tw, "  %s\t%d\n", tableCell(k), m[k])
		}
	}
	section("by kind", s.ByKind)
	section("by decision", s.ByDecision)
	section("by destination", s.ByDestination)
	section("by client", s.ByClient)
	section("deny reasons", s.DenyReasons)
	fmt.Fprintf(tw, "\ndenials\t%d\n", len(s.Denials)+s.DenialsOmitted)
	for _, d := range s.Denials {
		fmt.Fprintf(tw, "  %s\tseq %d\t%s\t%s\t%s %s%s\t%s\n", d.Time.Format(time.RFC3339), d.Seq,
			tableCell(d.Client), tableCell(d.Subject), tableCell(d.Method), tableCell(d.Host), tableCell(d.Path), tableCell(d.Reason))
	}
	if s.DenialsOmitted > 0 {
		fmt.Fprintf(tw, "  ... %d more (--max-denials)\n", s.DenialsOmitted)
	}
	return tw.Flush()
}

func newAuditPubkeyCmd() *cobra.Command {
	var keyFile, vaultConfig, transitKey string
	var vault bool
	var vaultAuth operatorAuthFlags
	cmd := &cobra.Command{
		Use:   "pubkey --key FILE | --vault --config FILE",
		Short: "Print the checkpoint signing key's public key (PEM) for auditors",
		Long: `Prints the public key as PEM. With --vault, every version of the Transit key
(oldest first), so checkpoints signed before a rotation still verify; the key id
of each version goes to stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if vault {
				keys, err := transitPublicKeys(cmd.Context(), vaultConfig, transitKey, &vaultAuth)
				if err != nil {
					return usageErr(err)
				}
				for _, k := range keys {
					id, _ := audit.KeyID(k.PublicKey)
					fmt.Fprintf(cmd.ErrOrStderr(), "version %d key id %s\n", k.Version, id)
					if _, err := cmd.OutOrStdout().Write(k.PublicKeyPEM); err != nil {
						return err
					}
				}
				return nil
			}
			if keyFile == "" {
				return usageErr(errors.New("--key FILE is required"))
			}
			s, err := audit.NewEd25519SignerFile(keyFile)
			if err != nil {
				return usageErr(err)
			}
			pub, err := s.PublicKeyPEM()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "key id %s\n", s.KeyID())
			_, err = cmd.OutOrStdout().Write(pub)
			return err
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "PEM (PKCS #8) Ed25519 private key file")
	cmd.Flags().BoolVar(&vault, "vault", false, "export the public key of the Vault Transit checkpoint key")
	cmd.Flags().StringVar(&vaultConfig, "config", "", "with --vault: the serve config whose secrets section reaches Vault")
	cmd.Flags().StringVar(&transitKey, "transit-key", "", "with --vault: the Transit key name (default: the config's audit.checkpoint.transit)")
	vaultAuth.register(cmd.Flags())
	return cmd
}

func newAuditKeygenCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen --out FILE",
		Short: "Create an Ed25519 checkpoint signing key (PEM, mode 0600) and print its public key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageErr(errors.New("--out FILE is required"))
			}
			key, err := audit.GenerateEd25519Key()
			if err != nil {
				return err
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return usageErr(fmt.Errorf("create key file (an existing key is never overwritten): %w", err))
			}
			if _, err := f.Write(key); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			s, err := audit.NewEd25519Signer(key)
			if err != nil {
				return err
			}
			pub, err := s.PublicKeyPEM()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(pub)
			return err
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "private key file to create")
	return cmd
}

// transitPublicKeys reads the public halves of the checkpoint key, every
// version, from Vault Transit, reached through the serve config's secrets
// section as the operator (see operatorAuthFlags). The private key never
// leaves Vault; auditors can also be given these PEMs to use with --pubkey.
func transitPublicKeys(ctx context.Context, configPath, key string, auth *operatorAuthFlags) ([]vaultpkg.KeyVersion, error) {
	if configPath == "" {
		return nil, errors.New("--vault needs --config (a serve config with secrets.backend: vault)")
	}
	cfg, err := loadServeConfig(configPath)
	if err != nil {
		return nil, err
	}
	if key == "" {
		key = cfg.Audit.Checkpoint.Transit
	}
	if key == "" {
		return nil, errors.New("no Transit key: set audit.checkpoint.transit in the config or pass --transit-key")
	}
	if cfg.Secrets.Backend != "vault" {
		return nil, errors.New("--vault needs secrets.backend: vault in the config")
	}
	sc := cfg.Secrets
	sc.ResolvePaths(cfg.dir)
	if err := auth.apply(&sc); err != nil {
		return nil, err
	}
	vs, err := vaultpkg.OpenVaultStore(ctx, sc, vaultpkg.OpenOptions{})
	if err != nil {
		return nil, err
	}
	defer vs.Close()
	// The signer refuses a key type that cannot sign checkpoints.
	if _, err := vaultpkg.NewTransitAuditSigner(ctx, vs.Transit(), key); err != nil {
		return nil, err
	}
	ki, err := vs.Transit().Key(ctx, key)
	if err != nil {
		return nil, err
	}
	if len(ki.Versions) == 0 {
		return nil, fmt.Errorf("transit key %s lists no public key", key)
	}
	return ki.Versions, nil
}
