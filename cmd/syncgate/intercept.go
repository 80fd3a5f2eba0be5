package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/syncgate/syncgate/certs"
	"github.com/syncgate/syncgate/policy"
	"github.com/syncgate/syncgate/vault"
)

// interceptCAConfig is the serve config's intercept_ca: the CA certificate
// file (a bundle of the current CA and a staged next or a previous one),
// and its key in a file or in Vault Transit.
type interceptCAConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"` // PEM private key, 0600
	Transit  string `yaml:"transit"`  // or an ecdsa-p256 Vault Transit key (secrets.backend: vault)
}

func (c interceptCAConfig) validate(secretsBackend string) error {
	switch {
	case c.CertFile == "":
		return errors.New("intercept_ca.cert_file is required")
	case c.KeyFile == "" && c.Transit == "":
		return errors.New("intercept_ca: key_file or transit is required")
	case c.KeyFile != "" && c.Transit != "":
		return errors.New("intercept_ca: key_file and transit exclude each other")
	case c.Transit != "" && secretsBackend != "vault":
		return errors.New("intercept_ca.transit needs secrets.backend: vault")
	}
	return nil
}

// policyHost is one host of a policy destination, normalised as policy
// compares it (wildcards keep their "*.").
type policyHost struct{ host, dest string }

// policyHosts reads the destination hosts of the policy file.
func policyHosts(file string) ([]policyHost, error) {
	p, err := policy.Load(file)
	if err != nil {
		return nil, err
	}
	var out []policyHost
	var errs []error
	for _, d := range p.Destinations {
		for _, h := range d.Hosts {
			name, wild := strings.CutPrefix(h, "*.")
			n, err := policy.NormalizeHost(name)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: destination %s: host %q: %w", file, d.Name, h, err))
				continue
			}
			if wild {
				n = "*." + n
			}
			out = append(out, policyHost{n, d.Name})
		}
	}
	return out, errors.Join(errs...)
}

// constraintsFromPolicy computes the intercept CA's name constraints from
// the destination hosts of a policy file.
func constraintsFromPolicy(file string) (*certs.NameConstraints, error) {
	hs, err := policyHosts(file)
	if err != nil {
		return nil, err
	}
	var hosts []string
	for _, h := range hs {
		hosts = append(hosts, h.host)
	}
	nc, err := certs.ConstraintsForHosts(hosts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &nc, nil
}

// transitCASource signs with the version of the Transit key that holds the
// public key of the first certificate in the bundle (the current CA).
func transitCASource(t *vault.Transit, key string) certs.SignerSource {
	return func(bundle []*x509.Certificate) (*x509.Certificate, crypto.Signer, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := t.CASigner(ctx, key, bundle[0].PublicKey)
		if err != nil {
			return nil, nil, fmt.Errorf("intercept_ca.transit: %w", err)
		}
		return bundle[0], s, nil
	}
}

// interceptWatch is the gateway's view of its intercept CA beyond the
// certs package: how many policy hosts fall outside its constraints and
// when it last warned about its expiry.
type interceptWatch struct {
	outside  atomic.Int64
	mu       sync.Mutex
	warnedAt time.Time
}

// openInterceptCA loads the intercept CA (file key or Transit), registers
// its metrics and reports on it.
func (g *gateway) openInterceptCA() error {
	cfg := g.cfg
	o := certs.InterceptOptions{
		OnReloadError: g.reloadError,
		OnReload: func() {
			if g.srv != nil {
				g.checkIntercept(g.srv.Policy())
			}
		},
	}
	var err error
	if key := cfg.InterceptCA.Transit; key != "" {
		vs, ok := g.store.(*vault.VaultStore)
		if !ok {
			return errors.New("intercept_ca.transit needs the vault secret store")
		}
		g.ica, err = certs.LoadInterceptCAWithSigner(cfg.path(cfg.InterceptCA.CertFile), transitCASource(vs.Transit(), key), o)
	} else {
		g.ica, err = certs.LoadInterceptCA(cfg.path(cfg.InterceptCA.CertFile), cfg.path(cfg.InterceptCA.KeyFile), o)
	}
	if err != nil {
		return err
	}
	g.registerInterceptMetrics()
	return nil
}

func (g *gateway) registerInterceptMetrics() {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	g.reg.MustRegister(
		gauge("syncgate_intercept_ca_not_after_timestamp_seconds",
			"Unix time at which the intercept CA that signs expires.",
			func() float64 { return float64(g.ica.Certificate().NotAfter.Unix()) }),
		gauge("syncgate_intercept_ca_expiring",
			"1 when the intercept CA that signs expires within 30 days: stage and promote the next one (syncgate certs rotate-intercept).",
			func() float64 { return b2f(time.Until(g.ica.Certificate().NotAfter) < certs.ExpiryWarning) }),
		gauge("syncgate_intercept_ca_constrained",
			"1 when the intercept CA carries name constraints; 0 when it can vouch for any host.",
			func() float64 { return b2f(g.ica.Constrained()) }),
		gauge("syncgate_intercept_ca_next_staged",
			"1 while a next intercept CA is published beside the current one, before it signs.",
			func() float64 { return b2f(len(g.ica.Bundle().Next) > 0) }),
		gauge("syncgate_intercept_ca_policy_hosts_outside",
			"Policy destination hosts outside the intercept CA's name constraints (CONNECT to them is refused).",
			func() float64 { return float64(g.icaWatch.outside.Load()) }),
	)
}

// interceptWarnings lists what is wrong with the intercept CA for policy
// hosts hs at now: no constraints, hosts outside them, expiry within 30
// days. `certs show` prints them; the gateway logs them.
func interceptWarnings(ca *x509.Certificate, hs []policyHost, now time.Time) (warnings []string, outside int) {
	if _, ok := certs.ConstraintsOf(ca); !ok {
		warnings = append(warnings, "the intercept CA has no name constraints: its key can vouch for any host to every client (make a constrained one: syncgate certs rotate-intercept)")
	}
	for _, h := range hs {
		if err := certs.PermitsHost(ca, h.host); err != nil {
			outside++
			warnings = append(warnings, fmt.Sprintf("policy host %s (destination %s) is outside the intercept CA's name constraints (%v): the gateway refuses to intercept it; stage a CA from the current policy with syncgate certs rotate-intercept", h.host, h.dest, err))
		}
	}
	if w := expiryWarning("intercept CA", ca, now); w != "" {
		warnings = append(warnings, w+"; rotate it: syncgate certs rotate-intercept, then --promote")
	}
	return warnings, outside
}

func expiryWarning(role string, c *x509.Certificate, now time.Time) string {
	left := c.NotAfter.Sub(now)
	switch {
	case left <= 0:
		return fmt.Sprintf("%s %q expired at %s", role, c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339))
	case left < certs.ExpiryWarning:
		return fmt.Sprintf("%s %q expires in %d days (%s)", role, c.Subject.CommonName, int(left.Hours()/24), c.NotAfter.UTC().Format(time.RFC3339))
	}
	return ""
}

// checkIntercept logs what is wrong with the intercept CA for the running
// policy: at start, on every reload of either.
func (g *gateway) checkIntercept(eng *policy.Engine) {
	if g.ica == nil || eng == nil {
		return
	}
	var hs []policyHost
	for _, d := range eng.Policy().Destinations {
		for _, h := range d.Hosts {
			name, wild := strings.CutPrefix(h, "*.")
			if n, err := policy.NormalizeHost(name); err == nil {
				if wild {
					n = "*." + n
				}
				hs = append(hs, policyHost{n, d.Name})
			}
		}
	}
	ca := g.ica.Certificate()
	now := time.Now()
	warnings, outside := interceptWarnings(ca, hs, now)
	g.icaWatch.outside.Store(int64(outside))
	summary, _ := certs.ConstraintsOf(ca)
	ev := g.log.Info().Str("intercept_ca", ca.Subject.CommonName).Time("not_after", ca.NotAfter).Str("name_constraints", summary)
	if n := len(g.ica.Bundle().Next); n > 0 {
		ev = ev.Str("next", g.ica.Bundle().Next[n-1].Subject.CommonName)
	}
	ev.Msg("intercept CA")
	for _, w := range warnings {
		g.log.Warn().Msg(w)
	}
	if ca.NotAfter.Sub(now) < certs.ExpiryWarning {
		g.icaWatch.mu.Lock()
		g.icaWatch.warnedAt = now
		g.icaWatch.mu.Unlock()
	}
}

// watchInterceptExpiry repeats the expiry warning once a day while the
// intercept CA is within 30 days of its end.
func (g *gateway) watchInterceptExpiry(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		ca := g.ica.Certificate()
		w := expiryWarning("intercept CA", ca, now)
		if w == "" {
			continue
		}
		g.icaWatch.mu.Lock()
		due := now.Sub(g.icaWatch.warnedAt) >= 24*time.Hour
		if due {
			g.icaWatch.warnedAt = now
		}
		g.icaWatch.mu.Unlock()
		if due {
			g.log.Warn().Msg(w + "; rotate it: syncgate certs rotate-intercept, then --promote")
		}
	}
}

// printInterceptReport writes, after `certs show --config`'s table, the
// intercept CA bundle, its name constraints and every warning.
func printInterceptReport(w io.Writer, cfg *serveConfig, infos []certs.CertInfo, now time.Time) error {
	key := cfg.path(cfg.InterceptCA.KeyFile)
	if cfg.InterceptCA.Transit != "" {
		key = ""
	}
	b, err := certs.ReadInterceptBundle(cfg.path(cfg.InterceptCA.CertFile), key)
	if err != nil {
		return fmt.Errorf("intercept CA: %w", err)
	}
	fmt.Fprintln(w)
	keyDesc := "key file " + cfg.path(cfg.InterceptCA.KeyFile)
	if cfg.InterceptCA.Transit != "" {
		keyDesc = "Vault Transit key " + cfg.InterceptCA.Transit
	}
	fmt.Fprintf(w, "Intercept CA (%s):\n", keyDesc)
	line := func(role string, c *x509.Certificate) {
		s, _ := certs.ConstraintsOf(c)
		fmt.Fprintf(w, "  %-8s %s, not after %s\n           name constraints: %s\n", role, c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339), s)
	}
	line("current", b.Current)
	for _, c := range b.Next {
		line("next", c)
	}
	for _, c := range b.Previous {
		line("previous", c)
	}
	var warnings []string
	hs, perr := policyHosts(cfg.path(cfg.Policy))
	if perr != nil {
		warnings = append(warnings, "policy not checked against the intercept CA: "+perr.Error())
	}
	iw, _ := interceptWarnings(b.Current, hs, now)
	warnings = append(warnings, iw...)
	for _, c := range b.Next {
		for _, h := range hs {
			if err := certs.PermitsHost(c, h.host); err != nil {
				warnings = append(warnings, fmt.Sprintf("policy host %s is outside the staged next intercept CA's constraints (%v): stage it again before promoting", h.host, err))
			}
		}
	}
	for _, ci := range infos {
		if strings.HasPrefix(ci.Role, "intercept CA") || ci.NotAfter.IsZero() {
			continue
		}
		if left := ci.NotAfter.Sub(now); left < certs.ExpiryWarning {
			what := fmt.Sprintf("expires in %d days", int(left.Hours()/24))
			if left <= 0 {
				what = "has expired"
			}
			warnings = append(warnings, fmt.Sprintf("%s %s %s (%s)", ci.Role, ci.File, what, ci.NotAfter.UTC().Format(time.RFC3339)))
		}
	}
	for _, s := range warnings {
		fmt.Fprintln(w, "warning: "+s)
	}
	return nil
}

// interceptCmdFlags are the flags shared by init-intercept and
// rotate-intercept.
type interceptCmdFlags struct {
	config, policy string
	lifetime       time.Duration
	auth           operatorAuthFlags
}

func (f *interceptCmdFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.config, "config", "", "the serve config whose intercept_ca this is (required)")
	cmd.Flags().StringVar(&f.policy, "policy", "", "policy whose destination hosts become the name constraints (default: the config's policy)")
	cmd.Flags().DurationVar(&f.lifetime, "lifetime", certs.DefaultInterceptCALifetime, "validity of the new CA")
	f.auth.register(cmd.Flags())
}

// prepare loads the config and computes the constraints; with Transit it
// also opens Vault as the operator.
func (f *interceptCmdFlags) prepare(ctx context.Context) (*serveConfig, certs.InterceptCAOptions, *vault.VaultStore, error) {
	var o certs.InterceptCAOptions
	if f.config == "" {
		return nil, o, nil, withCode(2, errors.New("--config FILE is required"))
	}
	cfg, err := loadServeConfig(f.config)
	if err != nil {
		return nil, o, nil, withCode(2, err)
	}
	pf := f.policy
	if pf == "" {
		pf = cfg.path(cfg.Policy)
	}
	nc, err := constraintsFromPolicy(pf)
	if err != nil {
		return nil, o, nil, withCode(2, err)
	}
	o = certs.InterceptCAOptions{Constraints: nc, Lifetime: f.lifetime}
	if cfg.InterceptCA.Transit == "" {
		return cfg, o, nil, nil
	}
	sc := cfg.Secrets
	sc.ResolvePaths(cfg.dir)
	if err := f.auth.apply(&sc); err != nil {
		return nil, o, nil, withCode(2, err)
	}
	vs, err := vault.OpenVaultStore(ctx, sc, vault.OpenOptions{})
	if err != nil {
		return nil, o, nil, err
	}
	return cfg, o, vs, nil
}

func newCertsInitInterceptCmd() *cobra.Command {
	var f interceptCmdFlags
	var force bool
	cmd := &cobra.Command{
		Use:   "init-intercept",
		Short: "Create the first intercept CA of a serve config, constrained to its policy's hosts (file key, or an ecdsa-p256 Vault Transit key)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, o, vs, err := f.prepare(ctx)
			if err != nil {
				return err
			}
			if vs != nil {
				defer vs.Close()
			}
			certFile := cfg.path(cfg.InterceptCA.CertFile)
			if _, err := os.Stat(certFile); err == nil && !force {
				return fmt.Errorf("%s exists: rotate it with syncgate certs rotate-intercept (or replace it with --force)", certFile)
			}
			if err := os.MkdirAll(filepath.Dir(certFile), 0o755); err != nil {
				return err
			}
			var ca *x509.Certificate
			if vs != nil {
				key := cfg.InterceptCA.Transit
				t := vs.Transit()
				if _, err := t.Key(ctx, key); errors.Is(err, vault.ErrNotFound) {
					if err := t.CreateKey(ctx, key, "ecdsa-p256"); err != nil {
						return err
					}
				} else if err != nil {
					return err
				}
				s, err := t.CASigner(ctx, key, nil)
				if err != nil {
					return err
				}
				if ca, err = certs.NewInterceptCACert(s, o); err != nil {
					return err
				}
				if err := certs.WriteCertPEMFile(certFile, ca); err != nil {
					return err
				}
			} else if ca, err = certs.WriteInterceptCA(certFile, cfg.path(cfg.InterceptCA.KeyFile), o); err != nil {
				return err
			}
			s, _ := certs.ConstraintsOf(ca)
			fmt.Fprintf(cmd.OutOrStdout(), "Wrote %s: %s, not after %s\n  name constraints: %s\nClients trust this file for intercepted https:// destinations.\n",
				certFile, ca.Subject.CommonName, ca.NotAfter.UTC().Format(time.RFC3339), s)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing intercept CA (clients must be given the new file)")
	return cmd
}

func newCertsRotateInterceptCmd() *cobra.Command {
	var f interceptCmdFlags
	var promote bool
	cmd := &cobra.Command{
		Use:   "rotate-intercept",
		Short: "Stage the next intercept CA beside the current one (published, not signing), or --promote it to sign",
		Long: `Rotation in two steps, so clients never see a leaf from a CA they do not trust:

  1. syncgate certs rotate-intercept --config FILE
     creates the next CA (a new key file, or a new version of the Transit
     key), constrained to the policy's hosts, and writes cert_file as the
     bundle [current, next]. The gateway reloads it and keeps signing with
     the current CA. Give the bundle to every client.
  2. syncgate certs rotate-intercept --config FILE --promote
     once every client trusts the bundle: cert_file becomes [next, old]
     and the next key becomes the signing one. The gateway reloads and signs
     new leaves with the new CA; the old one stays in the bundle until the
     next rotation.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, o, vs, err := f.prepare(ctx)
			if err != nil {
				return err
			}
			if vs != nil {
				defer vs.Close()
			}
			certFile := cfg.path(cfg.InterceptCA.CertFile)
			keyFile := ""
			if cfg.InterceptCA.KeyFile != "" {
				keyFile = cfg.path(cfg.InterceptCA.KeyFile)
			}
			out := cmd.OutOrStdout()
			if promote {
				ca, err := certs.PromoteNextIntercept(certFile, keyFile, time.Now())
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "Promoted %s (not after %s): the gateway signs with it once it reloads %s (within seconds, or on SIGHUP).\nThe previous CA stays in the bundle until the next rotation.\n",
					ca.Subject.CommonName, ca.NotAfter.UTC().Format(time.RFC3339), certFile)
				return nil
			}
			b, err := certs.ReadInterceptBundle(certFile, keyFile)
			if err != nil {
				return err
			}
			for _, n := range b.Next {
				if time.Now().Before(n.NotAfter) {
					return fmt.Errorf("%s already holds a next intercept CA (%s): promote it with --promote first", certFile, n.Subject.CommonName)
				}
			}
			var next *x509.Certificate
			if vs != nil {
				key := cfg.InterceptCA.Transit
				if _, err := vs.Transit().CASigner(ctx, key, b.Current.PublicKey); err != nil {
					return err
				}
				if _, err := vs.Transit().Rotate(ctx, key); err != nil {
					return err
				}
				s, err := vs.Transit().CASigner(ctx, key, nil)
				if err != nil {
					return err
				}
				if next, err = certs.StageNextIntercept(certFile, "", s, o); err != nil {
					return err
				}
				fmt.Fprintf(out, "Transit key %s: version %d holds the next CA's key.\n", key, s.KeyVersion())
			} else if next, err = certs.StageNextInterceptFile(certFile, keyFile, o); err != nil {
				return err
			}
			s, _ := certs.ConstraintsOf(next)
			fmt.Fprintf(out, "Staged %s (not after %s) in %s beside the current CA, which still signs.\n  name constraints: %s\n", next.Subject.CommonName, next.NotAfter.UTC().Format(time.RFC3339), certFile, s)
			if keyFile != "" {
				fmt.Fprintf(out, "  its key: %s (0600)\n", certs.NextKeyFile(keyFile))
			}
			fmt.Fprintf(out, "Next: give %s (both CAs) to every client, then run\n  syncgate certs rotate-intercept --config %s --promote\n", certFile, f.config)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&promote, "promote", false, "make the staged next CA the one that signs")
	return cmd
}

// constrainInterceptCA replaces the intercept CA of a `certs init`
// directory with a new one constrained to policyFile's destination hosts,
// as `certs init --policy` makes it (the demo writes its policy after its
// PKI).
func constrainInterceptCA(dir, policyFile string) error {
	nc, err := constraintsFromPolicy(policyFile)
	if err != nil {
		return err
	}
	_, err = certs.WriteInterceptCA(filepath.Join(dir, certs.InterceptCAFile), filepath.Join(dir, certs.InterceptKey), certs.InterceptCAOptions{Constraints: nc})
	return err
}
