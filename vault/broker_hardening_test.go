package vault

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// sfBroker is a per-subject (Salesforce JWT bearer) broker.
func sfBroker(t *testing.T, be *brokerEnv, o func(*BrokerOptions)) *Broker {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalECPrivateKey(key)
	be.store.Put(context.Background(), "sf/key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), NoCAS)
	be.te.verify = &key.PublicKey
	creds := map[string]CredentialConfig{"sf": {Type: TypeJWTBearer, TokenURL: be.url, ClientID: "3MVG9consumer",
		Username: "{local}@crm.corp.example", SubjectMap: map[string]string{"CEO@corp.example": "boss@crm.corp.example"},
		PrivateKey: &KeyRef{Secret: "sf/key"}}}
	opts := BrokerOptions{HTTPClient: be.client, Now: be.clk.Now}
	if o != nil {
		o(&opts)
	}
	b, err := NewBroker(context.Background(), creds, be.store, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Issue 9 finding 6: failed per-subject fetches are remembered with
// backoff instead of being retried at the clients' rate.
func TestBrokerNegativeCacheWithBackoff(t *testing.T) {
	be := newBrokerEnv(t, nil)
	b := sfBroker(t, be, nil)
	be.te.mu.Lock()
	be.te.fail = true
	be.te.mu.Unlock()
	for i := 0; i < 50; i++ {
		_, err := b.Authorize(context.Background(), "sf", "ghost@corp.example")
		mustErrIs(t, err, ErrNoCredential)
	}
	if be.count() != 1 {
		t.Fatalf("%d token requests for 50 refused requests inside the backoff, want 1", be.count())
	}
	// Backoff grows: 1s, then 2s.
	be.clk.Advance(1100 * time.Millisecond)
	b.Authorize(context.Background(), "sf", "ghost@corp.example")
	be.clk.Advance(1100 * time.Millisecond)
	b.Authorize(context.Background(), "sf", "ghost@corp.example")
	if be.count() != 2 {
		t.Fatalf("%d token requests, want 2 (second backoff is 2s)", be.count())
	}
	// Other subjects are not held back by this one.
	be.te.mu.Lock()
	be.te.fail = false
	be.te.mu.Unlock()
	authorize(t, b, "sf", "alice@corp.example")
	be.clk.Advance(time.Minute)
	authorize(t, b, "sf", "ghost@corp.example")
}

// Invalidations are bounded: an upstream that answers 401 to every token
// costs one token request per interval, not one per client request.
func TestBrokerInvalidationRateBounded(t *testing.T) {
	be := newBrokerEnv(t, nil)
	b := be.broker(t, be.graphCreds(), nil)
	for i := 0; i < 20; i++ {
		inj := authorize(t, b, "graph-app", "")
		b.Invalidate("graph-app", "", inj.TokenFP) // every request got a 401
	}
	if be.count() != 2 {
		t.Fatalf("%d token requests for 20 refused requests, want 2 (one invalidation per interval)", be.count())
	}
	be.clk.Advance(31 * time.Second)
	inj := authorize(t, b, "graph-app", "")
	b.Invalidate("graph-app", "", inj.TokenFP)
	authorize(t, b, "graph-app", "")
	if be.count() != 3 {
		t.Fatalf("%d token requests after the interval, want 3", be.count())
	}
}

// Subjects are normalised: case variants share one token, the IdP sees
// one form, and subject_map keys match whatever their case.
func TestBrokerSubjectNormalised(t *testing.T) {
	be := newBrokerEnv(t, nil)
	b := sfBroker(t, be, nil)
	a := authorize(t, b, "sf", "alice@corp.example")
	for _, s := range []string{"Alice@Corp.Example", "ALICE@CORP.EXAMPLE", " alice@corp.example"} {
		if got := authorize(t, b, "sf", s); got.Value != a.Value {
			t.Fatalf("%q minted another token", s)
		}
	}
	if be.count() != 1 {
		t.Fatalf("%d token requests for one user", be.count())
	}
	authorize(t, b, "sf", "ceo@CORP.example")
	if be.te.claims["sub"] != "boss@crm.corp.example" {
		t.Fatalf("subject_map by case-folded key: sub %v", be.te.claims["sub"])
	}
	// Only ASCII is folded: a KELVIN SIGN is not a k.
	if NormalizeSubject(&CredentialConfig{Type: TypeJWTBearer}, "\u212Aate@corp.example") == "kate@corp.example" {
		t.Fatal("Unicode case folding")
	}
	if got := NormalizeSubject(&CredentialConfig{Type: TypeClientCredentials}, "Kate@Corp.Example"); got != "Kate@corp.example" {
		t.Fatalf("domain-only folding: %q", got)
	}
}

// The cache is bounded: the least recently used subject goes first.
func TestBrokerCacheLRU(t *testing.T) {
	be := newBrokerEnv(t, nil)
	b := sfBroker(t, be, func(o *BrokerOptions) { o.MaxCached = 10 })
	for i := 0; i < 100; i++ {
		authorize(t, b, "sf", fmt.Sprintf("u%d@corp.example", i))
		authorize(t, b, "sf", "hot@corp.example") // kept warm
	}
	b.mu.Lock()
	n, l := len(b.cache), b.lru.Len()
	b.mu.Unlock()
	if n != 10 || l != 10 {
		t.Fatalf("cache holds %d entries (lru %d), bound 10", n, l)
	}
	before := be.count()
	authorize(t, b, "sf", "hot@corp.example")
	authorize(t, b, "sf", "u99@corp.example")
	if be.count() != before {
		t.Fatal("recently used entries were evicted")
	}
	authorize(t, b, "sf", "u0@corp.example")
	if be.count() != before+1 {
		t.Fatal("the least recently used entry was not evicted")
	}
}

// Issue 9 finding 15: the token endpoint's error code reaches clients (a
// 503 reason) only bounded and sanitised.
func TestBrokerTokenErrorCodeSanitised(t *testing.T) {
	for code, want := range map[string]string{
		"invalid_client":                 "(invalid_client)",
		"hunter2 secret=s3cr3t":          "(unrecognised error code)",
		"<script>alert(1)</script>":      "(unrecognised error code)",
		"invalid_grant\r\nX-Injected: 1": "(unrecognised error code)",
		strings.Repeat("a", 200):         "(unrecognised error code)",
		"":                               "(no error code)",
	} {
		srv, client, _ := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			json.NewEncoder(w).Encode(map[string]string{"error": code})
		}))
		be := newBrokerEnv(t, nil)
		be.client = client
		creds := be.graphCreds()
		c := creds["graph-app"]
		c.TokenURL = srv.URL + "/token"
		creds["graph-app"] = c
		b := be.broker(t, creds, nil)
		_, err := b.Authorize(context.Background(), "graph-app", "")
		if err == nil || !strings.Contains(err.Error(), "answered 400 "+want) {
			t.Errorf("code %q: %v", code, err)
		}
		if code != "" && want != "("+code+")" && strings.Contains(err.Error(), code) {
			t.Errorf("code %q echoed: %v", code, err)
		}
	}
}
