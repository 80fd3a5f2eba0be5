package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncgate/syncgate/internal/testpki"
	"github.com/syncgate/syncgate/policy"
)

// filledDemoPolicy writes the demo policy as syncgate demo fills it, next to a
// stand-in for the emulators' CA, and compiles it.
func filledDemoPolicy(t *testing.T) (*policy.Engine, string) {
	t.Helper()
	dir := t.TempDir()
	ca := filepath.Join(dir, "emulators-ca")
	if err := os.Mkdir(ca, 0o755); err != nil {
		t.Fatal(err)
	}
	testpki.NewCA(t, "emulators").WriteCert(t, ca, "root-ca.pem")
	text := fill(demoPolicyTmpl, "{{TENANT}}", "8f1c2f3a-0000-4000-8000-000000000001",
		"{{SFHOST}}", "corp.my.salesforce.com", "{{EWSHOST}}", "mail.corp.example")
	pp := filepath.Join(dir, "policy.yaml")
	writeFile(t, pp, text)
	p, err := policy.Load(pp)
	if err != nil {
		t.Fatal(err)
	}
	e, err := policy.Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	return e, pp
}

// TestDemoPolicyMatchesExample: the demo allows exactly what the example
// policy allows, so every case of examples/policy-cases.yaml gets the same
// answer (and rule) from the demo policy, with the demo's loopback sources.
func TestDemoPolicyMatchesExample(t *testing.T) {
	e, _ := filledDemoPolicy(t)
	cases, err := policy.LoadCases(filepath.Join("..", "..", "examples", "policy-cases.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, c := range cases {
		switch {
		case c.Client == "sidecar" || strings.HasPrefix(c.Source, "127.") || c.Source == "::1":
			continue // the demo has no plain-listener client; its sync engine is on loopback
		case strings.HasPrefix(c.Source, "10.20."):
			c.Source = "127.0.0.1"
		}
		r, err := e.RunCase(c)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Pass {
			t.Errorf("demo policy, case %q: %s", c.Name, r.Msg)
		}
		ran++
	}
	if ran < 80 {
		t.Fatalf("only %d example cases ran against the demo policy", ran)
	}
	// The demo's sync engine, from loopback with its certificate identity.
	for _, c := range []policy.Case{
		{Name: "demo sync engine reads contacts delta", Client: "sync", Source: "127.0.0.1", Method: "GET",
			URL: "https://graph.microsoft.com/v1.0/users/alice@corp.example/contacts/delta", Subject: "alice@corp.example", Expect: "allow", Rule: "graph-read"},
		{Name: "demo EWS FindItem", Client: "sync", Source: "127.0.0.1", Method: "POST", URL: "https://mail.corp.example/EWS/Exchange.asmx",
			Subject: "alice@corp.example", EWSOperation: "FindItem", EWSFolders: []string{"contacts"}, Expect: "allow"},
		{Name: "demo sync engine from another address", Client: "sync", Source: "10.0.0.1", Method: "GET",
			URL: "https://graph.microsoft.com/v1.0/users/alice@corp.example/contacts", Subject: "alice@corp.example", Expect: "deny"},
	} {
		if r, err := e.RunCase(c); err != nil || !r.Pass {
			t.Errorf("demo case %q: %v %s", c.Name, err, r.Msg)
		}
	}
}

// TestDemoPolicyLint: the demo's clients connect from loopback to the TLS
// listener with certificates, which lint points out: they are never
// identified on the plain listener. Nothing else is risky.
func TestDemoPolicyLint(t *testing.T) {
	_, pp := filledDemoPolicy(t)
	out, errOut, code := runCLI(t, "policy", "lint", pp)
	if code != 0 || strings.TrimSpace(out) != "ok" {
		t.Fatalf("lint: code %d, out %q, err %q", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if len(lines) != 2 {
		t.Fatalf("want two warnings, got %q", errOut)
	}
	for i, name := range []string{"sync", "token-broker"} {
		if !strings.Contains(lines[i], `client "`+name+`" has identities`) || !strings.Contains(lines[i], "plain_listen") || !strings.Contains(lines[i], "warning:") {
			t.Errorf("warning %d: %q", i, lines[i])
		}
	}
}
