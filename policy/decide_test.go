package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestIdentify(t *testing.T) {
	e := mustEngine(t, basePolicy)
	ip := netip.MustParseAddr
	tests := []struct {
		name     string
		peer     Peer
		want     string // client name; "" for an error
		identity string
		err      error
	}{
		{name: "uri", peer: Peer{HasCert: true, URIs: []string{"spiffe://corp.example/sync"}, Source: ip("10.20.1.2")}, want: "sync", identity: "uri:spiffe://corp.example/sync"},
		{name: "cn", peer: Peer{HasCert: true, CN: "sync-engine", Source: ip("127.0.0.1")}, want: "sync", identity: "cn:sync-engine"},
		{name: "dns", peer: Peer{HasCert: true, DNSNames: []string{"x.example", "admin.corp.example"}, Source: ip("10.9.3.4")}, want: "admin", identity: "dns:admin.corp.example"},
		{name: "mapped source", peer: Peer{HasCert: true, CN: "sync-engine", Source: ip("::ffff:10.20.0.9")}, want: "sync"},
		{name: "cert source outside", peer: Peer{HasCert: true, CN: "sync-engine", Source: ip("10.21.0.1")}, err: ErrSourceDenied},
		{name: "same identity second client by source", peer: Peer{HasCert: true, URIs: []string{"spiffe://corp.example/sync"}, Source: ip("192.0.2.7")}, want: "sync-dr"},
		{name: "identity case differs", peer: Peer{HasCert: true, CN: "Sync-Engine", Source: ip("127.0.0.1")}, err: ErrUnidentified},
		{name: "uri prefix only", peer: Peer{HasCert: true, URIs: []string{"spiffe://corp.example/sync/x"}, Source: ip("127.0.0.1")}, err: ErrUnidentified},
		{name: "dns in CN does not count as dns", peer: Peer{HasCert: true, CN: "admin.corp.example", Source: ip("10.9.3.4")}, err: ErrUnidentified},
		{name: "unknown cert on plain listener", peer: Peer{HasCert: true, CN: "stranger", Source: ip("127.0.0.1"), Plain: true}, err: ErrUnidentified},
		{name: "plain by source", peer: Peer{Source: ip("127.0.0.1"), Plain: true}, want: "sidecar", identity: "source:127.0.0.1"},
		{name: "plain mapped", peer: Peer{Source: ip("::ffff:127.0.0.1"), Plain: true}, want: "sidecar", identity: "source:127.0.0.1"},
		{name: "plain other source", peer: Peer{Source: ip("127.0.0.2"), Plain: true}, err: ErrUnidentified},
		{name: "no cert on TLS listener", peer: Peer{Source: ip("127.0.0.1")}, err: ErrUnidentified},
		{name: "no source", peer: Peer{Plain: true}, err: ErrUnidentified},
		{name: "empty cert", peer: Peer{HasCert: true, Source: ip("127.0.0.1")}, err: ErrUnidentified},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := e.Identify(&tt.peer)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Identify = %+v, %v; want %v", c, err, tt.err)
				}
				// A source denial names the client for the audit record.
				if errors.Is(err, ErrSourceDenied) && c.Name == "" {
					t.Errorf("source denial without the client name: %+v", c)
				}
				if errors.Is(err, ErrUnidentified) && c.Name != "" {
					t.Errorf("unidentified peer named %q", c.Name)
				}
				return
			}
			if err != nil || c.Name != tt.want {
				t.Fatalf("Identify = %+v, %v; want %s", c, err, tt.want)
			}
			if tt.identity != "" && c.Identity != tt.identity {
				t.Errorf("identity = %q, want %q", c.Identity, tt.identity)
			}
			if e.clients[c.Index].name != c.Name {
				t.Errorf("index %d does not name %s", c.Index, c.Name)
			}
		})
	}
	if _, err := e.Identify(nil); !errors.Is(err, ErrUnidentified) {
		t.Errorf("Identify(nil) = %v", err)
	}
}

func TestDecide(t *testing.T) {
	e := mustEngine(t, basePolicy)
	sync := mustClient(t, e, "sync")
	sidecar := mustClient(t, e, "sidecar")
	admin := mustClient(t, e, "admin")
	const graph = "graph.microsoft.com"
	const alice = "alice@corp.example"
	tests := []struct {
		name   string
		r      Request
		rule   string // "" for a deny
		reason string
		dest   string
	}{
		{name: "read contacts", r: Request{Client: sync, Method: "GET", Host: graph, Port: 443, Path: "/v1.0/users/alice@corp.example/contacts", Subject: alice}, rule: "graph-read", dest: "graph"},
		{name: "read contact deep", r: Request{Client: sync, Method: "GET", Host: graph, Port: 443, Path: "/v1.0/users/alice%40corp.example/contacts/abc/photo", Subject: alice}, rule: "graph-read", dest: "graph"},
		{name: "subject case", r: Request{Client: sidecar, Method: "GET", Host: graph, Port: 443, Path: "/v1.0/users/Alice@Corp.Example/calendarView/delta", Subject: alice}, rule: "graph-read", dest: "graph"},
		{name: "method lower case", r: Request{Client: sync, Method: "get", Host: graph, Port: 443, Path: "/v1.0/$metadata"}, rule: "graph#2", dest: "graph"},
		{name: "policy method lower case", r: Request{Client: sync, Method: "POST", Host: graph, Port: 443, Path: "/v1.0/users/alice@corp.example/contacts/1", Subject: alice}, rule: "graph#1", dest: "graph"},
		{name: "no subject needed", r: Request{Client: sync, Method: "GET", Host: graph, Port: 443, Path: "/v1.0/$metadata", Subject: alice}, rule: "graph#2", dest: "graph"},
		{name: "other user's contacts", r: Request{Client: sync, Method: "GET", Host: graph, Port: 443, Path: "/v1.0/users/bob@corp.example/contacts", Subject: alice}, reason: ReasonNoRule, dest: "graph"},
		{name: "subject outside client's globs", r: Request{Client: sync, Method: "GET", Host: graph, Port: 443, Path: "/v1.0/users/eve@evil.example/contacts", Subject: "eve@evil.example"}, reason: ReasonSubjectNotAllowed, dest: "graph"},
		{name: "subject with slash", r: Request{Client: sync, Method: "GET", Host: graph, Port: 443, Path: "/v1.0/users/a/contacts", Subject: "a/b@corp.example"}, reason: ReasonSubjectInvalid, dest: "graph"},
		{name: "subject glob", r: Request{Client: sync, Method: "GET", Host: graph, Port: 443, Path: "/v1.0/users/*@corp.example/contacts", Subject: "*@corp.example"}, reason: ReasonSubjectInvalid, dest: "graph"},
		{name: "subject with Kelvin sign", r: Request{Client: sync, Method: "GET", Host: graph, Port: 443, Path: "/v1.0/users/kate@corp.example/contacts", Subject: "\u212Aate@corp.example"}, reason: ReasonNoRule, dest: "graph"},
		{name: "subject required", r: Request{Client: sync, Method: "GET", Host: graph, Port: 443, Path: "/v1.0/users/alice@corp.example/contacts"}, reason: ReasonSubjectRequired, dest: "graph"},
		{name: "subject required for write", r: Request{Client: sync, Method: "DELETE", Host: graph, Port: 443, Path: "/v1.0/users/alice@corp.example/contacts/1"}, reason: ReasonSubjectRequired, dest: "graph"},
		{name: "no rule without subject", r: Request{Client: sync, Method: "GET", Host: graph, Port: 443, Path: "/v1.0/users/alice@corp.example/messages"}, reason: ReasonNoRule, dest: "graph"},
		{name: "method not listed", r: Request{Client: sync, Method: "PUT", Host: graph, Port: 443, Path: "/v1.0/users/alice@corp.example/contacts/1", Subject: alice}, reason: ReasonNoRule, dest: "graph"},
		{name: "star is one segment", r: Request{Client: sync, Method: "PATCH", Host: graph, Port: 443, Path: "/v1.0/users/alice@corp.example/contacts/1/extensions", Subject: alice}, reason: ReasonNoRule, dest: "graph"},
		{name: "dot dot", r: Request{Client: sync, Method: "GET", Host: graph, Port: 443, Path: "/v1.0/users/alice@corp.example/contacts/../../bob@corp.example/messages", Subject: alice}, reason: ReasonBadPath, dest: "graph"},
		{name: "encoded dot dot", r: Request{Client: sync, Method: "GET", Host: graph, Port: 443, Path: "/v1.0/users/alice@corp.example/contacts/%2e%2e/x", Subject: alice}, reason: ReasonBadPath, dest: "graph"},
		{name: "encoded slash", r: Request{Client: sync, Method: "GET", Host: graph, Port: 443, Path: "/v1.0/users/alice@corp.example%2fcontacts", Subject: alice}, reason: ReasonBadPath, dest: "graph"},
		{name: "double slash", r: Request{Client: sync, Method: "GET", Host: graph, Port: 443, Path: "/v1.0//users/alice@corp.example/contacts", Subject: alice}, reason: ReasonBadPath, dest: "graph"},
		{name: "semicolon", r: Request{Client: sync, Method: "GET", Host: graph, Port: 443, Path: "/v1.0/users/alice@corp.example/contacts;x", Subject: alice}, reason: ReasonBadPath, dest: "graph"},
		{name: "unknown host", r: Request{Client: sync, Method: "GET", Host: "evil.example", Port: 443, Path: "/"}, reason: ReasonNoDestination},
		{name: "right host wrong port", r: Request{Client: sync, Method: "GET", Host: graph, Port: 8443, Path: "/v1.0/$metadata"}, reason: ReasonNoDestination},
		{name: "host suffix is not host", r: Request{Client: sync, Method: "GET", Host: "x.graph.microsoft.com", Port: 443, Path: "/v1.0/$metadata"}, reason: ReasonNoDestination},
		{name: "client not listed", r: Request{Client: admin, Method: "GET", Host: "mail.corp.example", Port: 443, Path: "/EWS/Exchange.asmx"}, reason: ReasonClientNotAllowed, dest: "exchange"},
		{name: "same host other destination", r: Request{Client: admin, Method: "GET", Host: graph, Port: 443, Path: "/v1.0/organization"}, rule: "graph-admin#0", dest: "graph-admin"},
		{name: "same host, other destination's rules do not leak", r: Request{Client: sync, Method: "GET", Host: graph, Port: 443, Path: "/v1.0/organization"}, reason: ReasonNoRule, dest: "graph"},
		{name: "wildcard one label", r: Request{Client: sync, Method: "GET", Host: "team.sharepoint.example", Port: 8443, Path: "/sites/a/lists"}, rule: "sites#0", dest: "sites"},
		{name: "wildcard two labels", r: Request{Client: sync, Method: "GET", Host: "a.team.sharepoint.example", Port: 8443, Path: "/sites/a/lists"}, reason: ReasonNoDestination},
		{name: "wildcard apex", r: Request{Client: sync, Method: "GET", Host: "sharepoint.example", Port: 8443, Path: "/sites/a/lists"}, reason: ReasonNoDestination},
		{name: "wildcard default port", r: Request{Client: sync, Method: "GET", Host: "team.sharepoint.example", Port: 443, Path: "/sites/a/lists"}, reason: ReasonNoDestination},
		{name: "second exact host", r: Request{Client: sync, Method: "GET", Host: "root.example", Port: 8443, Path: "/sites/a/lists"}, rule: "sites#0", dest: "sites"},
		{name: "ews implicit rule", r: Request{Client: sync, Method: "POST", Host: "mail.corp.example", Port: 443, Path: "/EWS/Exchange.asmx"}, rule: "exchange#0", dest: "exchange"},
		{name: "ews other path", r: Request{Client: sync, Method: "POST", Host: "mail.corp.example", Port: 443, Path: "/owa/"}, reason: ReasonNoRule, dest: "exchange"},
		{name: "ews GET", r: Request{Client: sync, Method: "GET", Host: "mail.corp.example", Port: 443, Path: "/EWS/Exchange.asmx"}, reason: ReasonNoRule, dest: "exchange"},
		{name: "unknown client index", r: Request{Client: ClientID{Name: "sync", Index: 7}, Method: "GET", Host: graph, Port: 443, Path: "/v1.0/$metadata"}, reason: ReasonUnknownClient},
		{name: "client name mismatch", r: Request{Client: ClientID{Name: "admin", Index: sync.Index}, Method: "GET", Host: graph, Port: 443, Path: "/v1.0/$metadata"}, reason: ReasonUnknownClient},
		{name: "zero client", r: Request{Method: "GET", Host: graph, Port: 443, Path: "/v1.0/$metadata"}, reason: ReasonUnknownClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.Decide(&tt.r)
			if d.Mode != ModeEnforce || d.WouldDeny {
				t.Errorf("mode %q, would_deny %v", d.Mode, d.WouldDeny)
			}
			if tt.rule != "" {
				if !d.Allow || d.Rule != tt.rule || d.Reason != ReasonAllowed {
					t.Fatalf("Decide = %+v; want allow by %s", d, tt.rule)
				}
			} else if d.Allow || d.Rule != "" || d.Reason != tt.reason {
				t.Fatalf("Decide = %+v; want deny %q", d, tt.reason)
			}
			got := ""
			if d.Dest != nil {
				got = d.Dest.Name
			}
			if got != tt.dest {
				t.Errorf("dest = %q, want %q", got, tt.dest)
			}
			if strings.Contains(d.Reason, "alice") || strings.Contains(d.Reason, "/v1.0") {
				t.Errorf("reason %q carries request values", d.Reason)
			}
		})
	}
}

func TestDecideMonitor(t *testing.T) {
	e := mustEngine(t, strings.Replace(basePolicy, "mode: enforce", "mode: monitor", 1))
	if e.Mode() != ModeMonitor {
		t.Fatalf("mode %q", e.Mode())
	}
	sync := mustClient(t, e, "sync")
	d := e.Decide(&Request{Client: sync, Method: "GET", Host: "graph.microsoft.com", Port: 443, Path: "/v1.0/users/bob@corp.example/messages", Subject: "alice@corp.example"})
	if !d.Allow || !d.WouldDeny || d.Reason != ReasonNoRule || d.Rule != "" || d.Mode != ModeMonitor {
		t.Fatalf("monitor deny = %+v", d)
	}
	d = e.Decide(&Request{Client: sync, Method: "GET", Host: "graph.microsoft.com", Port: 443, Path: "/v1.0/$metadata"})
	if !d.Allow || d.WouldDeny || d.Rule != "graph#2" {
		t.Fatalf("monitor allow = %+v", d)
	}
	// An invalid client is a caller bug; monitor mode does not let it through.
	d = e.Decide(&Request{Client: ClientID{Name: "ghost", Index: 0}, Method: "GET", Host: "graph.microsoft.com", Port: 443, Path: "/v1.0/$metadata"})
	if d.Allow {
		t.Fatalf("monitor allowed an unknown client: %+v", d)
	}
}

func TestHostAllowed(t *testing.T) {
	e := mustEngine(t, basePolicy)
	sync, admin, sidecar := mustClient(t, e, "sync"), mustClient(t, e, "admin"), mustClient(t, e, "sidecar")
	tests := []struct {
		host string
		port int
		c    ClientID
		dest string
	}{
		{"graph.microsoft.com", 443, sync, "graph"},
		{"graph.microsoft.com", 443, admin, "graph-admin"},
		{"graph.microsoft.com", 8443, sync, ""},
		{"mail.corp.example", 443, sync, "exchange"},
		{"mail.corp.example", 443, sidecar, ""},
		{"a.sharepoint.example", 8443, sync, "sites"},
		{"a.b.sharepoint.example", 8443, sync, ""},
		{"evil.example", 443, sync, ""},
		{"graph.microsoft.com", 443, ClientID{Name: "nobody", Index: 0}, ""},
	}
	for _, tt := range tests {
		d, ok := e.HostAllowed(tt.host, tt.port, tt.c)
		got := ""
		if ok {
			got = d.Name
		}
		if got != tt.dest || ok != (tt.dest != "") {
			t.Errorf("HostAllowed(%s, %d, %s) = %q, %v; want %q", tt.host, tt.port, tt.c.Name, got, ok, tt.dest)
		}
	}
	d, _ := e.HostAllowed("graph.microsoft.com", 443, sync)
	if len(d.Pins) != 1 || d.Credential != "graph-app" || d.CABundle != "ms" || d.Roots == nil {
		t.Errorf("graph dest = %+v", d)
	}
	d, _ = e.HostAllowed("a.sharepoint.example", 8443, sync)
	if !d.SystemRoots || d.Roots != nil {
		t.Errorf("system roots dest = %+v", d)
	}
	d, _ = e.HostAllowed("mail.corp.example", 443, sync)
	if d.EWS == nil || d.EWS.Path != DefaultEWSPath {
		t.Errorf("ews dest = %+v", d)
	}
}

func TestDecideDoesNotAllocate(t *testing.T) {
	e := mustEngine(t, basePolicy)
	sync := mustClient(t, e, "sync")
	reqs := []Request{
		{Client: sync, Method: "GET", Host: "graph.microsoft.com", Port: 443, Path: "/v1.0/users/alice%40corp.example/contacts/x", Subject: "alice@corp.example"},
		{Client: sync, Method: "get", Host: "graph.microsoft.com", Port: 443, Path: "/v1.0/users/alice@corp.example/contacts"},
		{Client: sync, Method: "GET", Host: "team.sharepoint.example", Port: 8443, Path: "/sites/a/lists"},
		{Client: sync, Method: "GET", Host: "evil.example", Port: 443, Path: "/"},
		{Client: sync, Method: "GET", Host: "graph.microsoft.com", Port: 443, Path: "/a/%2e%2e/b"},
	}
	for i := range reqs {
		r := &reqs[i]
		if n := testing.AllocsPerRun(100, func() { e.Decide(r) }); n != 0 {
			t.Errorf("Decide(%s) allocates %v times", r.Path, n)
		}
	}
}

// benchPolicy generates hosts×rules destinations with mixed pattern kinds.
func benchPolicy(hosts, rules int) string {
	var b strings.Builder
	b.WriteString("version: 1\nca_bundles:\n  ms: {files: [cas/ms.pem]}\nclients:\n")
	b.WriteString("  - {name: sync, sources: [\"10.0.0.0/8\"], subjects: [\"*@corp.example\"]}\n")
	b.WriteString("  - {name: other, sources: [\"10.0.0.0/8\"], subjects: [\"*@corp.example\"]}\n")
	b.WriteString("destinations:\n")
	for h := 0; h < hosts; h++ {
		fmt.Fprintf(&b, "  - name: d%d\n    hosts: [api%d.example.com]\n    tls: {ca_bundle: ms}\n    clients: [sync]\n    rules:\n", h, h)
		for r := 0; r < rules; r++ {
			var p string
			switch r % 4 {
			case 0:
				p = fmt.Sprintf("/v1/r%d/items", r)
			case 1:
				p = fmt.Sprintf("/v1/r%d/*/detail", r)
			case 2:
				p = fmt.Sprintf("/v1/r%d/**", r)
			case 3:
				p = fmt.Sprintf("/v1/users/{subject}/r%d/**", r)
			}
			fmt.Fprintf(&b, "      - {methods: [GET, POST], paths: [%q]}\n", p)
		}
	}
	return b.String()
}

func BenchmarkDecide(b *testing.B) {
	const hosts, rules = 1000, 10
	e := mustEngine(b, benchPolicy(hosts, rules))
	sync := mustClient(b, e, "sync")
	other := mustClient(b, e, "other")
	var reqs []Request
	for h := 0; h < hosts; h += 37 {
		host := fmt.Sprintf("api%d.example.com", h)
		reqs = append(reqs,
			Request{Client: sync, Method: "GET", Host: host, Port: 443, Path: "/v1/r0/items"},                                                         // allow, first rule
			Request{Client: sync, Method: "POST", Host: host, Port: 443, Path: "/v1/r6/x/y/z"},                                                        // allow ** late
			Request{Client: sync, Method: "GET", Host: host, Port: 443, Path: "/v1/users/alice%40corp.example/r7/a/b", Subject: "alice@corp.example"}, // allow {subject}, decoding
			Request{Client: sync, Method: "GET", Host: host, Port: 443, Path: "/v1/r5/abc/detail"},                                                    // allow *
			Request{Client: sync, Method: "DELETE", Host: host, Port: 443, Path: "/v1/r0/items"},                                                      // deny: method, scans all rules
			Request{Client: sync, Method: "GET", Host: host, Port: 443, Path: "/v2/none"},                                                             // deny: no rule
			Request{Client: sync, Method: "GET", Host: host, Port: 443, Path: "/v1/users/bob@corp.example/r3/x", Subject: "alice@corp.example"},       // deny: other user
			Request{Client: sync, Method: "GET", Host: host, Port: 443, Path: "/v1/r2/%2e%2e/x"},                                                      // deny: path
			Request{Client: other, Method: "GET", Host: host, Port: 443, Path: "/v1/r0/items"},                                                        // deny: client
			Request{Client: sync, Method: "GET", Host: "unknown" + host, Port: 443, Path: "/v1/r0/items"},                                             // deny: host
		)
	}
	allowed := 0
	for i := range reqs {
		if e.Decide(&reqs[i]).Allow {
			allowed++
		}
	}
	if allowed != len(reqs)*4/10 {
		b.Fatalf("benchmark mix: %d of %d allowed, want 40%%", allowed, len(reqs))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.Decide(&reqs[i%len(reqs)])
	}
}
