package certs

import (
	"crypto"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestConstraintsForHosts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hosts []string
		dns   []string
		ips   []string
		err   string
	}{
		{"exact names", []string{"graph.microsoft.com", "login.microsoftonline.com"}, []string{"graph.microsoft.com", "login.microsoftonline.com"}, nil, ""},
		// RFC 5280 has no wildcards: *.example.com is the subtree example.com.
		{"wildcard", []string{"*.my.salesforce.com"}, []string{"my.salesforce.com"}, nil, ""},
		{"wildcard swallows names below it", []string{"corp.my.salesforce.com", "*.my.salesforce.com", "a.b.my.salesforce.com"}, []string{"my.salesforce.com"}, nil, ""},
		{"a subtree swallows a wildcard below it", []string{"*.mail.example.com", "example.com"}, []string{"example.com"}, nil, ""},
		{"siblings stay", []string{"a.example.com", "b.example.com"}, []string{"a.example.com", "b.example.com"}, nil, ""},
		{"not a suffix match", []string{"example.com", "badexample.com"}, []string{"badexample.com", "example.com"}, nil, ""},
		{"dedupe and case", []string{"Graph.Microsoft.com.", "graph.microsoft.com", "GRAPH.microsoft.COM"}, []string{"graph.microsoft.com"}, nil, ""},
		{"IDN to punycode", []string{"bücher.example", "*.münchen.example"}, []string{"xn--bcher-kva.example", "xn--mnchen-3ya.example"}, nil, ""},
		{"IPs", []string{"10.1.2.3", "10.1.2.3", "2001:db8::1", "[2001:db8::2]", "::ffff:192.0.2.1"}, nil, []string{"10.1.2.3/32", "192.0.2.1/32", "2001:db8::1/128", "2001:db8::2/128"}, ""},
		{"names and IPs", []string{"mail.corp.example", "10.1.2.3"}, []string{"mail.corp.example"}, []string{"10.1.2.3/32"}, ""},
		{"empty", nil, nil, nil, "no destination hosts"},
		{"one-label wildcard", []string{"*.com"}, nil, nil, "at least two labels"},
		{"bad name", []string{"exa mple.com"}, nil, nil, "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := ConstraintsForHosts(tc.hosts)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ips []string
			for _, n := range nc.IPs {
				ips = append(ips, n.String())
			}
			if !reflect.DeepEqual(nc.DNS, tc.dns) || !reflect.DeepEqual(ips, tc.ips) {
				t.Fatalf("got DNS %q IPs %q, want %q %q", nc.DNS, ips, tc.dns, tc.ips)
			}
		})
	}
}

// constrainedCA makes an intercept CA for hosts with a local key.
func constrainedCA(t *testing.T, hosts ...string) (*x509.Certificate, *InterceptCAOptions, crypto.Signer) {
	t.Helper()
	nc, err := ConstraintsForHosts(hosts)
	if err != nil {
		t.Fatal(err)
	}
	key, err := newECKey()
	if err != nil {
		t.Fatal(err)
	}
	o := &InterceptCAOptions{Constraints: &nc}
	ca, err := NewInterceptCACert(key, *o)
	if err != nil {
		t.Fatal(err)
	}
	return ca, o, key
}

// handLeaf mints a leaf for name with the CA's key directly, bypassing
// every guard of InterceptCA: what a thief holding the key could make.
func handLeaf(t *testing.T, ca *x509.Certificate, caKey crypto.Signer, name string) *x509.Certificate {
	t.Helper()
	k, err := newECKey()
	if err != nil {
		t.Fatal(err)
	}
	spec := leafSpec{CN: name, NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour), Server: true}
	if ip := net.ParseIP(name); ip != nil {
		spec.IPs = []net.IP{ip}
	} else {
		spec.DNS = []string{name}
	}
	leaf, err := signLeaf(ca, caKey, k.Public(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

// The CA is critical-constrained, may only sign server leaves, and Go's
// verifier agrees with PermitsHost for names inside and outside, wildcards
// and IPs included: the guard refuses exactly what clients would reject.
func TestInterceptCAConstraintsAgreeWithGoVerifier(t *testing.T) {
	ca, _, key := constrainedCA(t, "graph.microsoft.com", "*.my.salesforce.com", "10.1.2.3")
	if !ca.PermittedDNSDomainsCritical || !ca.IsCA || !ca.MaxPathLenZero || len(ca.ExtKeyUsage) != 1 || ca.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Fatalf("CA profile: critical=%v ca=%v pathlen0=%v eku=%v", ca.PermittedDNSDomainsCritical, ca.IsCA, ca.MaxPathLenZero, ca.ExtKeyUsage)
	}
	if life := ca.NotAfter.Sub(ca.NotBefore); life < 364*24*time.Hour || life > 366*24*time.Hour {
		t.Fatalf("default lifetime %v, want a year", life)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"graph.microsoft.com", true},
		{"a.graph.microsoft.com", true}, // RFC 5280: a subtree holds names below it
		{"microsoft.com", false},
		{"evilgraph.microsoft.com", false},
		{"graph.microsoft.com.evil.example", false},
		{"corp.my.salesforce.com", true},
		{"my.salesforce.com", true},
		{"salesforce.com", false},
		{"login.microsoftonline.com", false},
		{"10.1.2.3", true},
		{"10.1.2.4", false},
		{"2001:db8::1", false},
	} {
		t.Run(tc.host, func(t *testing.T) {
			guard := PermitsHost(ca, tc.host)
			leaf := handLeaf(t, ca, key, tc.host)
			_, verr := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: tc.host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if (guard == nil) != tc.ok || (verr == nil) != tc.ok {
				t.Fatalf("guard %v, Go verifier %v, want ok=%v", guard, verr, tc.ok)
			}
			if !tc.ok {
				var ce x509.CertificateInvalidError
				if !errors.As(verr, &ce) || ce.Reason != x509.CANotAuthorizedForThisName {
					t.Fatalf("Go verifier: %v, want CANotAuthorizedForThisName", verr)
				}
			}
		})
	}
	// Policy wildcards are inside when every name they match is.
	for host, ok := range map[string]bool{"*.my.salesforce.com": true, "*.salesforce.com": false, "*.graph.microsoft.com": true, "*.microsoft.com": false} {
		if err := PermitsHost(ca, host); (err == nil) != ok {
			t.Errorf("PermitsHost(%s) = %v, want ok=%v", host, err, ok)
		}
	}
	// A CA from a policy without IP hosts excludes every address.
	dnsOnly, _, dkey := constrainedCA(t, "graph.microsoft.com")
	if err := PermitsHost(dnsOnly, "10.1.2.3"); err == nil {
		t.Fatal("a DNS-only CA admits an IP")
	}
	p2 := x509.NewCertPool()
	p2.AddCert(dnsOnly)
	if _, err := handLeaf(t, dnsOnly, dkey, "10.1.2.3").Verify(x509.VerifyOptions{Roots: p2}); err == nil {
		t.Fatal("Go accepted an IP leaf from a DNS-only CA")
	}
	// An unconstrained CA admits anything and says so.
	if s, ok := ConstraintsOf(dnsOnly); !ok || !strings.Contains(s, "permitted DNS graph.microsoft.com") || !strings.Contains(s, "excluded IP 0.0.0.0/0, ::/0") {
		t.Fatalf("ConstraintsOf: %q %v", s, ok)
	}
}

// OpenSSL, the other verifier clients use (curl, Python, most of Linux),
// rejects a leaf for a host outside the constraints even though the CA's
// own key signed it, and accepts one inside.
func TestInterceptCAConstraintsOpenSSL(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("openssl is required (apt-get install openssl): %v", err)
	}
	dir := t.TempDir()
	ca, _, key := constrainedCA(t, "graph.microsoft.com", "*.my.salesforce.com")
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, encodeCertPEM(ca.Raw), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host string
		ok   bool
		want string
	}{
		{"graph.microsoft.com", true, ": OK"},
		{"corp.my.salesforce.com", true, ": OK"},
		{"login.microsoftonline.com", false, "permitted subtree violation"},
		{"evil.example", false, "permitted subtree violation"},
		{"10.1.2.3", false, "excluded subtree violation"},
	} {
		t.Run(tc.host, func(t *testing.T) {
			leafFile := filepath.Join(dir, tc.host+".pem")
			if err := os.WriteFile(leafFile, encodeCertPEM(handLeaf(t, ca, key, tc.host).Raw), 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{"verify", "-CAfile", caFile, "-purpose", "sslserver"}
			if net.ParseIP(tc.host) == nil {
				args = append(args, "-verify_hostname", tc.host)
			} else {
				args = append(args, "-verify_ip", tc.host)
			}
			out, err := exec.Command(bin, append(args, leafFile)...).CombinedOutput()
			if (err == nil) != tc.ok || !strings.Contains(string(out), tc.want) {
				t.Fatalf("openssl verify: %v\n%s\nwant ok=%v and %q", err, out, tc.ok, tc.want)
			}
		})
	}
}

// Whatever hosts a policy lists, a CA made from them admits each of them
// (PermitsHost), and Go's verifier accepts a leaf for every exact one.
func FuzzConstraintsForHosts(f *testing.F) {
	f.Add("graph.microsoft.com\n*.my.salesforce.com\n10.1.2.3")
	f.Add("bücher.example\n*.BÜCHER.example.\n2001:db8::1")
	f.Add("a.b.c\nb.c\n*.c.d\nx.c.d")
	key, err := newECKey()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, list string) {
		hosts := strings.Split(list, "\n")
		nc, err := ConstraintsForHosts(hosts)
		if err != nil {
			return
		}
		ca, err := NewInterceptCACert(key, InterceptCAOptions{Constraints: &nc})
		if err != nil {
			t.Fatalf("constraints %+v do not make a CA: %v", nc, err)
		}
		pool := x509.NewCertPool()
		pool.AddCert(ca)
		for _, h := range hosts {
			h = strings.TrimSpace(h)
			if err := PermitsHost(ca, h); err != nil {
				t.Fatalf("host %q of the list is outside the CA made from it: %v", h, err)
			}
			if strings.HasPrefix(h, "*.") {
				continue
			}
			name := h
			if ip := net.ParseIP(strings.Trim(h, "[]")); ip != nil {
				name = ip.String()
			} else if name, err = constraintDomain(h); err != nil {
				t.Fatal(err)
			}
			leaf := handLeaf(t, ca, key, name)
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool}); err != nil {
				t.Fatalf("Go rejects a leaf for listed host %q: %v", h, err)
			}
		}
	})
}
