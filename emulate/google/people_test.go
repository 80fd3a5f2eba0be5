package google

import (
	"net/url"
	"testing"
	"time"
)

const connections = PeopleBase + "v1/people/me/connections"

func person(given, family, email string) map[string]any {
	return map[string]any{
		"names":          []any{map[string]any{"givenName": given, "familyName": family}},
		"emailAddresses": []any{map[string]any{"value": email}},
	}
}

func conns(t *testing.T, r result) []map[string]any {
	t.Helper()
	var out []map[string]any
	raw, _ := r.body["connections"].([]any)
	for _, c := range raw {
		out = append(out, c.(map[string]any))
	}
	return out
}

// walk pages through connections.list and returns people and the sync token.
func (e *env) walk(tok, query string) ([]map[string]any, string, int) {
	e.t.Helper()
	var all []map[string]any
	pt, pages := "", 0
	for {
		u := connections + "?" + query
		if pt != "" {
			u += "&pageToken=" + url.QueryEscape(pt)
		}
		r := e.do("GET", u, tok, nil)
		if r.code != 200 {
			e.t.Fatalf("connections %s: %d %s", u, r.code, r.raw)
		}
		pages++
		raw, _ := r.body["connections"].([]any)
		for _, c := range raw {
			all = append(all, c.(map[string]any))
		}
		next, ok := r.body["nextPageToken"].(string)
		if !ok {
			st, _ := r.body["nextSyncToken"].(string)
			return all, st, pages
		}
		pt = next
	}
}

func TestPersonFieldsRequired(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(alice, ScopeContacts)
	for _, q := range []string{"", "personFields=", "personFields=names,shoeSize"} {
		r := e.do("GET", connections+"?"+q, tok, nil)
		if code, status, _, _ := gerr(t, r); r.code != 400 || code != 400 || status != "INVALID_ARGUMENT" {
			t.Fatalf("%q: %d %s", q, r.code, r.raw)
		}
		if _, has := r.body["error"].(map[string]any)["errors"]; has {
			t.Fatal("People errors carry no legacy errors array")
		}
	}
	if r := e.do("GET", connections+"?personFields=names&pageSize=1001", tok, nil); r.code != 400 {
		t.Fatalf("pageSize over 1000: %d", r.code)
	}
}

func TestContactLifecycleAndSync(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(alice, ScopeContacts)
	var names []string
	for _, n := range []string{"Ada", "Grace", "Linus", "Ken", "Barbara"} {
		r := e.do("POST", PeopleBase+"v1/people:createContact?personFields=names,emailAddresses,metadata", tok, person(n, "X", n+"@example.com"))
		if r.code != 200 {
			t.Fatalf("create: %d %s", r.code, r.raw)
		}
		rn := r.body["resourceName"].(string)
		if r.body["etag"] == "" || len(rn) < 9 || rn[:8] != "people/c" {
			t.Fatalf("create response: %s", r.raw)
		}
		names = append(names, rn)
	}
	e.do("POST", PeopleBase+"v1/people:createContact", e.token(bob, ScopeContacts), person("Bob's", "Friend", "f@example.com"))

	all, syncTok, pages := e.walk(tok, "personFields=names&pageSize=2&requestSyncToken=true")
	if len(all) != 5 || pages != 3 || syncTok == "" {
		t.Fatalf("full sync: %d people, %d pages, token %q", len(all), pages, syncTok)
	}
	for _, p := range all {
		if p["emailAddresses"] != nil {
			t.Fatalf("personFields=names returned other fields: %v", p)
		}
	}
	if _, st, _ := e.walk(tok, "personFields=names"); st != "" {
		t.Fatal("sync token without requestSyncToken")
	}

	// get, then update with the current etag, then with the stale one.
	g := e.do("GET", PeopleBase+"v1/"+names[0]+"?personFields=names,emailAddresses", tok, nil)
	if g.code != 200 || g.body["emailAddresses"] == nil {
		t.Fatalf("get: %d %s", g.code, g.raw)
	}
	etag := g.body["etag"].(string)
	upd := person("Ada", "Lovelace", "ada@example.com")
	upd["etag"] = etag
	u := e.do("PATCH", PeopleBase+"v1/"+names[0]+":updateContact?updatePersonFields=names", tok, upd)
	if u.code != 200 || u.body["etag"] == etag {
		t.Fatalf("update: %d %s", u.code, u.raw)
	}
	gotName := u.body["names"].([]any)[0].(map[string]any)
	if gotName["familyName"] != "Lovelace" || gotName["displayName"] != "Ada Lovelace" {
		t.Fatalf("updated name: %v", gotName)
	}
	if em := u.body["emailAddresses"].([]any)[0].(map[string]any)["value"]; em != "Ada@example.com" {
		t.Fatalf("field outside updatePersonFields changed: %v", em)
	}
	stale := e.do("PATCH", PeopleBase+"v1/"+names[0]+":updateContact?updatePersonFields=names", tok, upd)
	if _, status, _, _ := gerr(t, stale); stale.code != 400 || status != "FAILED_PRECONDITION" {
		t.Fatalf("stale etag: %d %s", stale.code, stale.raw)
	}
	noEtag := e.do("PATCH", PeopleBase+"v1/"+names[0]+":updateContact?updatePersonFields=names", tok, person("A", "B", "c@d"))
	if _, status, _, _ := gerr(t, noEtag); noEtag.code != 400 || status != "INVALID_ARGUMENT" {
		t.Fatalf("missing etag: %d %s", noEtag.code, noEtag.raw)
	}
	upd["etag"] = u.body["etag"]
	if r := e.do("PATCH", PeopleBase+"v1/"+names[0]+":updateContact", tok, upd); r.code != 400 {
		t.Fatalf("missing updatePersonFields: %d", r.code)
	}
	if r := e.do("PATCH", PeopleBase+"v1/"+names[0]+":updateContact?updatePersonFields=metadata", tok, upd); r.code != 400 {
		t.Fatalf("non-updatable field: %d", r.code)
	}
	// Delete one; bob cannot touch alice's contacts.
	if r := e.do("DELETE", PeopleBase+"v1/"+names[1]+":deleteContact", e.token(bob, ScopeContacts), nil); r.code != 404 {
		t.Fatalf("bob deletes alice's contact: %d", r.code)
	}
	if r := e.do("DELETE", PeopleBase+"v1/"+names[1]+":deleteContact", tok, nil); r.code != 200 {
		t.Fatalf("delete: %d %s", r.code, r.raw)
	}
	if r := e.do("GET", PeopleBase+"v1/"+names[1]+"?personFields=names", tok, nil); r.code != 404 {
		t.Fatalf("get deleted: %d", r.code)
	}
	if r := e.do("GET", PeopleBase+"v1/"+names[2], tok, nil); r.code != 400 {
		t.Fatalf("get without personFields: %d", r.code)
	}

	changes, next, _ := e.walk(tok, "personFields=names&requestSyncToken=true&syncToken="+url.QueryEscape(syncTok))
	byRN := map[string]map[string]any{}
	for _, c := range changes {
		byRN[c["resourceName"].(string)] = c
	}
	if len(byRN) != 2 || byRN[names[0]] == nil || byRN[names[1]] == nil || next == "" {
		t.Fatalf("incremental: %v", changes)
	}
	if md, _ := byRN[names[1]]["metadata"].(map[string]any); md == nil || md["deleted"] != true {
		t.Fatalf("deleted contact without metadata.deleted: %v", byRN[names[1]])
	}
	if md, _ := byRN[names[0]]["metadata"].(map[string]any); md != nil && md["deleted"] == true {
		t.Fatal("updated contact marked deleted")
	}
	full, _, _ := e.walk(tok, "personFields=names")
	if len(full) != 4 {
		t.Fatalf("full list after delete: %d", len(full))
	}
}

func TestPeopleSyncTokenExpiry(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(alice, ScopeContacts)
	e.do("POST", PeopleBase+"v1/people:createContact", tok, person("A", "B", "a@b"))
	_, st, _ := e.walk(tok, "personFields=names&requestSyncToken=true")
	q := "personFields=names&requestSyncToken=true&syncToken=" + url.QueryEscape(st)
	expired := func(label string) {
		t.Helper()
		r := e.do("GET", connections+"?"+q, e.token(alice, ScopeContacts), nil)
		code, status, reason, _ := gerr(t, r)
		if r.code != 400 || code != 400 || status != "FAILED_PRECONDITION" || reason != "EXPIRED_SYNC_TOKEN" {
			t.Fatalf("%s: %d %s", label, r.code, r.raw)
		}
	}
	e.clk.Advance(7*24*time.Hour - time.Minute)
	if _, st2, _ := e.walk(e.token(alice, ScopeContacts), q); st2 == "" {
		t.Fatal("no token from an incremental sync within 7 days")
	}
	e.clk.Advance(2 * time.Minute)
	expired("7 days after the full sync")

	// A fresh full sync recovers; a server-side invalidation expires it too.
	tok = e.token(alice, ScopeContacts)
	_, st, _ = e.walk(tok, "personFields=names&requestSyncToken=true")
	q = "personFields=names&requestSyncToken=true&syncToken=" + url.QueryEscape(st)
	if r := e.do("GET", connections+"?"+q, tok, nil); r.code != 200 {
		t.Fatalf("fresh token: %d %s", r.code, r.raw)
	}
	if err := e.srv.InvalidateSyncTokens(""); err != nil {
		t.Fatal(err)
	}
	expired("invalidated")

	if r := e.do("GET", connections+"?personFields=names&syncToken=garbage", tok, nil); r.code != 400 {
		t.Fatalf("garbage sync token: %d", r.code)
	}
	// A page token of one user is refused for another.
	for i := 0; i < 3; i++ {
		e.do("POST", PeopleBase+"v1/people:createContact", tok, person("P", "Q", "p@q"))
	}
	r := e.do("GET", connections+"?personFields=names&pageSize=1", tok, nil)
	pt := url.QueryEscape(r.body["nextPageToken"].(string))
	if r := e.do("GET", connections+"?personFields=names&pageSize=1&pageToken="+pt, e.token(bob, ScopeContacts), nil); r.code != 400 {
		t.Fatalf("bob with alice's page token: %d", r.code)
	}
	if r := e.do("GET", connections+"?personFields=emailAddresses&pageSize=1&pageToken="+pt, tok, nil); r.code != 400 {
		t.Fatalf("page token with changed personFields: %d", r.code)
	}
}

func TestPeopleSortOrders(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(alice, ScopeContacts)
	for _, n := range []string{"Carol", "Alice", "Bob"} {
		e.do("POST", PeopleBase+"v1/people:createContact", tok, person(n, "Z"+n, n+"@x"))
	}
	first := func(q string) string {
		all, _, _ := e.walk(tok, "personFields=names&"+q)
		return all[0]["names"].([]any)[0].(map[string]any)["givenName"].(string)
	}
	for q, want := range map[string]string{"": "Carol", "sortOrder=LAST_MODIFIED_DESCENDING": "Bob", "sortOrder=FIRST_NAME_ASCENDING": "Alice"} {
		if got := first(q); got != want {
			t.Fatalf("%q: first is %s, want %s", q, got, want)
		}
	}
}
