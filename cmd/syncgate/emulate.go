package main

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/syncgate/syncgate/emulate"
	"github.com/syncgate/syncgate/emulate/clock"
)

func newEmulateCmd() *cobra.Command {
	var addr, caDir, seedDir string
	var o emulate.Options
	var fake bool
	cmd := &cobra.Command{
		Use:   "emulate",
		Short: "Serve the Graph, Google, EWS, Salesforce and Vault emulators on one TLS listener",
		Long: `Serve every emulator on one TLS listener, routed by Host, with a certificate
for all their real names from a CA in --ca-dir (created on first run; the
listener certificate is reissued from the same CA when the names change).
Point the gateway's network.hosts at the printed address and make it trust
the printed CA file, and clients reach the emulators under their real names.

With --seed DIR the emulators are first filled with the demo tenant, apps,
service accounts, users, contacts and events, and DIR receives what a
gateway needs to use them: secrets and keys in 0600 files, identifiers in
seeded.json. No secret is printed.

The admin API (/_emulator/ on https://ADDR, loopback clients only) seeds,
inspects and injects faults; with --fake-clock, POST /_emulator/clock/advance
{"seconds":N} moves time. The Vault emulator is vault.emulator.local, and
/v1/ on https://ADDR.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if fake {
				o.Clock = clock.NewFake(time.Now())
			}
			return runEmulate(cmd, addr, caDir, seedDir, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8443", "TLS listen address")
	f.StringVar(&caDir, "ca-dir", "emulate-ca", "directory of the emulators' CA and listener certificate (root-ca.pem is what clients trust)")
	f.StringVar(&seedDir, "seed", "", "seed the demo credentials and data, writing keys, secrets and seeded.json into this directory")
	f.BoolVar(&fake, "fake-clock", false, "run the emulators on a clock that moves only through POST /_emulator/clock/advance")
	f.StringVar(&o.SalesforceInstance, "salesforce-instance", emulate.DefaultSalesforceInstance, "Salesforce instance (My Domain) host")
	f.StringVar(&o.EWSHost, "ews-host", emulate.DefaultEWSHost, "Exchange on-premises (EWS) host")
	f.StringVar(&o.Domain, "domain", emulate.DefaultDomain, "mail domain of the demo users and the Google Workspace domain")
	return cmd
}

func runEmulate(cmd *cobra.Command, addr, caDir, seedDir string, o emulate.Options) error {
	set := emulate.New(o)
	// Certificates use the wall clock even on a fake emulator clock:
	// clients check them against real time.
	cert, caFile, err := emulate.EnsureCerts(caDir, set.CertNames(), time.Now())
	if err != nil {
		return err
	}
	var seeded *emulate.Seeded
	if seedDir != "" {
		if seeded, err = set.SeedDemo(seedDir); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("emulate: listen: %w", err)
	}
	printEmulate(cmd.OutOrStdout(), set, ln.Addr().String(), caFile, seeded, o.Clock != nil)
	return set.Serve(cmd.Context(), ln, cert)
}

func printEmulate(w io.Writer, set *emulate.Set, addr, caFile string, s *emulate.Seeded, fake bool) {
	fmt.Fprintf(w, "emulators listening on https://%s\n", addr)
	fmt.Fprintf(w, "CA certificate (trust this): %s\n", caFile)
	fmt.Fprintf(w, "admin API (loopback only): https://%s/_emulator/\n", addr)
	if fake {
		fmt.Fprintf(w, "clock: fake, starting %s; POST /_emulator/clock/advance {\"seconds\":N}\n", set.Now().UTC().Format(time.RFC3339))
	}
	fmt.Fprintln(w, "hosts (for the gateway's serve config):")
	fmt.Fprintln(w, "network:")
	fmt.Fprintln(w, "  hosts:")
	for _, h := range set.Hosts() {
		fmt.Fprintf(w, "    %s: %q\n", h, addr)
	}
	if s == nil {
		return
	}
	fmt.Fprintf(w, "seeded into %s (identifiers in %s; secrets only in 0600 files):\n", s.Dir, emulate.SeededFile)
	fmt.Fprintf(w, "  users:      %v\n", s.Users)
	fmt.Fprintf(w, "  microsoft:  tenant %s, client %s, secret file %s, key %s\n", s.Microsoft.TenantID, s.Microsoft.ClientID, s.Microsoft.ClientSecretFile, s.Microsoft.KeyFile)
	fmt.Fprintf(w, "  google:     service account %s, key %s\n", s.Google.ClientEmail, s.Google.KeyFile)
	fmt.Fprintf(w, "  salesforce: consumer key %s, key %s, instance %s\n", s.Salesforce.ConsumerKey, s.Salesforce.KeyFile, s.Salesforce.InstanceURL)
	fmt.Fprintf(w, "  ews:        %s as %s, password file %s\n", s.EWS.URL, s.EWS.Username, s.EWS.PasswordFile)
	fmt.Fprintf(w, "  vault:      %s, token file %s\n", s.Vault.Address, s.Vault.TokenFile)
}
