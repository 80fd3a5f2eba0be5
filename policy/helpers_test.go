package policy

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/syncgate/syncgate/internal/testpki"
)

// basePolicy is the fixture most tests use. Line numbers matter to the
// loader tests only through their own inputs, not this one.
const basePolicy = `version: 1
mode: enforce
ca_bundles:
  ms: {files: [cas/ms.pem]}
  corp: {files: [cas/corp.pem, cas/ms.pem]}
  sys: {system: true}
clients:
  - name: sync
    identities: [{uri: "spiffe://corp.example/sync"}, {cn: sync-engine}]
    sources: ["127.0.0.1/32", "10.20.0.0/16"]
    subjects: ["*@corp.example"]
  - name: sidecar
    sources: ["127.0.0.1"]
    subjects: ["*@corp.example"]
  - name: admin
    identities: [{dns: admin.corp.example}]
    sources: ["10.9.0.0/16"]
    subjects: ["admin@corp.example"]
  - name: sync-dr
    identities: [{uri: "spiffe://corp.example/sync"}]
    sources: ["192.0.2.0/24"]
    subjects: ["*@corp.example"]
destinations:
  - name: graph
    hosts: [graph.microsoft.com]
    tls: {ca_bundle: ms, spki_pins: ["47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="]}
    credential: graph-app
    clients: [sync, sidecar]
    rules:
      - id: graph-read
        methods: [GET]
        paths: ["/v1.0/users/{subject}/contacts/**", "/v1.0/users/{subject}/calendarView/delta"]
      - methods: [post, PATCH, DELETE]
        paths: ["/v1.0/users/{subject}/contacts/*"]
      - methods: [GET]
        paths: ["/v1.0/$metadata"]
  - name: graph-admin
    hosts: [graph.microsoft.com]
    tls: {ca_bundle: ms}
    clients: [admin]
    rules: [{methods: [GET], paths: ["/v1.0/organization"]}]
  - name: sites
    hosts: ["*.sharepoint.example", "root.example"]
    port: 8443
    tls: {ca_bundle: sys, min_version: "1.3"}
    clients: [sync]
    rules: [{methods: [GET], paths: ["/sites/*/lists"]}]
  - name: exchange
    hosts: [mail.corp.example]
    tls: {ca_bundle: corp}
    credential: ews-service
    clients: [sync]
    ews: {operations: [SyncFolderItems, GetItem], folders: [contacts, Calendar]}
`

// writePolicy writes body as dir/policy.yaml next to freshly generated CA
// bundles cas/ms.pem and cas/corp.pem, and returns the policy path.
func writePolicy(t testing.TB, body string) string {
	t.Helper()
	dir := t.TempDir()
	cas := filepath.Join(dir, "cas")
	if err := os.Mkdir(cas, 0o755); err != nil {
		t.Fatal(err)
	}
	testpki.NewCA(t, "ms root").WriteCert(t, cas, "ms.pem")
	testpki.NewCA(t, "corp root").WriteCert(t, cas, "corp.pem")
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// mustEngine loads and compiles body.
func mustEngine(t testing.TB, body string) *Engine {
	t.Helper()
	p, err := Load(writePolicy(t, body))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	e, err := Compile(p)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return e
}

func mustClient(t testing.TB, e *Engine, name string) ClientID {
	t.Helper()
	c, ok := e.ClientByName(name)
	if !ok {
		t.Fatalf("no client %q", name)
	}
	return c
}
