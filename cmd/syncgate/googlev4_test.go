package main

import (
	"context"
	"crypto/rand"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/syncgate/syncgate/emulate/google"
	"github.com/syncgate/syncgate/internal/testpki"
	"github.com/syncgate/syncgate/vault"
)

// TestBrokerGoogleV4TokenEndpoint: a google_service_account credential may
// name either of Google's token endpoints as token_url; the gateway's broker
// signs the assertion for that audience, and the (emulated) Google accepts
// it and the delegated token works on the Calendar API.
func TestBrokerGoogleV4TokenEndpoint(t *testing.T) {
	ctx := context.Background()
	const sa, user = "syncgate@proj.iam.gserviceaccount.com", "alice@corp.example"
	g := google.New(google.Options{})
	_, client, _ := testpki.ServeHosts(t, g.Handler(), g.Hosts()...)
	priv, pub, err := vault.GenerateKeyPEM("rsa")
	must(t, err)
	must(t, g.AddServiceAccount(google.ServiceAccount{ClientEmail: sa, ClientID: "1", PublicKeyPEM: string(pub),
		DWDScopes: []string{google.ScopeCalendar}}))
	must(t, g.AddUser(user))

	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	store, err := vault.NewFileStore(filepath.Join(t.TempDir(), "secrets.enc"), key, vault.OpenOptions{})
	must(t, err)
	if _, err := store.Put(ctx, "google/key", priv, 0); err != nil {
		t.Fatal(err)
	}
	for _, tokenURL := range []string{google.TokenURL, google.TokenURLV4} {
		creds := map[string]vault.CredentialConfig{"google-dwd": {Type: vault.TypeGoogleSA, TokenURL: tokenURL, ClientID: sa,
			Scopes: []string{google.ScopeCalendar}, PrivateKey: &vault.KeyRef{Secret: "google/key"}}}
		b, err := vault.NewBroker(ctx, creds, store, vault.BrokerOptions{HTTPClient: client, NoSharedCache: true})
		if err != nil {
			t.Fatal(err)
		}
		inj, err := b.Authorize(ctx, "google-dwd", user)
		if err != nil {
			t.Fatalf("token from %s: %v", tokenURL, err)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, google.CalendarBase+"calendars/primary/events", nil)
		req.Header.Set(inj.Header, inj.Value)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("calendar with a token from %s: %d", tokenURL, resp.StatusCode)
		}
	}
}
