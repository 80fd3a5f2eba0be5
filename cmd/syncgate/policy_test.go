package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncgate/syncgate/internal/testpki"
)

// runCLI runs the root command in-process and returns stdout, stderr and
// the exit code main would use.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := newRootCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	err := cmd.Execute()
	code := 0
	if err != nil {
		code = 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		if err.Error() != "" {
			errb.WriteString(err.Error())
		}
	}
	return out.String(), errb.String(), code
}

// examplePolicy copies the shipped example policy and cases next to
// generated CA bundles and returns the directory.
func examplePolicy(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cas := filepath.Join(dir, "cas")
	if err := os.Mkdir(cas, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"microsoft", "google", "salesforce", "corp"} {
		testpki.NewCA(t, n).WriteCert(t, cas, n+".pem")
	}
	for _, n := range []string{"policy.yaml", "policy-cases.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "examples", n))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, n), string(data))
	}
	return dir
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPolicyLint(t *testing.T) {
	dir := examplePolicy(t)
	pp := filepath.Join(dir, "policy.yaml")

	out, errOut, code := runCLI(t, "policy", "lint", pp)
	if code != 0 || strings.TrimSpace(out) != "ok" || errOut != "" {
		t.Fatalf("lint example: code %d, out %q, err %q", code, out, errOut)
	}

	data, _ := os.ReadFile(pp)
	risky := strings.Replace(string(data), "mode: enforce", "mode: monitor", 1)
	risky = strings.Replace(risky, "google: {files: [cas/google.pem]}", "google: {system: true}", 1)
	risky = strings.Replace(risky, `paths: ["/token"]`, `paths: ["/**"]`, 1)
	writeFile(t, pp, risky)
	out, errOut, code = runCLI(t, "policy", "lint", pp)
	if code != 0 || strings.TrimSpace(out) != "ok" {
		t.Fatalf("lint risky: code %d, out %q, err %q", code, out, errOut)
	}
	for _, w := range []string{"monitor mode", `bundle "google" trusts every system root`, `"google-oauth": rule allows every path`, `"google-people" verifies upstream TLS against system roots`} {
		if !strings.Contains(errOut, w) {
			t.Errorf("warnings %q lack %q", errOut, w)
		}
	}

	// The first client's sources, and the line they are on.
	srcAt := strings.Index(string(data), `sources: ["10.20.0.0/16"]`)
	if srcAt < 0 {
		t.Fatal("example policy: first client's sources not found")
	}
	srcLine := strings.Count(string(data)[:srcAt], "\n") + 1
	bad := strings.Replace(string(data), `sources: ["10.20.0.0/16"]`, `sources: ["10.20.0.0/33"]`, 1)
	bad = strings.Replace(bad, "clients: [sync, sidecar]", "clients: [sync, sidecarr]", 1)
	writeFile(t, pp, bad)
	out, errOut, code = runCLI(t, "policy", "lint", pp)
	if code != 2 || out != "" {
		t.Fatalf("lint bad: code %d, out %q", code, out)
	}
	for _, want := range []string{fmt.Sprintf("%s:%d: clients[0].sources[0]: invalid CIDR", pp, srcLine), `unknown client "sidecarr"`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("errors %q lack %q", errOut, want)
		}
	}

	if _, _, code := runCLI(t, "policy", "lint", filepath.Join(dir, "missing.yaml")); code != 2 {
		t.Errorf("missing file: code %d", code)
	}
	if _, _, code := runCLI(t, "policy", "lint"); code != 2 {
		t.Errorf("no args: code %d", code)
	}
}

func TestPolicyTest(t *testing.T) {
	dir := examplePolicy(t)
	pp, cp := filepath.Join(dir, "policy.yaml"), filepath.Join(dir, "policy-cases.yaml")

	out, errOut, code := runCLI(t, "policy", "test", pp, cp)
	if code != 0 {
		t.Fatalf("example cases: code %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out, "FAIL") || !strings.Contains(out, " passed, 0 failed") || !strings.Contains(out, "PASS sync reads alice's contacts: allow (rule graph-read)") {
		t.Fatalf("output:\n%s", out)
	}

	writeFile(t, cp, `- {name: wrong, client: sync, source: 10.20.0.1, method: GET, url: "https://graph.microsoft.com/v1.0/users/bob@corp.example/contacts", subject: alice@corp.example, expect: allow}
- {name: right, client: sync, source: 10.20.0.1, method: GET, url: "https://graph.microsoft.com/v1.0/users/bob@corp.example/contacts", subject: alice@corp.example, expect: deny}
- {name: wrong rule, client: sync, source: 10.20.0.1, method: GET, url: "https://graph.microsoft.com/v1.0/users/alice@corp.example/contacts", subject: alice@corp.example, expect: allow, rule: graph-write}
`)
	out, _, code = runCLI(t, "policy", "test", pp, cp)
	if code != 1 {
		t.Fatalf("failing case: code %d\n%s", code, out)
	}
	for _, want := range []string{"FAIL wrong: expected allow, got deny (no rule allows method and path)", "PASS right: deny", `FAIL wrong rule: expected rule "graph-write", got "graph-read"`, "1 passed, 2 failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}

	for name, body := range map[string]string{
		"unknown field":  "- {name: a, client: sync, source: 10.20.0.1, method: GET, url: \"https://x.example/\", expect: deny, colour: red}\n",
		"bad expect":     "- {name: a, client: sync, source: 10.20.0.1, method: GET, url: \"https://x.example/\", expect: maybe}\n",
		"unknown client": "- {name: a, client: nobody, source: 10.20.0.1, method: GET, url: \"https://x.example/\", expect: deny}\n",
		"bad url":        "- {name: a, client: sync, source: 10.20.0.1, method: GET, url: \"x.example/a\", expect: deny}\n",
		"empty":          "",
	} {
		writeFile(t, cp, body)
		if out, errOut, code := runCLI(t, "policy", "test", pp, cp); code != 2 {
			t.Errorf("%s: code %d, out %q, err %q", name, code, out, errOut)
		}
	}
}

func TestPolicyExplain(t *testing.T) {
	dir := examplePolicy(t)
	pp := filepath.Join(dir, "policy.yaml")
	base := []string{"policy", "explain", pp, "--client", "sync", "--source", "10.20.1.1", "--method", "GET"}

	out, errOut, code := runCLI(t, append(base, "--url", "https://Graph.Microsoft.com/v1.0/users/alice@corp.example/contacts?$select=id", "--subject", "alice@corp.example")...)
	if code != 0 {
		t.Fatalf("allow: code %d, out %q, err %q", code, out, errOut)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %q", out)
	}
	want := map[string]any{"allow": true, "mode": "enforce", "would_deny": false, "rule": "graph-read", "reason": "allowed by rule",
		"destination": "graph", "client": "sync", "host": "graph.microsoft.com", "port": float64(443), "path": "/v1.0/users/alice@corp.example/contacts"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("keys %v, want exactly %v", got, want)
	}
	if strings.Contains(out, "$select") {
		t.Errorf("query string leaked into output: %s", out)
	}

	out, _, code = runCLI(t, append(base, "--url", "https://graph.microsoft.com/v1.0/users/bob@corp.example/contacts", "--subject", "alice@corp.example")...)
	if code != 3 || !strings.Contains(out, `"allow":false`) || !strings.Contains(out, `"reason":"no rule allows method and path"`) {
		t.Fatalf("deny: code %d, out %q", code, out)
	}

	out, _, code = runCLI(t, "policy", "explain", pp, "--client", "sync", "--source", "192.0.2.1", "--method", "GET", "--url", "https://graph.microsoft.com/v1.0/users/alice@corp.example/contacts", "--subject", "alice@corp.example")
	if code != 3 || !strings.Contains(out, `"reason":"source address not allowed for client"`) {
		t.Fatalf("source outside: code %d, out %q", code, out)
	}

	out, _, code = runCLI(t, append(base, "--url", "http://0x7f.1:443/")...)
	if code != 3 || !strings.Contains(out, `"host":"127.0.0.1"`) || !strings.Contains(out, `"reason":"no destination for host and port"`) {
		t.Fatalf("hex IP: code %d, out %q", code, out)
	}

	for name, args := range map[string][]string{
		"no url":         base,
		"bad url":        append(base, "--url", "graph.microsoft.com/x"),
		"bad host":       append(base, "--url", "https://a..b/x"),
		"unknown client": {"policy", "explain", pp, "--client", "ghost", "--source", "10.20.1.1", "--method", "GET", "--url", "https://graph.microsoft.com/"},
		"bad source":     {"policy", "explain", pp, "--client", "sync", "--source", "10.20.1", "--method", "GET", "--url", "https://graph.microsoft.com/"},
		"bad method":     {"policy", "explain", pp, "--client", "sync", "--source", "10.20.1.1", "--method", "G T", "--url", "https://graph.microsoft.com/"},
		"unknown flag":   append(base, "--url", "https://graph.microsoft.com/", "--colour", "red"),
		"bad policy":     {"policy", "explain", filepath.Join(dir, "missing.yaml"), "--client", "sync", "--source", "10.20.1.1", "--method", "GET", "--url", "https://graph.microsoft.com/"},
	} {
		if out, errOut, code := runCLI(t, args...); code != 2 {
			t.Errorf("%s: code %d, out %q, err %q", name, code, out, errOut)
		}
	}
}
