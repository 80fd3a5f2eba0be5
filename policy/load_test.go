package policy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// skeleton is a minimal valid policy; loader cases replace one line of it.
const skeleton = `version: 1
ca_bundles:
  ms: {files: [cas/ms.pem]}
clients:
  - name: sync
    sources: ["127.0.0.1/32"]
    subjects: ["*@corp.example"]
destinations:
  - name: graph
    hosts: [graph.microsoft.com]
    tls: {ca_bundle: ms}
    clients: [sync]
    rules:
      - methods: [GET]
        paths: ["/v1.0/**"]
`

func TestLoadSkeleton(t *testing.T) {
	e := mustEngine(t, skeleton)
	if e.Mode() != ModeEnforce {
		t.Errorf("mode = %q, want enforce", e.Mode())
	}
	d, ok := e.HostAllowed("graph.microsoft.com", 443, mustClient(t, e, "sync"))
	if !ok || d.Port != 443 || d.MinTLS != tls.VersionTLS12 || d.Roots == nil || d.SystemRoots {
		t.Fatalf("dest = %+v, %v", d, ok)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name      string
		old, new  string // replace old with new in skeleton ("" old: append new)
		line      int
		want      string
		atCompile bool // only Compile (which reads CA files) finds it
	}{
		{name: "unknown top field", new: "colour: red\n", line: 16, want: "field colour not found"},
		{name: "unknown client field", old: `    subjects: [`, new: `    subject: [`, line: 7, want: "field subject not found"},
		{name: "unknown tls field", old: `{ca_bundle: ms}`, new: `{ca_bundle: ms, pins: []}`, line: 11, want: "field pins not found"},
		{name: "version", old: "version: 1", new: "version: 2", line: 1, want: "version must be 1"},
		{name: "no version", old: "version: 1\n", new: "\n", line: 0, want: "version must be 1"},
		{name: "mode", old: "version: 1\n", new: "version: 1\nmode: audit\n", line: 2, want: "mode must be enforce or monitor"},
		{name: "unknown bundle", old: `{ca_bundle: ms}`, new: `{ca_bundle: msx}`, line: 11, want: `unknown CA bundle "msx"`},
		{name: "no bundle", old: `{ca_bundle: ms}`, new: `{min_version: "1.2"}`, line: 11, want: "ca_bundle required"},
		{name: "bundle without files", old: `{files: [cas/ms.pem]}`, new: `{files: []}`, line: 3, want: "no files"},
		{name: "bundle files and system", old: `{files: [cas/ms.pem]}`, new: `{files: [cas/ms.pem], system: true}`, line: 3, want: "exclusive"},
		{name: "unknown client", old: `clients: [sync]`, new: `clients: [sync, nobody]`, line: 12, want: `unknown client "nobody"`},
		{name: "bad cidr", old: `"127.0.0.1/32"`, new: `"127.0.0.1/33"`, line: 6, want: "invalid CIDR"},
		{name: "cidr host bits", old: `"127.0.0.1/32"`, new: `"10.20.1.0/16"`, line: 6, want: "host bits set"},
		{name: "cidr garbage", old: `"127.0.0.1/32"`, new: `"localhost"`, line: 6, want: "invalid CIDR"},
		{name: "no sources", old: `    sources: ["127.0.0.1/32"]`, new: `    sources: []`, line: 6, want: "at least one source"},
		{name: "bad glob", old: `"*@corp.example"`, new: `"a b@corp.example"`, line: 7, want: "not allowed in subject glob"},
		{name: "glob double star", old: `"*@corp.example"`, new: `"**@corp.example"`, line: 7, want: "** is not a subject glob"},
		{name: "bad method", old: `[GET]`, new: `[G3T]`, line: 14, want: `invalid method "G3T"`},
		{name: "no methods", old: `[GET]`, new: `[]`, line: 14, want: "at least one method"},
		{name: "rest not last", old: `"/v1.0/**"`, new: `"/v1.0/**/x"`, line: 15, want: "** only as the last segment"},
		{name: "relative pattern", old: `"/v1.0/**"`, new: `"v1.0/**"`, line: 15, want: "must start with /"},
		{name: "dot pattern", old: `"/v1.0/**"`, new: `"/v1.0/../x"`, line: 15, want: "invalid path pattern"},
		{name: "partial wildcard", old: `"/v1.0/**"`, new: `"/v1.0/me*"`, line: 15, want: "invalid path pattern"},
		{name: "unknown placeholder", old: `"/v1.0/**"`, new: `"/v1.0/{user}"`, line: 15, want: "invalid path pattern"},
		{name: "bad pin", old: `{ca_bundle: ms}`, new: `{ca_bundle: ms, spki_pins: ["abc"]}`, line: 11, want: "pin must be base64"},
		{name: "short pin", old: `{ca_bundle: ms}`, new: `{ca_bundle: ms, spki_pins: ["AAAA"]}`, line: 11, want: "pin must be base64"},
		{name: "tls 1.1", old: `{ca_bundle: ms}`, new: `{ca_bundle: ms, min_version: "1.1"}`, line: 11, want: "min_version"},
		{name: "bad host", old: `[graph.microsoft.com]`, new: `[graph..microsoft.com]`, line: 10, want: "invalid host"},
		{name: "wildcard inside", old: `[graph.microsoft.com]`, new: `["graph.*.com"]`, line: 10, want: "invalid host"},
		{name: "wildcard tld", old: `[graph.microsoft.com]`, new: `["*.com"]`, line: 10, want: "at least two labels"},
		{name: "bad port", old: "    clients: [sync]\n", new: "    port: 70000\n    clients: [sync]\n", line: 12, want: "port 70000 out of range"},
		{name: "port type", old: "    clients: [sync]\n", new: "    port: https\n    clients: [sync]\n", line: 12, want: "cannot unmarshal"},
		{name: "no rules", old: "    rules:\n      - methods: [GET]\n        paths: [\"/v1.0/**\"]\n", new: "", line: 9, want: "no rules"},
		{name: "duplicate client", new: "  - name: sync\n    sources: [\"127.0.0.2/32\"]\ndestinations:\n", old: "destinations:\n", line: 8, want: `duplicate client "sync"`},
		{name: "two identity kinds", old: `    sources: ["127.0.0.1/32"]`, new: `    identities: [{uri: "spiffe://x/y", cn: y}]` + "\n" + `    sources: ["127.0.0.1/32"]`, line: 6, want: "exactly one of uri, dns, cn"},
		{name: "duplicate key", old: "version: 1\n", new: "version: 1\nversion: 1\n", line: 2, want: "already defined"},
		{name: "syntax", old: "version: 1\n", new: "version: [1\n", line: 0, want: ""},
		{name: "ews bad op", old: "    rules:\n      - methods: [GET]\n        paths: [\"/v1.0/**\"]\n", new: "    ews: {operations: [Sync-Items], folders: [contacts]}\n", line: 13, want: `invalid operation "Sync-Items"`},
		{name: "duplicate rule id", old: "      - methods: [GET]\n", new: "      - {id: r, methods: [GET], paths: [/a]}\n      - id: r\n        methods: [GET]\n", line: 15, want: `duplicate rule id "r"`},
		{name: "missing CA file", old: `cas/ms.pem`, new: `cas/missing.pem`, line: 3, want: "no such file", atCompile: true},
		{name: "CA file without certificate", old: `cas/ms.pem`, new: `cas/empty.pem`, line: 3, want: "no certificate", atCompile: true},
		{name: "CA file with a key", old: `cas/ms.pem`, new: `cas/key.pem`, line: 3, want: "unexpected PEM block", atCompile: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := skeleton + tt.new
			if tt.old != "" {
				if !strings.Contains(skeleton, tt.old) {
					t.Fatalf("skeleton has no %q", tt.old)
				}
				body = strings.Replace(skeleton, tt.old, tt.new, 1)
			}
			path := writePolicy(t, body)
			dir := filepath.Dir(path)
			if err := os.WriteFile(filepath.Join(dir, "cas", "empty.pem"), []byte("# nothing\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "cas", "key.pem"), []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			p, err := Load(path)
			if tt.atCompile {
				if err != nil {
					t.Fatalf("Load: %v (want it to pass and Compile to fail)", err)
				}
				_, err = Compile(p)
			}
			if err == nil {
				t.Fatal("no error")
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error %T is not an ErrorList: %v", err, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not contain %q", msg, tt.want)
			}
			prefix := path + ":"
			if tt.line > 0 {
				prefix = fmt.Sprintf("%s:%d: ", path, tt.line)
			}
			if !strings.HasPrefix(msg, prefix) {
				t.Errorf("error %q does not start with %q", msg, prefix)
			}
		})
	}
}

func TestLoadRejectsDocuments(t *testing.T) {
	for name, body := range map[string]string{
		"empty":      "",
		"comment":    "# nothing\n",
		"two docs":   skeleton + "---\nversion: 1\n",
		"list":       "- a\n",
		"scalar":     "hello\n",
		"no version": "clients: ~\ndestinations: ~\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(body), "p.yaml"); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestRelativeBundlePaths(t *testing.T) {
	// Load from another working directory: bundles resolve against the
	// policy file, not the process.
	path := writePolicy(t, skeleton)
	wd, _ := os.Getwd()
	t.Chdir(t.TempDir())
	defer func() { _ = os.Chdir(wd) }()
	p, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.Dir != filepath.Dir(path) || p.File != path {
		t.Errorf("Dir, File = %q, %q", p.Dir, p.File)
	}
	if _, err := Compile(p); err != nil {
		t.Fatalf("Compile from another directory: %v", err)
	}
}

func TestCompileInCode(t *testing.T) {
	// A Policy built in code (no file, no lines) is validated the same way.
	p := &Policy{Version: 1, Clients: []Client{{Name: "c", Sources: []string{"10.0.0.0/8"}}},
		Destinations: []Destination{{Name: "d", Hosts: []string{"h.example"}, TLS: TLSPolicy{CABundle: "nope"}, Clients: []string{"c"},
			Rules: []Rule{{Methods: []string{"GET"}, Paths: []string{"/"}}}}}}
	_, err := Compile(p)
	if err == nil || !strings.Contains(err.Error(), `policy: destinations[0].tls.ca_bundle: unknown CA bundle "nope"`) {
		t.Fatalf("err = %v", err)
	}
	if _, err := Compile(nil); err == nil {
		t.Fatal("Compile(nil) succeeded")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(skeleton))
	f.Add([]byte(basePolicy))
	f.Add([]byte("version: 1\nclients: [{name: a, sources: [\"::/0\"]}]\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("version: 1\ndestinations: [{name: d, hosts: [\"*.a.b\"], ews: {}}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, "fuzz.yaml")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		// Whatever parses must compile (no CA files exist here, so only
		// file errors are allowed) and decide without panicking.
		e, errs := compile(p, false)
		if len(errs) > 0 {
			t.Fatalf("Parse accepted what compile rejects: %v", errs)
		}
		for i := range e.clients {
			c := ClientID{Name: e.clients[i].name, Index: i}
			e.Decide(&Request{Client: c, Method: "GET", Host: "graph.microsoft.com", Port: 443, Path: "/v1.0/users/a@b/contacts"})
		}
	})
}
