package certs

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/internal/testpki"
)

// upstream is a TLS server on 127.0.0.1 that requires a client certificate
// from ca and echoes the client's CN.
func upstream(t *testing.T, serverCA, ca *testpki.CA) string {
	t.Helper()
	leaf := serverCA.Issue(t, testpki.LeafOpts{CN: "sf.test", DNS: []string{"sf.test"}})
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{leaf.TLS},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.Pool(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := c.(*tls.Conn)
				if err := tc.Handshake(); err != nil {
					return
				}
				tc.Write([]byte(tc.ConnectionState().PeerCertificates[0].Subject.CommonName))
			}()
		}
	}()
	return ln.Addr().String()
}

func dialUpstream(addr string, serverCA *testpki.CA, cc *ClientCerts, name string) (string, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{
		RootCAs: serverCA.Pool(), ServerName: "sf.test",
		CipherSuites:         ListenerCipherSuites(),
		MinVersion:           tls.VersionTLS12,
		GetClientCertificate: cc.GetClientCertificate(name),
	})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(conn)
	return string(b), err
}

func TestUpstreamClientCert(t *testing.T) {
	dir := t.TempDir()
	serverCA := testpki.NewCA(t, "upstream server CA")
	sfCA := testpki.NewCA(t, "salesforce client CA")
	otherCA := testpki.NewCA(t, "on-prem client CA")
	sfCA.Issue(t, testpki.LeafOpts{CN: "syncgate-sf", Client: true}).WriteFiles(t, dir, "sf")
	var reported []string
	cc, err := LoadClientCerts(map[string]FilePair{"sf-mtls": {CertFile: "sf.pem", KeyFile: "sf.key"}}, dir,
		ClientCertsOptions{OnReloadError: func(what string, err error) { reported = append(reported, what) }})
	if err != nil {
		t.Fatal(err)
	}

	got, err := dialUpstream(upstream(t, serverCA, sfCA), serverCA, cc, "sf-mtls")
	if err != nil || got != "syncgate-sf" {
		t.Fatalf("upstream requiring our CA: got %q, %v", got, err)
	}

	_, err = dialUpstream(upstream(t, serverCA, otherCA), serverCA, cc, "sf-mtls")
	if err == nil {
		t.Fatal("upstream requiring another CA accepted the handshake")
	}
	for _, want := range []string{`"sf-mtls"`, "not accepted by the upstream", "on-prem client CA"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not say %q", err, want)
		}
	}

	if _, err := cc.Get("nope"); !errors.Is(err, ErrUnknownClientCert) {
		t.Fatalf("unknown name: %v", err)
	}

	// Reload: a broken file keeps the old certificate; a good one replaces it.
	old, _ := cc.Get("sf-mtls")
	if err := os.WriteFile(filepath.Join(dir, "sf.pem"), []byte("broken"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cc.Reload(); err == nil || len(reported) != 1 || reported[0] != "client_cert sf-mtls" {
		t.Fatalf("broken reload: err %v, reported %v", err, reported)
	}
	if cur, _ := cc.Get("sf-mtls"); cur != old {
		t.Fatal("broken reload replaced the certificate")
	}
	sfCA.Issue(t, testpki.LeafOpts{CN: "syncgate-sf-2", Client: true}).WriteFiles(t, dir, "sf")
	if err := cc.Reload(); err != nil {
		t.Fatal(err)
	}
	got, err = dialUpstream(upstream(t, serverCA, sfCA), serverCA, cc, "sf-mtls")
	if err != nil || got != "syncgate-sf-2" {
		t.Fatalf("after reload: got %q, %v", got, err)
	}
}

func TestLoadClientCertsErrors(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "ca")
	ca.Issue(t, testpki.LeafOpts{CN: "x", Client: true, NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}).WriteFiles(t, dir, "expired")
	for name, m := range map[string]map[string]FilePair{
		"missing key field": {"a": {CertFile: "a.pem"}},
		"missing file":      {"a": {CertFile: "a.pem", KeyFile: "a.key"}},
		"expired":           {"a": {CertFile: "expired.pem", KeyFile: "expired.key"}},
	} {
		if _, err := LoadClientCerts(m, dir); err == nil || !strings.Contains(err.Error(), `"a"`) {
			t.Errorf("%s: got %v, want an error naming the certificate", name, err)
		}
	}
}
