package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/syncgate/syncgate/certs"
)

func newDemoCmd() *cobra.Command {
	var dir string
	var keep, verbose, bench bool
	var benchDur time.Duration
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run everything on one machine on embedded defaults and show what happened",
		Long: `Start a local TLS upstream that stands in for Microsoft Graph, the gateway
(internal CA, intercept CA, policy, audit log) in front of it, then make
allowed and denied calls through the gateway with an ordinary HTTPS client
(HTTPS_PROXY-style), and print each decision and where the audit log is.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if bench {
				return runBench(cmd.Context(), cmd.OutOrStdout(), dir, benchDur)
			}
			return runDemo(cmd.Context(), cmd.OutOrStdout(), dir, keep, verbose)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "demo-out", "working directory for certificates, config, policy and the audit log")
	cmd.Flags().BoolVar(&keep, "keep-running", false, "keep the gateway running after the calls (Ctrl-C to stop)")
	cmd.Flags().BoolVar(&verbose, "verbose", false, "print the gateway's log")
	cmd.Flags().BoolVar(&bench, "bench", false, "measure throughput and latency direct vs through the gateway instead")
	cmd.Flags().DurationVar(&benchDur, "bench-duration", 5*time.Second, "duration of each benchmark phase")
	return cmd
}

// demoEnv is a prepared demo directory: PKI, upstream, config and policy.
type demoEnv struct {
	dir        string
	gwDir      string
	upDir      string
	clientCert string
	clientKey  string
	upstream   *http.Server
	upAddr     string
	cfgPath    string
}

const demoPolicy = `# Demo policy: default deny; the sync engine may read and write one user's
# contacts and events on the (emulated) Graph API and nothing else.
version: 1
mode: enforce
ca_bundles:
  microsoft: {files: [upstream/root-ca.pem]}   # the demo's stand-in for Microsoft's roots
clients:
  - name: sync
    identities: [{uri: "spiffe://demo.syncgate/sync"}]
    sources: ["127.0.0.1/32"]
    subjects: ["*@corp.example"]
destinations:
  - name: graph
    hosts: [graph.microsoft.com]
    port: 443
    tls: {min_version: "1.2", ca_bundle: microsoft}
    clients: [sync]
    rules:
      - id: graph-read
        methods: [GET]
        paths: ["/v1.0/users/{subject}/contacts/**", "/v1.0/users/{subject}/contacts", "/v1.0/users/{subject}/calendarView/delta"]
      - id: graph-write
        methods: [POST, PATCH, DELETE]
        paths: ["/v1.0/users/{subject}/contacts/**", "/v1.0/users/{subject}/events/**"]
`

const demoConfig = `# Demo gateway config (syncgate serve --config %[1]s)
listen: %[3]s
tls:
  cert_file: gateway/listener.pem
  key_file: gateway/listener.key
  client_ca: [gateway/clients-ca.pem]
plain_listen: %[4]s
intercept_ca: {cert_file: gateway/intercept-ca.pem, key_file: gateway/intercept-ca.key}
policy: policy.yaml
audit: {path: audit.jsonl, fsync: %[6]s, fail_closed: true}
network:
  allow_ranges: ["127.0.0.0/8"]      # the demo's upstream runs on loopback
  hosts: {graph.microsoft.com: "%[2]s"}
metrics: {listen: %[5]s}
`

// prepareDemo writes the PKI, starts the stand-in upstream and writes config.
func prepareDemo(ctx context.Context, dir string, handler http.Handler, policyYAML, listen, plainListen, metricsListen, fsync string) (*demoEnv, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(abs); err != nil {
		return nil, fmt.Errorf("clean %s: %w", abs, err)
	}
	e := &demoEnv{dir: abs, gwDir: filepath.Join(abs, "gateway"), upDir: filepath.Join(abs, "upstream")}
	if _, err := certs.InitDir(e.gwDir, certs.InitOptions{Names: []string{"127.0.0.1", "localhost"}}); err != nil {
		return nil, err
	}
	if _, err := certs.InitDir(e.upDir, certs.InitOptions{Names: []string{"graph.microsoft.com", "login.microsoftonline.com"}}); err != nil {
		return nil, err
	}
	e.clientCert, e.clientKey, err = certs.IssueClient(e.gwDir, e.gwDir, "sync-engine", certs.ClientOptions{URIs: []string{"spiffe://demo.syncgate/sync"}, TTL: 2 * time.Hour})
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(e.upDir, certs.ListenerFile), filepath.Join(e.upDir, certs.ListenerKeyFile))
	if err != nil {
		return nil, err
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, err
	}
	e.upAddr = ln.Addr().String()
	e.upstream = &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = e.upstream.Serve(ln) }()
	if err := os.WriteFile(filepath.Join(abs, "policy.yaml"), []byte(policyYAML), 0o644); err != nil {
		return nil, err
	}
	// The intercept CA may vouch only for the policy's hosts.
	if err := constrainInterceptCA(e.gwDir, filepath.Join(abs, "policy.yaml")); err != nil {
		return nil, err
	}
	e.cfgPath = filepath.Join(abs, "syncgate.yaml")
	if err := os.WriteFile(e.cfgPath, []byte(fmt.Sprintf(demoConfig, e.cfgPath, e.upAddr, listen, plainListen, metricsListen, fsync)), 0o644); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *demoEnv) close() {
	if e.upstream != nil {
		e.upstream.Close()
	}
}

// demoClient is an ordinary HTTPS client configured the way HTTPS_PROXY and
// a client certificate would configure any tool.
func (e *demoEnv) demoClient(proxyURL string) (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(e.clientCert, e.clientKey)
	if err != nil {
		return nil, err
	}
	// Go uses TLSClientConfig both for TLS to the proxy and for the TLS
	// inside the tunnel, so it trusts the gateway's root and the intercept CA.
	roots, err := poolFrom(filepath.Join(e.gwDir, certs.RootCAFile), filepath.Join(e.gwDir, certs.InterceptCAFile))
	if err != nil {
		return nil, err
	}
	pu, err := url.Parse(proxyURL)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy: http.ProxyURL(pu),
		// mTLS to the proxy: the client certificate is the identity.
		TLSClientConfig:     &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}},
		MaxIdleConnsPerHost: 64,
	}
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}, nil
}

// poolFrom reads PEM certificates from files into one pool.
func poolFrom(files ...string) (*x509.CertPool, error) {
	p := x509.NewCertPool()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if !p.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("%s: no certificate", f)
		}
	}
	return p, nil
}

// doDemoCall makes one call and reads the gateway's verdict from the response.
func doDemoCall(client *http.Client, req *http.Request) (status, decision, reason string) {
	resp, err := client.Do(req)
	if err != nil {
		// A refused CONNECT surfaces as a client error carrying the status.
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		return "CONNECT refused", "deny", msg
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	status = resp.Status
	if resp.StatusCode < 400 {
		return status, "allow", fmt.Sprintf("%d bytes from upstream", len(body))
	}
	var eb struct{ Error, Reason string }
	if json.Unmarshal(body, &eb) == nil && eb.Error != "" {
		return status, "deny", eb.Reason
	}
	return status, "allow", "upstream answered " + resp.Status
}
