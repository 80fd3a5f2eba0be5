package proxy_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/syncgate/syncgate/internal/testpki"
	"github.com/syncgate/syncgate/proxy"
)

func TestGuardRefusesEveryInternalRange(t *testing.T) {
	g := proxy.NewGuard(nil, nil, "")
	denied := []string{
		"127.0.0.1", "127.255.255.254", "0.0.0.0", "0.1.2.3",
		"10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"100.64.0.1", "100.127.255.254",
		"169.254.169.254", "169.254.0.1",
		"224.0.0.1", "239.255.255.250", "255.255.255.255", "240.0.0.1",
		"198.18.0.1", "192.0.2.1",
		"::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "fec0::1", "ff02::1",
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:8.8.8.8",
		"64:ff9b::a00:1", "64:ff9b::808:808", "64:ff9b:1::1",
		"2002:a00:1::1", "2002:808:808::1",
		"2001:0:4136:e378:8000:63bf:3fff:fdd2",
		"::127.0.0.1",
	}
	for _, s := range denied {
		t.Run(s, func(t *testing.T) {
			a := netip.MustParseAddr(s)
			if g.Permitted(a) {
				t.Fatalf("%s permitted", s)
			}
			if _, err := g.Resolve(context.Background(), a.String(), 443); !errors.Is(err, proxy.ErrSSRF) {
				t.Fatalf("Resolve(%s) = %v, want ErrSSRF", s, err)
			}
		})
	}
	for _, s := range []string{"8.8.8.8", "1.1.1.1", "20.190.128.1", "2606:4700::1111", "2a00:1450:4001::1"} {
		if !g.Permitted(netip.MustParseAddr(s)) {
			t.Errorf("public %s refused", s)
		}
	}
}

func TestGuardAllowRangesAndStaticHosts(t *testing.T) {
	allow := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}
	hosts := map[string]netip.AddrPort{
		"mail.corp.example":  netip.MustParseAddrPort("10.1.2.3:443"),
		"other.corp.example": netip.MustParseAddrPort("10.9.9.9:443"),
	}
	g := proxy.NewGuard(allow, hosts, "")
	ap, err := g.Resolve(context.Background(), "mail.corp.example", 443)
	if err != nil || ap.String() != "10.1.2.3:443" {
		t.Fatalf("static host: %v %v", ap, err)
	}
	if _, err := g.Resolve(context.Background(), "other.corp.example", 443); !errors.Is(err, proxy.ErrSSRF) {
		t.Fatalf("static host outside allow_ranges: %v", err)
	}
	if _, err := g.Resolve(context.Background(), "10.1.200.1", 443); err != nil {
		t.Fatalf("allowed literal: %v", err)
	}
	if _, err := g.Resolve(context.Background(), "10.2.0.1", 443); !errors.Is(err, proxy.ErrSSRF) {
		t.Fatalf("literal outside allow_ranges: %v", err)
	}
}

// dnsServer answers A/AAAA queries from a table, on a real UDP socket.
func dnsServer(t *testing.T, answers map[string][]string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for _, q := range r.Question {
			for _, a := range answers[q.Name] {
				ip := net.ParseIP(a)
				switch {
				case q.Qtype == dns.TypeA && ip.To4() != nil:
					m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30}, A: ip.To4()})
				case q.Qtype == dns.TypeAAAA && ip.To4() == nil:
					m.Answer = append(m.Answer, &dns.AAAA{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: 30}, AAAA: ip})
				}
			}
		}
		_ = w.WriteMsg(m)
	})
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

func TestGuardResolvesOnceAndRefusesMixedAnswers(t *testing.T) {
	addr := dnsServer(t, map[string][]string{
		"public.test.example.":  {"93.184.216.34"},
		"mixed.test.example.":   {"93.184.216.34", "10.0.0.7"},
		"mixed6.test.example.":  {"93.184.216.34", "fd00::7"},
		"private.test.example.": {"169.254.169.254"},
	})
	g := proxy.NewGuard(nil, nil, addr)
	ctx := context.Background()
	ap, err := g.Resolve(ctx, "public.test.example", 443)
	if err != nil || ap.String() != "93.184.216.34:443" {
		t.Fatalf("public: %v %v", ap, err)
	}
	for _, h := range []string{"mixed.test.example", "mixed6.test.example", "private.test.example"} {
		if _, err := g.Resolve(ctx, h, 443); !errors.Is(err, proxy.ErrSSRF) {
			t.Errorf("%s: %v, want ErrSSRF", h, err)
		}
	}
}

func TestSSRFThroughTheGateway(t *testing.T) {
	addr := dnsServer(t, map[string][]string{
		"rebind.test.example.": {"93.184.216.34", "10.0.0.7"},
	})
	h := newPKI(t)
	up := newUpstream(t, upstreamOpts{cert: h.upCA.Issue(t, testpki.LeafOpts{IPs: []net.IP{net.ParseIP("127.0.0.1")}, DNS: []string{"meta.test.example"}}).TLS})
	pol := `version: 1
ca_bundles:
  upstream: {files: [upstream-ca.pem]}
clients:
  - name: sidecar
    sources: ["127.0.0.1/32"]
destinations:
  - name: loopback-literal
    hosts: ["127.0.0.1"]
    port: ` + itoa(int(up.addr.Port())) + `
    tls: {ca_bundle: upstream}
    clients: [sidecar]
    rules: [{methods: [GET], paths: ["/**"]}]
  - name: metadata
    hosts: ["169.254.169.254", meta.test.example, rebind.test.example]
    tls: {ca_bundle: upstream}
    clients: [sidecar]
    rules: [{methods: [GET], paths: ["/**"]}]
`
	// Loopback is allowed only for the literal destination's test; metadata
	// stays denied because 169.254/16 is not in allow_ranges.
	h.start(harnessOpts{policy: pol, resolver: addr,
		allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		hosts: map[string]netip.AddrPort{"meta.test.example": netip.MustParseAddrPort("169.254.169.254:443")}})
	port := itoa(int(up.addr.Port()))
	t.Run("IP spellings are normalised before policy", func(t *testing.T) {
		for _, host := range []string{"127.0.0.1", "2130706433", "0x7f000001", "0177.0.0.1", "0x7f.0.0.1", "127.1", "0x7f.1"} {
			before := up.count()
			r := curl(t, append(h.viaPlain(), "http://"+host+":"+port+"/x")...)
			if r.status != 200 || up.count() != before+1 {
				t.Errorf("%s: status %d body %s", host, r.status, r.body)
				continue
			}
			if rec := h.lastHTTP(); rec.Request.Host != "127.0.0.1" {
				t.Errorf("%s: audited host %q", host, rec.Request.Host)
			}
		}
	})
	t.Run("metadata address refused", func(t *testing.T) {
		for _, host := range []string{"169.254.169.254", "2852039166", "0xa9fea9fe", "meta.test.example", "rebind.test.example"} {
			r := curl(t, append(h.viaPlain(), "http://"+host+"/latest/meta-data/")...)
			if r.status != 403 {
				t.Errorf("%s: status %d body %s", host, r.status, r.body)
				continue
			}
			rec := h.lastHTTP()
			if rec.Upstream == nil || rec.Upstream.Error != proxy.ReasonSSRF {
				t.Errorf("%s: record upstream %+v", host, rec.Upstream)
			}
		}
	})
}
