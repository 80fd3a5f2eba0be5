package microsoft

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestGraphTokenChecks(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token()
	u := userURL(aliceID, "contacts")
	if r := e.do("GET", u, tok, nil); r.status != 200 {
		t.Fatalf("valid token: %d %s", r.status, r.raw)
	}
	t.Run("missing", func(t *testing.T) {
		r := e.do("GET", u, "", nil)
		checkGraphError(t, r, 401, "InvalidAuthenticationToken")
		if !strings.HasPrefix(r.h.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("401 without a Bearer challenge: %q", r.h.Get("WWW-Authenticate"))
		}
	})
	t.Run("not bearer", func(t *testing.T) {
		r := e.do("GET", u, "", nil, "Authorization", "Basic "+stdB64([]byte(clientA+":"+secretA)))
		checkGraphError(t, r, 401, "InvalidAuthenticationToken")
	})
	t.Run("unknown", func(t *testing.T) {
		r := e.do("GET", u, tok+"x", nil)
		checkGraphError(t, r, 401, "InvalidAuthenticationToken")
		if strings.Contains(string(r.raw), tok) {
			t.Fatal("401 body echoes the bearer token")
		}
	})
	t.Run("other tenant", func(t *testing.T) {
		tb := e.tokenFor(tenantB, clientB, secretB)
		checkGraphError(t, e.do("GET", u, tb, nil), 401, "InvalidAuthenticationToken")
		checkGraphError(t, e.do("GET", userURL(aliceUPN, "events"), tb, nil), 401, "InvalidAuthenticationToken")
		// Its own tenant's mailbox works.
		if r := e.do("GET", userURL(bobUPN, "contacts"), tb, nil); r.status != 200 {
			t.Fatalf("own tenant: %d %s", r.status, r.raw)
		}
	})
	t.Run("expired by clock", func(t *testing.T) {
		t2 := e.token()
		e.clk.Advance(3599 * time.Second)
		if r := e.do("GET", u, t2, nil); r.status != 200 {
			t.Fatalf("token still valid at 3599s: %d", r.status)
		}
		e.clk.Advance(2 * time.Second)
		r := e.do("GET", u, t2, nil)
		checkGraphError(t, r, 401, "InvalidAuthenticationToken")
		if !strings.Contains(r.str("error", "message"), "expired") {
			t.Fatalf("message %q does not say expired", r.str("error", "message"))
		}
	})
	t.Run("expire all tokens", func(t *testing.T) {
		t3 := e.token()
		e.s.ExpireAllTokens()
		checkGraphError(t, e.do("GET", u, t3, nil), 401, "InvalidAuthenticationToken")
		if r := e.do("GET", u, e.token(), nil); r.status != 200 {
			t.Fatalf("new token after expiry: %d", r.status)
		}
	})
}

func TestGraphUsersAndErrors(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token()
	r := e.do("GET", userURL(aliceUPN), tok, nil)
	if r.status != 200 || r.str("id") != aliceID || r.str("userPrincipalName") != aliceUPN {
		t.Fatalf("user by UPN: %d %s", r.status, r.raw)
	}
	if r := e.do("GET", userURL(strings.ToUpper(aliceUPN), "contacts"), tok, nil); r.status != 200 {
		t.Fatalf("UPN is case-insensitive: %d", r.status)
	}
	checkGraphError(t, e.do("GET", userURL("nobody@contoso.example", "events"), tok, nil), 404, "ErrorInvalidUser")
	checkGraphError(t, e.do("GET", userURL("nobody@contoso.example"), tok, nil), 404, "Request_ResourceNotFound")
	checkGraphError(t, e.do("GET", userURL(aliceID, "contacts", "not-an-id"), tok, nil), 400, "ErrorInvalidIdMalformed")
	checkGraphError(t, e.do("GET", userURL(aliceID, "contacts", "AAMkdoesnotexist"), tok, nil), 404, "ErrorItemNotFound")
	checkGraphError(t, e.do("GET", userURL(aliceID, "mailFolders"), tok, nil), 400, "BadRequest")
	checkGraphError(t, e.do("GET", "https://graph.microsoft.com/beta/users/"+aliceID+"/contacts", tok, nil), 400, "BadRequest")

	// client-request-id is echoed.
	r = e.do("GET", userURL(aliceID, "contacts", "AAMkx"), tok, nil, "client-request-id", "my-req-7")
	checkGraphError(t, r, 404, "ErrorItemNotFound")
	if r.str("error", "innerError", "client-request-id") != "my-req-7" || r.h.Get("client-request-id") != "my-req-7" {
		t.Fatalf("client-request-id not echoed: %s", r.raw)
	}

	// Unknown hosts get 404.
	for _, host := range []string{"outlook.office.com", "graph.microsoft.com.evil.example", "127.0.0.1:443"} {
		req := httptest.NewRequest("GET", "https://"+host+"/v1.0/users/"+aliceID+"/contacts", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		e.s.Handler().ServeHTTP(rec, req)
		if rec.Code != 404 {
			t.Fatalf("unknown host %s: %d", host, rec.Code)
		}
	}
	// The port is ignored when routing.
	req := httptest.NewRequest("GET", "https://graph.microsoft.com:443/v1.0/users/"+aliceID+"/contacts", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	e.s.Handler().ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("host with port: %d %s", rec.Code, rec.Body)
	}
}

func TestGraphPermissions(t *testing.T) {
	e := newEnv(t, Options{})
	ro := e.tokenFor(tenantA, clientRO, secretRO)
	if r := e.do("GET", userURL(aliceID, "contacts"), ro, nil); r.status != 200 {
		t.Fatalf("read with Contacts.Read: %d %s", r.status, r.raw)
	}
	checkGraphError(t, e.do("POST", userURL(aliceID, "contacts"), ro, map[string]any{"givenName": "X"}), 403, "ErrorAccessDenied")
	checkGraphError(t, e.do("POST", userURL(aliceID, "events"), ro, sampleEvent("x", "2026-11-23T10:00:00", "2026-11-23T11:00:00")), 403, "ErrorAccessDenied")
	checkGraphError(t, e.do("GET", userURL(aliceID), ro, nil), 403, "Authorization_RequestDenied")
	if c, _ := e.s.Contacts(aliceID); len(c) != 0 {
		t.Fatalf("denied write still stored %d contacts", len(c))
	}
}

func TestContactsCRUD(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token()
	base := userURL(aliceID, "contacts")
	r := e.do("POST", base, tok, map[string]any{
		"givenName": "Pavel", "surname": "Bansky", "companyName": "Fabrikam",
		"emailAddresses": []any{map[string]any{"address": "pavelb@fabrikam.example", "name": "Pavel Bansky"}},
		"businessPhones": []any{"+1 732 555 0102"},
	})
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	id, ck, et := r.str("id"), r.str("changeKey"), r.str("@odata.etag")
	if id == "" || ck == "" || et != `W/"`+ck+`"` || r.str("displayName") != "Pavel Bansky" {
		t.Fatalf("create response: %s", r.raw)
	}
	g := e.do("GET", base+"/"+id+"?$select=givenName,emailAddresses", tok, nil)
	if g.status != 200 || g.str("givenName") != "Pavel" || g.body["surname"] != nil || g.str("@odata.etag") != et || g.str("id") != id {
		t.Fatalf("get with $select: %s", g.raw)
	}
	if _, has := g.body["companyName"]; has {
		t.Fatalf("$select returned an unselected property: %s", g.raw)
	}
	checkGraphError(t, e.do("GET", base+"/"+id+"?$select=givenName,nosuchprop", tok, nil), 400, "BadRequest")

	p := e.do("PATCH", base+"/"+id, tok, map[string]any{"companyName": "Contoso"}, "If-Match", et)
	if p.status != 200 || p.str("companyName") != "Contoso" || p.str("givenName") != "Pavel" {
		t.Fatalf("patch: %d %s", p.status, p.raw)
	}
	if p.str("changeKey") == ck || p.str("@odata.etag") == et {
		t.Fatalf("changeKey did not change on update")
	}
	// The old etag is now stale.
	checkGraphError(t, e.do("PATCH", base+"/"+id, tok, map[string]any{"companyName": "X"}, "If-Match", et), 412, "ErrorIrresolvableConflict")
	checkGraphError(t, e.do("DELETE", base+"/"+id, tok, nil, "If-Match", et), 412, "ErrorIrresolvableConflict")
	if g := e.do("GET", base+"/"+id, tok, nil); g.str("companyName") != "Contoso" {
		t.Fatalf("conflicting update was applied: %s", g.raw)
	}
	checkGraphError(t, e.do("PATCH", base+"/"+id, tok, map[string]any{"nosuch": 1}), 400, "RequestBodyRead")
	checkGraphError(t, e.do("PATCH", base+"/"+id, tok, map[string]any{"givenName": 42}), 400, "RequestBodyRead")
	checkGraphError(t, e.do("POST", base, tok, `{"givenName":`), 400, "BadRequest")
	checkGraphError(t, e.do("POST", base, tok, map[string]any{"emailAddresses": []any{
		map[string]any{"address": "1@x"}, map[string]any{"address": "2@x"}, map[string]any{"address": "3@x"}, map[string]any{"address": "4@x"}}}), 400, "ErrorInvalidArgument")

	if d := e.do("DELETE", base+"/"+id, tok, nil, "If-Match", p.str("@odata.etag")); d.status != 204 {
		t.Fatalf("delete: %d %s", d.status, d.raw)
	}
	checkGraphError(t, e.do("GET", base+"/"+id, tok, nil), 404, "ErrorItemNotFound")
	checkGraphError(t, e.do("DELETE", base+"/"+id, tok, nil), 404, "ErrorItemNotFound")
}

func TestContactsListPaging(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token()
	for i := range 5 {
		if _, err := e.s.AddContact(aliceID, "", map[string]any{"givenName": fmt.Sprint("C", i)}); err != nil {
			t.Fatal(err)
		}
	}
	next := userURL(aliceID, "contacts") + "?$top=2&$select=givenName"
	var names []string
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		r := e.do("GET", next, tok, nil)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		for _, c := range r.list() {
			names = append(names, c["givenName"].(string))
		}
		next = r.str("@odata.nextLink")
	}
	if strings.Join(names, ",") != "C0,C1,C2,C3,C4" {
		t.Fatalf("paged names %v", names)
	}
	checkGraphError(t, e.do("GET", userURL(aliceID, "contacts")+"?$top=x", tok, nil), 400, "BadRequest")
}

// followDelta walks a delta round from start to its deltaLink.
func (e *env) followDelta(start, tok string, pageSize int) (items []map[string]any, pages int, deltaLink string) {
	e.t.Helper()
	next := start
	for next != "" {
		pages++
		if pages > 100 {
			e.t.Fatal("delta round does not end")
		}
		var hdr []string
		if pageSize > 0 {
			hdr = []string{"Prefer", fmt.Sprintf("odata.maxpagesize=%d", pageSize)}
		}
		r := e.do("GET", next, tok, nil, hdr...)
		if r.status != 200 {
			e.t.Fatalf("delta page %d: %d %s", pages, r.status, r.raw)
		}
		if pageSize > 0 && !strings.Contains(r.h.Get("Preference-Applied"), fmt.Sprintf("odata.maxpagesize=%d", pageSize)) {
			e.t.Fatalf("Preference-Applied %q", r.h.Get("Preference-Applied"))
		}
		v := r.list()
		if pageSize > 0 && len(v) > pageSize {
			e.t.Fatalf("page of %d items exceeds maxpagesize %d", len(v), pageSize)
		}
		items = append(items, v...)
		next = r.str("@odata.nextLink")
		if dl := r.str("@odata.deltaLink"); dl != "" {
			if next != "" {
				e.t.Fatal("page has both nextLink and deltaLink")
			}
			deltaLink = dl
		} else if next == "" {
			e.t.Fatal("page has neither nextLink nor deltaLink")
		}
	}
	return items, pages, deltaLink
}

func TestContactsDelta(t *testing.T) {
	e := newEnv(t, Options{DeltaTokenTTL: 24 * time.Hour})
	tok := e.token()
	folder, err := e.s.DefaultContactFolder(aliceID)
	must(t, err)
	other, err := e.s.AddContactFolder(aliceID, "Other")
	must(t, err)
	var ids []string
	for i := range 7 {
		c, err := e.s.AddContact(aliceID, folder, map[string]any{"givenName": fmt.Sprint("G", i), "surname": "S"})
		must(t, err)
		ids = append(ids, c["id"].(string))
	}
	if _, err := e.s.AddContact(aliceID, other, map[string]any{"givenName": "elsewhere"}); err != nil {
		t.Fatal(err)
	}
	start := userURL(aliceID, "contactFolders", folder, "contacts", "delta") + "?$select=givenName,surname"
	items, pages, dl := e.followDelta(start, tok, 3)
	if pages != 3 || len(items) != 7 {
		t.Fatalf("initial round: %d pages, %d items; want 3 and 7", pages, len(items))
	}
	seen := map[string]bool{}
	for _, it := range items {
		seen[it["id"].(string)] = true
		if _, has := it["companyName"]; has {
			t.Fatalf("$select not honoured in delta: %v", it)
		}
		if it["givenName"] == "elsewhere" {
			t.Fatal("contact of another folder in this folder's delta")
		}
	}
	for _, id := range ids {
		if !seen[id] {
			t.Fatalf("contact %s missing from initial round", id)
		}
	}
	if !strings.Contains(dl, "$deltatoken=") {
		t.Fatalf("deltaLink %q", dl)
	}

	// No changes: an empty round.
	items, _, dl2 := e.followDelta(dl, tok, 3)
	if len(items) != 0 {
		t.Fatalf("no changes, got %d items", len(items))
	}

	// Change one, delete one, add one (via Graph and via the admin methods).
	if _, err := e.s.UpdateContact(aliceID, ids[1], map[string]any{"surname": "Changed"}); err != nil {
		t.Fatal(err)
	}
	if r := e.do("DELETE", userURL(aliceID, "contacts", ids[2]), tok, nil); r.status != 204 {
		t.Fatalf("delete: %d", r.status)
	}
	nc := e.do("POST", userURL(aliceID, "contactFolders", folder, "contacts"), tok, map[string]any{"givenName": "New"})
	if nc.status != 201 {
		t.Fatalf("create in folder: %d %s", nc.status, nc.raw)
	}
	items, _, dl3 := e.followDelta(dl2, tok, 2)
	got := map[string]map[string]any{}
	for _, it := range items {
		got[it["id"].(string)] = it
	}
	if len(items) != 3 || len(got) != 3 {
		t.Fatalf("want exactly 3 changes, got %d: %v", len(items), items)
	}
	if got[ids[1]]["surname"] != "Changed" {
		t.Fatalf("updated contact: %v", got[ids[1]])
	}
	if rm, _ := got[ids[2]]["@removed"].(map[string]any); rm["reason"] != "deleted" {
		t.Fatalf("deleted contact: %v", got[ids[2]])
	}
	if got[nc.str("id")]["givenName"] != "New" {
		t.Fatalf("new contact: %v", got[nc.str("id")])
	}

	// An older deltaLink still replays from its own state.
	items, _, _ = e.followDelta(dl2, tok, 0)
	if len(items) != 3 {
		t.Fatalf("replaying an older deltaLink: %d items", len(items))
	}

	t.Run("stale token is 410", func(t *testing.T) {
		e.clk.Advance(25 * time.Hour)
		tok := e.token()
		checkGraphError(t, e.do("GET", dl3, tok, nil), 410, "SyncStateNotFound")
	})
	t.Run("invalidated token is 410", func(t *testing.T) {
		tok := e.token()
		_, _, dl := e.followDelta(start, tok, 0)
		r := e.do("GET", start, tok, nil, "Prefer", "odata.maxpagesize=2")
		next := r.str("@odata.nextLink")
		e.s.InvalidateDeltaTokens()
		checkGraphError(t, e.do("GET", dl, tok, nil), 410, "SyncStateNotFound")
		checkGraphError(t, e.do("GET", next, tok, nil), 410, "SyncStateNotFound")
		// A new round without a token works again.
		if items, _, _ := e.followDelta(start, tok, 0); len(items) != 7 {
			t.Fatalf("resync after invalidation: %d items", len(items))
		}
	})
	t.Run("garbage token is 410", func(t *testing.T) {
		u := userURL(aliceID, "contactFolders", folder, "contacts", "delta") + "?$deltatoken=" + url.QueryEscape("!!garbage")
		checkGraphError(t, e.do("GET", u, e.token(), nil), 410, "SyncStateInvalid")
	})
	t.Run("token of another mailbox or folder is 410", func(t *testing.T) {
		tok := e.token()
		_, _, dl := e.followDelta(start, tok, 0)
		q := dl[strings.Index(dl, "?"):]
		cf, _ := e.s.DefaultContactFolder(carolID)
		checkGraphError(t, e.do("GET", userURL(carolID, "contactFolders", cf, "contacts", "delta")+q, tok, nil), 410, "SyncStateNotFound")
		checkGraphError(t, e.do("GET", userURL(aliceID, "contactFolders", other, "contacts", "delta")+q, tok, nil), 410, "SyncStateNotFound")
	})
}
