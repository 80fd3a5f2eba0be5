package main

// End-to-end token flows: a client with no credential calls Graph, Google
// Calendar, Salesforce and EWS through the gateway; the gateway's broker gets
// tokens from the emulated identity providers through its own pipeline
// (policy, SSRF guard, upstream TLS, audit) and injects them. Time moves on a
// fake clock shared by the broker and the emulators.

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncgate/syncgate/audit"
	"github.com/syncgate/syncgate/emulate/google"
	"github.com/syncgate/syncgate/emulate/microsoft"
	"github.com/syncgate/syncgate/vault"
)

const msTokenPath = microsoft.LoginHost + "/" + tkTenant + "/oauth2/v2.0/token"

// tokenRequestRecords are the pipeline's own records of token requests to
// host (kind token, with a request), as opposed to the broker's events.
func tokenRequestRecords(recs []audit.Record, host string) []audit.Record {
	var out []audit.Record
	for _, r := range recs {
		if r.Kind == audit.KindToken && r.Request != nil && r.Request.Host == host {
			out = append(out, r)
		}
	}
	return out
}

func TestTokenGraphClientCredentials(t *testing.T) {
	for _, cred := range []string{"graph-secret", "graph-cert", "graph-cert-file"} {
		t.Run(cred, func(t *testing.T) {
			e := newTokenEnv(t, tokenEnvOpts{graphCred: cred})
			// No Authorization from the client, then a forged one: both get
			// the gateway's token and only it.
			for _, hdr := range [][]string{nil, {"Authorization", "Bearer x"}} {
				r := e.do("GET", graphContactsURL(tkAlice), tkAlice, "", hdr...)
				if r.status != 200 || !strings.Contains(r.body, "c-"+tkAlice) {
					t.Fatalf("graph contacts (client header %v): %d %s", hdr, r.status, r.body)
				}
				issued := e.rec.issuedTokens()
				if len(issued) != 1 {
					t.Fatalf("login issued %d tokens, want 1", len(issued))
				}
				if got := e.rec.lastAuth(microsoft.GraphHost); got != "Bearer "+issued[0] {
					t.Fatalf("graph saw Authorization %q, want the issued token", got)
				}
			}
			if n := e.rec.count(msTokenPath); n != 1 {
				t.Errorf("token endpoint saw %d requests, want 1", n)
			}
			if n := e.okTokenRequests(cred, ""); n != 1 {
				t.Errorf("%d token records for %s, want 1", n, cred)
			}
			// The token request took the gateway's road: the microsoft-login
			// destination, its CA bundle, TLS 1.2+, as token-broker.
			trs := tokenRequestRecords(e.records(), microsoft.LoginHost)
			if len(trs) != 1 {
				t.Fatalf("%d pipeline records for the token request, want 1", len(trs))
			}
			tr := trs[0]
			if tr.Client == nil || tr.Client.Name != "token-broker" || tr.Decision == nil || !tr.Decision.Allow || tr.Decision.Destination != "microsoft-login" {
				t.Errorf("token request record: client %+v decision %+v", tr.Client, tr.Decision)
			}
			if tr.Upstream == nil || tr.Upstream.CABundle != "microsoft" || (tr.Upstream.TLSVersion != "1.2" && tr.Upstream.TLSVersion != "1.3") {
				t.Errorf("token request upstream: %+v", tr.Upstream)
			}
			// The Graph records name the credential by fingerprint only.
			var graphRecs int
			for _, r := range e.records() {
				if r.Kind == audit.KindHTTP && r.Request != nil && r.Request.Host == microsoft.GraphHost {
					graphRecs++
					if r.Credential == nil || r.Credential.Name != cred || r.Credential.TokenFP != vault.TokenFP("Bearer "+e.rec.issuedTokens()[0]) {
						t.Errorf("graph record credential %+v", r.Credential)
					}
				}
			}
			if graphRecs != 2 {
				t.Errorf("%d graph records, want 2", graphRecs)
			}
			e.checkNoLeaks()
		})
	}
}

// The token endpoint is held to its destination's TLS rules: with the wrong
// CA bundle the broker gets no token and nothing goes out without one.
func TestTokenEndpointTLSEnforced(t *testing.T) {
	e := newTokenEnv(t, tokenEnvOpts{loginBundle: "google"})
	r := e.do("GET", graphContactsURL(tkAlice), tkAlice, "")
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d %s, want 503", r.status, r.body)
	}
	if kind, reason := errorBody(t, r); kind != "unavailable" || !strings.Contains(reason, "credential unavailable") {
		t.Errorf("error %q reason %q", kind, reason)
	}
	if n := e.rec.hostCount(microsoft.LoginHost); n != 0 {
		t.Errorf("token endpoint reached %d times over an untrusted TLS connection", n)
	}
	if n := e.rec.hostCount(microsoft.GraphHost); n != 0 {
		t.Errorf("graph reached %d times without a credential", n)
	}
	trs := tokenRequestRecords(e.records(), microsoft.LoginHost)
	if len(trs) != 1 || trs[0].Upstream == nil || trs[0].Upstream.Error == "" {
		t.Fatalf("token request not audited as a TLS failure: %+v", trs)
	}
	e.checkNoLeaks()
}

func TestTokenGoogleDelegationPerSubject(t *testing.T) {
	e := newTokenEnv(t, tokenEnvOpts{})
	auths := map[string]string{}
	for _, u := range []string{tkAlice, tkBob, tkAlice, tkBob} {
		r := e.do("GET", calendarURL(u), u, "")
		if r.status != 200 || !strings.Contains(r.body, "Meeting of "+u) {
			t.Fatalf("calendar of %s: %d %s", u, r.status, r.body)
		}
		other := tkBob
		if u == tkBob {
			other = tkAlice
		}
		if strings.Contains(r.body, "Meeting of "+other) {
			t.Fatalf("calendar of %s shows %s's events", u, other)
		}
		a := e.rec.lastAuth(google.HostAPIs)
		if prev, ok := auths[u]; ok && prev != a {
			t.Errorf("%s's token changed between two calls", u)
		}
		auths[u] = a
	}
	if auths[tkAlice] == auths[tkBob] || auths[tkAlice] == "" {
		t.Fatal("alice and bob were given the same token")
	}
	if n := e.rec.count(google.HostOAuth + "/token"); n != 2 {
		t.Errorf("google token endpoint saw %d requests, want 2", n)
	}
	evs := e.tokenEvents(vault.EventToken, "google-dwd", "*")
	subjects := map[string]string{}
	for _, ev := range evs {
		subjects[ev.Subject] = ev.Credential.TokenFP
	}
	if len(evs) != 2 || subjects[tkAlice] == "" || subjects[tkBob] == "" || subjects[tkAlice] == subjects[tkBob] {
		t.Errorf("token records: %d, subjects %v", len(evs), subjects)
	}
	// A subject the policy allows but Google does not know: the token
	// endpoint refuses, the gateway answers 503 and sends nothing.
	before := e.rec.hostCount(google.HostAPIs)
	r := e.do("GET", calendarURL("carol@corp.example"), "carol@corp.example", "")
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("unknown subject: %d %s", r.status, r.body)
	}
	if _, reason := errorBody(t, r); !strings.Contains(reason, "invalid_grant") {
		t.Errorf("reason %q does not say why", reason)
	}
	if e.rec.hostCount(google.HostAPIs) != before {
		t.Error("calendar reached without a credential")
	}
	// A subject outside the client's subjects never gets as far as a token.
	r = e.do("GET", calendarURL("eve@evil.example"), "eve@evil.example", "")
	if r.status != http.StatusForbidden {
		t.Errorf("foreign subject: %d %s", r.status, r.body)
	}
	if len(e.tokenEvents(vault.EventToken, "google-dwd", "eve@evil.example")) != 0 {
		t.Error("a token was requested for a subject the policy refuses")
	}
	e.checkNoLeaks()
}

func TestTokenSalesforceInstanceURL(t *testing.T) {
	e := newTokenEnv(t, tokenEnvOpts{})
	r := e.do("GET", "http://corp.my.salesforce.com"+sfQueryPath, tkAlice, "")
	if r.status != 200 || !strings.Contains(r.body, "Lovelace") {
		t.Fatalf("salesforce query: %d %s", r.status, r.body)
	}
	evs := e.tokenEvents(vault.EventToken, "salesforce-jwt", tkAlice)
	if len(evs) != 1 || evs[0].Detail["outcome"] != "ok" {
		t.Fatalf("salesforce token records: %+v", evs)
	}
	// The same credential on another host (allowed by policy) is refused:
	// the token belongs to the instance_url host.
	r = e.do("GET", "http://"+tkSFOther+sfQueryPath, tkAlice, "")
	if r.status != http.StatusForbidden {
		t.Fatalf("other host: %d %s", r.status, r.body)
	}
	if _, reason := errorBody(t, r); !strings.Contains(reason, "instance host") {
		t.Errorf("reason %q", reason)
	}
	if n := e.rec.hostCount(tkSFOther); n != 0 {
		t.Errorf("the other host was reached %d times", n)
	}
	e.checkNoLeaks()
}

func TestTokenEWSBasic(t *testing.T) {
	e := newTokenEnv(t, tokenEnvOpts{})
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(tkEWSUser+":"+e.ewsPassword))
	e.mustNotLeak(basic, "EWS basic header")
	e.mustNotLeak(strings.TrimPrefix(basic, "Basic "), "EWS basic credentials")
	r := e.do("POST", "http://mail.corp.example/EWS/Exchange.asmx", tkAlice, ewsSyncBody(tkAlice), "Content-Type", "text/xml; charset=utf-8")
	if r.status != 200 || !strings.Contains(r.body, "NoError") || !strings.Contains(r.body, "Hopper") {
		t.Fatalf("SyncFolderItems: %d %s", r.status, r.body)
	}
	if got := e.rec.lastAuth("mail.corp.example"); got != basic {
		t.Error("EWS did not see the service account's Basic credentials")
	}
	if n := e.okTokenRequests("ews-basic", ""); n != 1 {
		t.Errorf("%d store reads recorded for ews-basic, want 1", n)
	}
	// Impersonating someone other than the subject is refused before any
	// credential is added.
	before := e.rec.hostCount("mail.corp.example")
	r = e.do("POST", "http://mail.corp.example/EWS/Exchange.asmx", tkAlice, ewsSyncBody(tkBob), "Content-Type", "text/xml; charset=utf-8")
	if r.status != http.StatusForbidden || e.rec.hostCount("mail.corp.example") != before {
		t.Errorf("impersonating bob as alice: %d, reached %v", r.status, e.rec.hostCount("mail.corp.example") != before)
	}
	e.checkNoLeaks()
}

// loadGraphAndCalendar runs workers × per requests, cycling through Graph
// and both users' calendars, and fails on any non-200.
func loadGraphAndCalendar(t *testing.T, e *tokenEnv, workers, per int) {
	t.Helper()
	urls := []struct{ u, subject string }{
		{graphContactsURL(tkAlice), tkAlice}, {graphContactsURL(tkBob), tkBob},
		{calendarURL(tkAlice), tkAlice}, {calendarURL(tkBob), tkBob},
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*per)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				x := urls[(w+i)%len(urls)]
				r, err := e.try("GET", x.u, x.subject, "")
				if err == nil && r.status != 200 {
					err = fmt.Errorf("%s as %s: %d %s", x.u, x.subject, r.status, r.body)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
}

func TestTokenRotation(t *testing.T) {
	e := newTokenEnv(t, tokenEnvOpts{})
	counts := func() (graph, alice, bob, graphIdP, googleIdP int) {
		return e.okTokenRequests("graph-secret", ""), e.okTokenRequests("google-dwd", tkAlice), e.okTokenRequests("google-dwd", tkBob),
			e.rec.count(msTokenPath), e.rec.count(google.HostOAuth + "/token")
	}
	want := func(stage string, g, a, b int) {
		t.Helper()
		gg, ga, gb, gi, gi2 := counts()
		if gg != g || ga != a || gb != b || gi != g || gi2 != a+b {
			t.Fatalf("%s: token requests graph %d alice %d bob %d (IdPs saw %d, %d); want %d %d %d", stage, gg, ga, gb, gi, gi2, g, a, b)
		}
	}

	// Steady concurrent load from cold: one token per (credential, subject).
	loadGraphAndCalendar(t, e, 8, 50)
	want("cold load", 1, 1, 1)
	e.clk.Advance(30 * time.Minute)
	loadGraphAndCalendar(t, e, 8, 10)
	want("after 30 minutes", 1, 1, 1)
	e.clk.Advance(31 * time.Minute)
	loadGraphAndCalendar(t, e, 8, 10)
	want("after 61 minutes", 2, 2, 2)

	// Rotate the client secret the way `syncgate secrets rotate` does
	// from another process: a new store version, and the app registration
	// forgets the old secret. No restart.
	newSecret := randSecret(t, "graph-client-secret-v2")
	e.mustNotLeak(newSecret, "rotated graph client secret")
	other, err := vault.OpenFileStore(vault.StoreConfig{Backend: "file", Path: e.dir + "/secrets.enc", KeyFile: e.dir + "/secrets.key"}, vault.OpenOptions{})
	must(t, err)
	ver, err := other.Put(t.Context(), "graph/client-secret", []byte(newSecret), vault.NoCAS)
	must(t, err)
	must(t, e.ms.AddApp(microsoft.App{TenantID: tkTenant, ClientID: tkGraphClient, ClientSecret: newSecret}))
	// The cached token still works until it is due.
	if r := e.do("GET", graphContactsURL(tkAlice), tkAlice, ""); r.status != 200 {
		t.Fatalf("cached token after rotation: %d %s", r.status, r.body)
	}
	want("rotation, cached", 2, 2, 2)
	e.clk.Advance(61 * time.Minute)
	if r := e.do("GET", graphContactsURL(tkAlice), tkAlice, ""); r.status != 200 {
		t.Fatalf("after rotation: %d %s", r.status, r.body)
	}
	if n := e.okTokenRequests("graph-secret", ""); n != 3 {
		t.Fatalf("%d graph token requests after rotation, want 3", n)
	}
	rot := e.tokenEvents(vault.EventRotation, "graph-secret", "*")
	if len(rot) != 1 || rot[0].Detail["secret"] != "graph/client-secret" || rot[0].Detail["secret_version"] != fmt.Sprint(ver) || rot[0].Detail["prev_secret_version"] != fmt.Sprint(ver-1) {
		t.Errorf("rotation records: %+v", rot)
	}

	// A 401 from Graph (every token revoked) under concurrent requests:
	// exactly one refresh, and every request succeeds.
	e.ms.ExpireAllTokens()
	before := e.rec.count(msTokenPath)
	var wg sync.WaitGroup
	statuses := make(chan int, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.try("GET", graphContactsURL(tkAlice), tkAlice, "")
			if err != nil {
				t.Error(err)
				return
			}
			statuses <- r.status
		}()
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != 200 {
			t.Errorf("request after 401: %d", s)
		}
	}
	if n := e.rec.count(msTokenPath) - before; n != 1 {
		t.Errorf("%d token requests after the 401, want exactly 1", n)
	}
	if n := len(e.tokenEvents(vault.EventInvalidate, "graph-secret", "*")); n != 1 {
		t.Errorf("%d invalidations recorded, want 1", n)
	}
	e.checkNoLeaks()
}

// A token endpoint that refuses the credential: 503 with a reason, and the
// request never leaves without a credential.
func TestTokenEndpointRefuses(t *testing.T) {
	e := newTokenEnv(t, tokenEnvOpts{graphSecret: randSecret(t, "wrong-secret")})
	for range 2 {
		r := e.do("GET", graphContactsURL(tkAlice), tkAlice, "", "Authorization", "Bearer x")
		if r.status != http.StatusServiceUnavailable {
			t.Fatalf("status %d %s, want 503", r.status, r.body)
		}
		kind, reason := errorBody(t, r)
		if kind != "unavailable" || !strings.Contains(reason, "401") || !strings.Contains(reason, "invalid_client") {
			t.Errorf("error %q reason %q", kind, reason)
		}
	}
	if n := e.rec.hostCount(microsoft.GraphHost); n != 0 {
		t.Fatalf("graph reached %d times without a credential", n)
	}
	evs := e.tokenEvents(vault.EventToken, "graph-secret", "")
	if len(evs) == 0 || evs[0].Detail["outcome"] != "error" || evs[0].Detail["reason"] == "" {
		t.Errorf("failed token request not audited with a reason: %+v", evs)
	}
	e.checkNoLeaks()
}

// Secrets in Vault (the emulator over real TLS); Google assertions signed
// by a Transit key whose public half is what Google has registered. Then
// Vault goes away and comes back.
func TestTokenVaultTransitAndOutage(t *testing.T) {
	e := newTokenEnv(t, tokenEnvOpts{vault: true})
	signs := func() int {
		return e.vemu.Requests("PUT /v1/transit/sign/"+tkTransitKey) + e.vemu.Requests("POST /v1/transit/sign/"+tkTransitKey)
	}
	r := e.do("GET", calendarURL(tkAlice), tkAlice, "")
	if r.status != 200 || !strings.Contains(r.body, "Meeting of "+tkAlice) {
		t.Fatalf("calendar with a Transit-signed assertion: %d %s", r.status, r.body)
	}
	if signs() != 1 {
		t.Fatalf("transit signed %d times, want 1", signs())
	}
	if r := e.do("GET", graphContactsURL(tkAlice), tkAlice, ""); r.status != 200 {
		t.Fatalf("graph with the secret from Vault: %d %s", r.status, r.body)
	}

	// Google must check the Transit signature: with another key registered,
	// a new subject gets no token.
	sa := e.goog.ServiceAccounts()[0]
	good := sa.PublicKeyPEM
	_, otherPub, err := vault.GenerateKeyPEM("rsa")
	must(t, err)
	sa.PublicKeyPEM = string(otherPub)
	must(t, e.goog.AddServiceAccount(sa))
	if r := e.do("GET", calendarURL(tkBob), tkBob, ""); r.status != http.StatusServiceUnavailable {
		t.Fatalf("assertion checked against the wrong key: %d %s", r.status, r.body)
	}
	sa.PublicKeyPEM = good
	must(t, e.goog.AddServiceAccount(sa))
	// The refused subject is answered from the broker's negative cache
	// until its backoff (1 s at first) has passed.
	e.clk.Advance(2 * time.Second)
	if r := e.do("GET", calendarURL(tkBob), tkBob, ""); r.status != 200 {
		t.Fatalf("bob with the right key again: %d %s", r.status, r.body)
	}

	// Vault down: cached tokens keep working.
	e.vemu.SetDown(true)
	apiBefore := e.rec.hostCount(google.HostAPIs)
	for _, u := range []string{tkAlice, tkBob} {
		if r := e.do("GET", calendarURL(u), u, ""); r.status != 200 {
			t.Fatalf("cached token with Vault down (%s): %d %s", u, r.status, r.body)
		}
	}
	if r := e.do("GET", graphContactsURL(tkAlice), tkAlice, ""); r.status != 200 {
		t.Fatalf("cached graph token with Vault down: %d %s", r.status, r.body)
	}
	// Due for refresh but still valid: the refresh fails, the current
	// tokens stay in use.
	e.clk.Advance(57 * time.Minute)
	for _, u := range []string{tkAlice, tkBob} {
		if r := e.do("GET", calendarURL(u), u, ""); r.status != 200 {
			t.Fatalf("still-valid token with Vault down (%s): %d %s", u, r.status, r.body)
		}
	}
	if r := e.do("GET", graphContactsURL(tkAlice), tkAlice, ""); r.status != 200 {
		t.Fatalf("still-valid graph token with Vault down: %d %s", r.status, r.body)
	}
	if !strings.Contains(e.logs.String(), "keeping the current token") {
		t.Error("no refresh was attempted while Vault was down")
	}
	// Past expiry there is nothing to sign with: 503 with a reason, and
	// nothing goes upstream.
	e.clk.Advance(4 * time.Minute)
	apiBefore = e.rec.hostCount(google.HostAPIs)
	r = e.do("GET", calendarURL(tkAlice), tkAlice, "")
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("expired token with Vault down: %d %s", r.status, r.body)
	}
	if kind, reason := errorBody(t, r); kind != "unavailable" || !strings.Contains(reason, "credential unavailable") || !strings.Contains(reason, tkTransitKey) {
		t.Errorf("error %q reason %q", kind, reason)
	} else if strings.Contains(reason, "https://") || strings.Contains(reason, "127.0.0.1") || strings.Contains(reason, "\n") {
		// The reason reaches the client: no internal address, no Vault client dump.
		t.Errorf("reason exposes internals: %q", reason)
	}
	if e.rec.hostCount(google.HostAPIs) != apiBefore {
		t.Error("calendar reached without a credential")
	}
	// Vault returns: the first request after the broker's backoff
	// recovers, no restart.
	e.vemu.SetDown(false)
	e.clk.Advance(2 * time.Second)
	r = e.do("GET", calendarURL(tkAlice), tkAlice, "")
	if r.status != 200 || !strings.Contains(r.body, "Meeting of "+tkAlice) {
		t.Fatalf("after Vault returned: %d %s", r.status, r.body)
	}
	if signs() < 3 {
		t.Errorf("transit signed %d times, want at least 3", signs())
	}
	e.checkNoLeaks()
}

// The leak scenario: every flow, a refusal, a 401 refresh and a rotation in
// one gateway, then every log line, audit record, response body and the
// metrics page are searched for every secret, key and token.
func TestTokenNoLeaks(t *testing.T) {
	e := newTokenEnv(t, tokenEnvOpts{graphCred: "graph-cert"})
	basic := base64.StdEncoding.EncodeToString([]byte(tkEWSUser + ":" + e.ewsPassword))
	e.mustNotLeak(basic, "EWS basic credentials")
	ok := func(r gwResp) {
		t.Helper()
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	ok(e.do("GET", graphContactsURL(tkAlice), tkAlice, "", "Authorization", "Bearer x"))
	ok(e.do("GET", calendarURL(tkAlice), tkAlice, ""))
	ok(e.do("GET", calendarURL(tkBob), tkBob, ""))
	ok(e.do("GET", "http://corp.my.salesforce.com"+sfQueryPath, tkAlice, ""))
	ok(e.do("POST", "http://mail.corp.example/EWS/Exchange.asmx", tkAlice, ewsSyncBody(tkAlice), "Content-Type", "text/xml; charset=utf-8"))
	e.ms.ExpireAllTokens()
	ok(e.do("GET", graphContactsURL(tkAlice), tkAlice, ""))
	if r := e.do("GET", "http://"+tkSFOther+sfQueryPath, tkAlice, ""); r.status != http.StatusForbidden {
		t.Fatalf("other salesforce host: %d", r.status)
	}
	if r := e.do("GET", calendarURL("carol@corp.example"), "carol@corp.example", ""); r.status != http.StatusServiceUnavailable {
		t.Fatalf("unknown google subject: %d", r.status)
	}
	// A new key version for Salesforce that the connected app does not
	// know: the refusal must not carry the key either.
	newKey, _ := rsaCertPEM(t, "unregistered")
	e.mustNotLeakPEM(newKey, "unregistered salesforce key")
	_, err := e.store.Put(t.Context(), "salesforce/jwt-key", newKey, vault.NoCAS)
	must(t, err)
	e.clk.Advance(3 * time.Hour)
	if r := e.do("GET", "http://corp.my.salesforce.com"+sfQueryPath, tkAlice, ""); r.status != http.StatusServiceUnavailable {
		t.Fatalf("unregistered key: %d %s", r.status, r.body)
	}
	ok(e.do("GET", calendarURL(tkAlice), tkAlice, ""))

	issued := e.rec.issuedTokens()
	// graph ×2, google ×3 (alice twice), salesforce ×1.
	if len(issued) != 6 {
		t.Errorf("emulators issued %d tokens, want 6", len(issued))
	}
	// The log must be rich enough for the search to mean something.
	logs := e.logs.String()
	for _, want := range []string{"token obtained", "token invalidated", "token request failed", "secret rotated"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log has no %q line", want)
		}
	}
	e.checkNoLeaks()
}

// The leak check itself must find what it looks for: plant an issued token,
// a PEM line and a client secret where a careless log or error would put
// them.
func TestTokenLeakCheckFindsPlantedSecrets(t *testing.T) {
	e := newTokenEnv(t, tokenEnvOpts{})
	if r := e.do("GET", graphContactsURL(tkAlice), tkAlice, ""); r.status != 200 {
		t.Fatalf("graph: %d %s", r.status, r.body)
	}
	if l := e.leaks(); len(l) != 0 {
		t.Fatalf("leaks before planting: %v", l)
	}
	tok := e.rec.issuedTokens()[0]
	fmt.Fprintf(e.logs, `{"level":"debug","authorization":"Bearer %s"}`+"\n", tok)
	e.bodiesMu.Lock()
	e.bodies = append(e.bodies, `{"error":"unavailable","reason":"bad secret `+e.graphSecret+`"}`)
	e.bodiesMu.Unlock()
	got := strings.Join(e.leaks(), "\n")
	for _, want := range []string{"access token appears in the log", "graph client secret appears in the response body"} {
		if !strings.Contains(got, want) {
			t.Errorf("leak check missed: %s\nfound:\n%s", want, got)
		}
	}
}

// BenchmarkTokenInjectedGraphRequest: one Graph call through the gateway
// with a cached injected token (policy, injection, upstream TLS, audit with
// fsync always).
func BenchmarkTokenInjectedGraphRequest(b *testing.B) {
	e := newTokenEnv(b, tokenEnvOpts{})
	if r := e.do("GET", graphContactsURL(tkAlice), tkAlice, ""); r.status != 200 {
		b.Fatalf("warm-up: %d %s", r.status, r.body)
	}
	for b.Loop() {
		if r := e.do("GET", graphContactsURL(tkAlice), tkAlice, ""); r.status != 200 {
			b.Fatalf("%d %s", r.status, r.body)
		}
	}
	b.StopTimer()
	if n := e.okTokenRequests("graph-secret", ""); n != 1 {
		b.Fatalf("%d token requests during the benchmark, want 1", n)
	}
}
