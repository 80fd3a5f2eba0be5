package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/syncgate/syncgate/certs"
)

func newCertsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Create the internal CAs, issue client certificates, list certificates",
	}
	cmd.AddCommand(newCertsInitCmd(), newCertsIssueClientCmd(), newCertsShowCmd(), newCertsInitInterceptCmd(), newCertsRotateInterceptCmd())
	return cmd
}

func newCertsInitCmd() *cobra.Command {
	var names, ips []string
	var force bool
	var lifetime, icaLifetime time.Duration
	var policyFile string
	var skipIntercept bool
	cmd := &cobra.Command{
		Use:   "init DIR",
		Short: "Create an internal root CA, a listener certificate, an intercept CA and a clients CA in DIR",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, ip := range ips {
				if net.ParseIP(ip) == nil {
					return fmt.Errorf("--ip %q is not an IP address", ip)
				}
			}
			all := append(append([]string{}, names...), ips...)
			if len(all) == 0 {
				all = []string{"localhost", "127.0.0.1"}
			}
			dir := args[0]
			var nc *certs.NameConstraints
			if policyFile != "" {
				var err error
				if nc, err = constraintsFromPolicy(policyFile); err != nil {
					return withCode(2, err)
				}
			}
			if _, err := certs.InitDir(dir, certs.InitOptions{Names: all, ListenerLifetime: lifetime, Force: force,
				InterceptConstraints: nc, InterceptLifetime: icaLifetime, NoIntercept: skipIntercept}); err != nil {
				return err
			}
			p := func(f string) string { return filepath.Join(dir, f) }
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Wrote the syncgate PKI to %s (keys are 0600; keep them there).\n\n", dir)
			fmt.Fprintf(out, "Trust:\n")
			fmt.Fprintf(out, "  %-22s  in clients of the gateway (the sync engine, curl --cacert): it signs the listener certificate\n", p(certs.RootCAFile))
			fmt.Fprintf(out, "  %-22s  in clients that go through the gateway with https:// URLs (CONNECT is intercepted); nowhere else\n", p(certs.InterceptCAFile))
			if skipIntercept {
				fmt.Fprintf(out, "  %-22s  (not made here: syncgate certs init-intercept --config FILE makes it, with its key in Vault Transit)\n", "")
			} else if nc != nil {
				fmt.Fprintf(out, "  %-22s  (valid %s; it can vouch only for the policy's hosts: %s)\n", "", icaLifetime, nc)
			} else {
				fmt.Fprintf(out, "  %-22s  (valid %s; WARNING: no --policy, so no name constraints: its key can vouch for any host)\n", "", icaLifetime)
			}
			fmt.Fprintf(out, "  %-22s  in the gateway only, as tls.client_ca: it admits mTLS clients\n\n", p(certs.ClientsCAFile))
			fmt.Fprintf(out, "Serve config (paths relative to the config file):\n")
			fmt.Fprintf(out, "  tls:\n    internal: {ca_cert: %s, ca_key: %s, names: [%s]}   # renewed automatically\n",
				certs.RootCAFile, certs.RootKeyFile, strings.Join(all, ", "))
			fmt.Fprintf(out, "    # or, from files: cert_file: %s, key_file: %s\n", certs.ListenerFile, certs.ListenerKeyFile)
			fmt.Fprintf(out, "    client_ca: [%s]\n", certs.ClientsCAFile)
			if skipIntercept {
				fmt.Fprintf(out, "  intercept_ca: {transit: syncgate-intercept-ca, cert_file: %s}\n\n", certs.InterceptCAFile)
			} else {
				fmt.Fprintf(out, "  intercept_ca: {cert_file: %s, key_file: %s}\n\n", certs.InterceptCAFile, certs.InterceptKey)
			}
			fmt.Fprintf(out, "Client certificates: syncgate certs issue-client NAME --uri spiffe://corp.example/NAME --ca %s\n", dir)
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&names, "name", nil, "DNS name for the listener certificate (repeatable)")
	cmd.Flags().StringSliceVar(&ips, "ip", nil, "IP address for the listener certificate (repeatable)")
	cmd.Flags().DurationVar(&lifetime, "listener-lifetime", 90*24*time.Hour, "lifetime of the file listener certificate")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing set")
	cmd.Flags().StringVar(&policyFile, "policy", "", "policy file: the intercept CA may vouch only for its destination hosts (name constraints)")
	cmd.Flags().DurationVar(&icaLifetime, "intercept-lifetime", certs.DefaultInterceptCALifetime, "validity of the intercept CA")
	cmd.Flags().BoolVar(&skipIntercept, "skip-intercept", false, "make no intercept CA (its key will be in Vault Transit: certs init-intercept)")
	return cmd
}

func newCertsIssueClientCmd() *cobra.Command {
	var uris, dns []string
	var ttl time.Duration
	var caDir, out string
	cmd := &cobra.Command{
		Use:   "issue-client NAME",
		Short: "Issue a client certificate from the clients CA (writes NAME.pem and NAME.key)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if caDir == "" {
				return errors.New("--ca DIR (a `certs init` directory) is required")
			}
			if out == "" {
				out = caDir
			}
			certFile, keyFile, err := certs.IssueClient(caDir, out, args[0], certs.ClientOptions{URIs: uris, DNS: dns, TTL: ttl})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Wrote %s and %s (0600), valid for %s.\n", certFile, keyFile, ttl)
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&uris, "uri", nil, "URI SAN, e.g. spiffe://corp.example/sync (repeatable)")
	cmd.Flags().StringSliceVar(&dns, "dns", nil, "DNS SAN (repeatable)")
	cmd.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "lifetime")
	cmd.Flags().StringVar(&caDir, "ca", "", "directory written by `certs init`")
	cmd.Flags().StringVar(&out, "out", "", "output directory (default: the --ca directory)")
	return cmd
}

func newCertsShowCmd() *cobra.Command {
	var dir, config string
	cmd := &cobra.Command{
		Use:   "show",
		Short: "List every certificate: role, subject, issuer, SANs, not-after, next renewal",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var infos []certs.CertInfo
			var err error
			var cfg *serveConfig
			switch {
			case config != "":
				var lerr error
				cfg, lerr = loadServeConfig(config)
				if lerr != nil {
					return withCode(2, lerr)
				}
				infos, err = describeServeConfig(cfg)
			case dir != "":
				infos, err = certs.DescribeDir(dir)
			default:
				return withCode(2, errors.New("--config FILE or --dir DIR is required"))
			}
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ROLE\tSUBJECT\tISSUER\tSANS\tNOT AFTER\tNEXT RENEWAL\tFILE")
			for _, ci := range infos {
				next := ci.Renewal
				if !ci.NextRenewal.IsZero() {
					next = ci.NextRenewal.UTC().Format(time.RFC3339) + " (" + ci.Renewal + ")"
				}
				sans := strings.Join(ci.SANs, ",")
				if sans == "" {
					sans = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ci.Role, ci.Subject, ci.Issuer, sans,
					ci.NotAfter.UTC().Format(time.RFC3339), next, ci.File)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if cfg != nil {
				// The intercept CA's bundle, name constraints and
				// warnings (hosts outside them, expiry within 30 days).
				return printInterceptReport(cmd.OutOrStdout(), cfg, infos, time.Now())
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "a `certs init` directory")
	cmd.Flags().StringVar(&config, "config", "", "a serve config: every certificate the gateway uses")
	return cmd
}

// describeServeConfig lists the certificates a serve config names: the
// listener (file-based; ACME and internal ones live in certmagic's storage),
// the client CAs, the intercept CA and the upstream client certificates.
func describeServeConfig(cfg *serveConfig) ([]certs.CertInfo, error) {
	var out []certs.CertInfo
	add := func(role, file string) error {
		if file == "" {
			return nil
		}
		p := cfg.path(file)
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("%s: %w", role, err)
		}
		cs, err := certs.ParseCertsPEM(b)
		if err != nil {
			return fmt.Errorf("%s %s: %w", role, p, err)
		}
		for i, c := range cs {
			r := role
			if i > 0 {
				r = role + " (chain)"
			}
			out = append(out, certs.Describe(r, p, c))
		}
		return nil
	}
	if err := add("listener", cfg.TLS.CertFile); err != nil {
		return nil, err
	}
	if cfg.TLS.ACME != nil {
		out = append(out, certs.CertInfo{Role: "listener", Subject: strings.Join(cfg.TLS.ACME.Names, ","), Issuer: cfg.TLS.ACME.Directory, Renewal: "ACME (certmagic storage)"})
	}
	for _, f := range cfg.TLS.ClientCA {
		if err := add("client CA", f); err != nil {
			return nil, err
		}
	}
	if err := add("intercept CA", cfg.InterceptCA.CertFile); err != nil {
		return nil, err
	}
	for i := range out {
		switch out[i].Role {
		case "intercept CA (chain)":
			out[i].Role = "intercept CA (bundle)" // a staged next or a previous CA, trusted too
			fallthrough
		case "intercept CA":
			out[i].Renewal = "syncgate certs rotate-intercept (stage, then --promote)"
		}
	}
	names := make([]string, 0, len(cfg.ClientCerts))
	for n := range cfg.ClientCerts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := add("upstream client cert "+n, cfg.ClientCerts[n].CertFile); err != nil {
			return nil, err
		}
	}
	return out, nil
}
