package proxy_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/syncgate/syncgate/internal/testpki"
	"github.com/syncgate/syncgate/vault"
)

// tokenIssuer is an Injector that hands out numbered tokens and counts
// invalidations, standing in for the token broker's interface.
type tokenIssuer struct {
	mu          sync.Mutex
	n           int
	invalidated int
	fail        error
	instance    string
}

func (ti *tokenIssuer) Authorize(_ context.Context, credential, subject string) (*vault.Injection, error) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	if ti.fail != nil {
		return nil, ti.fail
	}
	if ti.n == 0 {
		ti.n = 1
	}
	tok := "tok-" + credential + "-" + itoa(ti.n)
	return &vault.Injection{Credential: credential, Header: "Authorization", Value: "Bearer " + tok, TokenFP: "fp" + itoa(ti.n), InstanceHost: ti.instance}, nil
}

func (ti *tokenIssuer) Invalidate(credential, subject, fp string) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	ti.invalidated++
	ti.n++
}

const credPolicy = `  - name: crm
    hosts: [crm.test.example]
    tls: {ca_bundle: upstream}
    credential: crm-app
    clients: [sync, sidecar]
    rules: [{methods: [GET, POST], paths: ["/**"]}]
`

func TestCredentialInjectionStripsClientCredentials(t *testing.T) {
	ti := &tokenIssuer{}
	h := newPKI(t)
	// The upstream accepts only the second token, so the first request
	// sees a 401 and the gateway must refresh once and retry.
	up := newUpstream(t, upstreamOpts{cert: h.upCA.Issue(t, testpki.LeafOpts{DNS: []string{"crm.test.example"}}).TLS,
		handler: func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer tok-crm-app-2" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			if r.Header.Get("Cookie") != "" {
				w.WriteHeader(http.StatusTeapot)
				return
			}
			w.Write([]byte("ok"))
		}})
	h.start(harnessOpts{policy: basePolicy + credPolicy, injector: ti, hosts: hostsFor("crm.test.example", up)})
	r := curl(t, append(h.viaPlain(), "-H", "Authorization: Bearer stolen", "-H", "Cookie: session=abc", "http://crm.test.example/data")...)
	if r.status != 200 || r.body != "ok" {
		t.Fatalf("status %d body %q", r.status, r.body)
	}
	ti.mu.Lock()
	inv := ti.invalidated
	ti.mu.Unlock()
	if inv != 1 {
		t.Fatalf("invalidations %d, want exactly 1", inv)
	}
	if got := up.count(); got != 2 {
		t.Fatalf("upstream saw %d requests, want 2 (401 then retry)", got)
	}
	for _, s := range up.hits {
		if strings.Contains(s.Header.Get("Authorization"), "stolen") {
			t.Fatal("client Authorization reached the upstream")
		}
	}
	rec := h.lastHTTP()
	if rec.Credential == nil || rec.Credential.Name != "crm-app" || rec.Credential.TokenFP != "fp2" {
		t.Fatalf("credential in record: %+v", rec.Credential)
	}
	log := readFile(t, h.auditLog) + h.logBuf.String()
	for _, secret := range []string{"tok-crm-app", "stolen", "session=abc"} {
		if strings.Contains(log, secret) {
			t.Errorf("%q leaked into the audit log or gateway log", secret)
		}
	}
}

func TestNoCredentialMeans503(t *testing.T) {
	ti := &tokenIssuer{fail: errors.New("token endpoint refused: invalid_client")}
	h := newPKI(t)
	up := newUpstream(t, upstreamOpts{cert: h.upCA.Issue(t, testpki.LeafOpts{DNS: []string{"crm.test.example"}}).TLS})
	h.start(harnessOpts{policy: basePolicy + credPolicy, injector: ti, hosts: hostsFor("crm.test.example", up)})
	r := curl(t, append(h.viaPlain(), "http://crm.test.example/data")...)
	if r.status != 503 || !strings.Contains(r.body, "credential unavailable") {
		t.Fatalf("status %d body %s", r.status, r.body)
	}
	if up.count() != 0 {
		t.Fatal("forwarded without a credential")
	}
	rec := h.lastHTTP()
	if !rec.Decision.Allow || !strings.Contains(rec.Detail["error"], "credential unavailable") || rec.Response.Status != 503 {
		t.Fatalf("record: %+v %v %+v", rec.Decision, rec.Detail, rec.Response)
	}
}

func TestInstanceHostEnforced(t *testing.T) {
	ti := &tokenIssuer{instance: "other.test.example"}
	h := newPKI(t)
	up := newUpstream(t, upstreamOpts{cert: h.upCA.Issue(t, testpki.LeafOpts{DNS: []string{"crm.test.example"}}).TLS})
	h.start(harnessOpts{policy: basePolicy + credPolicy, injector: ti, hosts: hostsFor("crm.test.example", up)})
	r := curl(t, append(h.viaPlain(), "http://crm.test.example/data")...)
	if r.status != 403 || up.count() != 0 {
		t.Fatalf("status %d, upstream hits %d", r.status, up.count())
	}
	if rec := h.lastHTTP(); rec.Decision.Allow || !strings.Contains(rec.Decision.Reason, "instance host") {
		t.Fatalf("record: %+v", rec.Decision)
	}
}
