package certs

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/syncgate/syncgate/internal/testpki"
	"golang.org/x/crypto/ocsp"
)

// ocspResponder answers every OCSP request about ca's certificates "good".
func ocspResponder(t *testing.T, ca *testpki.CA) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := ocsp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp, err := ocsp.CreateResponse(ca.Cert, ca.Cert, ocsp.Response{
			Status: ocsp.Good, SerialNumber: req.SerialNumber,
			ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(24 * time.Hour),
		}, ca.Key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/ocsp-response")
		w.Write(resp)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// issueWithRevocationInfo writes dir/name.pem (leaf + CA) and dir/name.key
// for a server certificate that names an OCSP responder and a CRL.
func issueWithRevocationInfo(t *testing.T, ca *testpki.CA, dir, name, ocspURL string, lifetime time.Duration) {
	t.Helper()
	key, err := newECKey()
	if err != nil {
		t.Fatal(err)
	}
	sn, _ := randomSerial()
	tmpl := &x509.Certificate{
		SerialNumber: sn, Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(lifetime),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "gw.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		OCSPServer: []string{ocspURL}, CRLDistributionPoints: []string{ocspURL + "/ca.crl"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := encodeKeyPEM(key)
	if err := os.WriteFile(filepath.Join(dir, name+".pem"), encodeCertPEM(der, ca.Cert.Raw), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".key"), kb, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestListenerStaplesOCSP(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "OCSP CA")
	issueWithRevocationInfo(t, ca, dir, "gw", ocspResponder(t, ca), 24*time.Hour)
	l, err := NewListener(t.Context(), ListenerConfig{CertFile: "gw.pem", KeyFile: "gw.key"}, dir, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.Dial("tcp", serve(t, l.TLSConfig()), &tls.Config{RootCAs: ca.Pool(), ServerName: "gw.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cs := c.ConnectionState()
	if len(cs.OCSPResponse) == 0 {
		t.Fatal("no OCSP staple")
	}
	r, err := ocsp.ParseResponseForCert(cs.OCSPResponse, cs.PeerCertificates[0], ca.Cert)
	if err != nil || r.Status != ocsp.Good {
		t.Fatalf("staple: %v status %v", err, r)
	}
}
