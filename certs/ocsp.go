package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/ocsp"
)

// stapleOCSP fetches an OCSP response for a file-loaded certificate whose
// issuer is in its chain and whose CA runs a responder, and staples it. ACME
// and internal certificates get this from certmagic. A failure only logs:
// a missing staple makes clients ask the responder themselves.
func stapleOCSP(c *tls.Certificate, log zerolog.Logger) {
	if c.Leaf == nil || len(c.Leaf.OCSPServer) == 0 || len(c.Certificate) < 2 {
		return
	}
	issuer, err := x509.ParseCertificate(c.Certificate[1])
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw, err := fetchOCSP(ctx, c.Leaf, issuer)
	if err != nil {
		log.Warn().Err(err).Str("serial", c.Leaf.SerialNumber.Text(16)).Msg("no OCSP staple for the listener certificate")
		return
	}
	c.OCSPStaple = raw
}

func fetchOCSP(ctx context.Context, leaf, issuer *x509.Certificate) ([]byte, error) {
	req, err := ocsp.CreateRequest(leaf, issuer, nil)
	if err != nil {
		return nil, fmt.Errorf("ocsp request: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, leaf.OCSPServer[0], bytes.NewReader(req))
	if err != nil {
		return nil, fmt.Errorf("ocsp request: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/ocsp-request")
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("ocsp responder: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("ocsp responder: HTTP %d", resp.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("ocsp responder: %w", err)
	}
	r, err := ocsp.ParseResponseForCert(raw, leaf, issuer)
	if err != nil {
		return nil, fmt.Errorf("ocsp response: %w", err)
	}
	if r.Status != ocsp.Good {
		return nil, fmt.Errorf("ocsp status %d for the listener certificate", r.Status)
	}
	return raw, nil
}
