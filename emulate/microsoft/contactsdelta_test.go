package microsoft

import (
	"strings"
	"testing"
	"time"
)

// TestContactsDeltaDefaultFolder: GET /users/{id}/contacts/delta, which the
// Graph SDKs generate from v1.0's API description, is the default contacts
// folder's delta: same items, same rounds, interchangeable tokens.
func TestContactsDeltaDefaultFolder(t *testing.T) {
	e := newEnv(t, Options{DeltaTokenTTL: 24 * time.Hour})
	tok := e.token()
	folder, err := e.s.DefaultContactFolder(aliceID)
	must(t, err)
	other, err := e.s.AddContactFolder(aliceID, "Other")
	must(t, err)
	var ids []string
	for _, n := range []string{"Ada", "Grace", "Edsger"} {
		c, err := e.s.AddContact(aliceID, folder, map[string]any{"givenName": n, "surname": "S"})
		must(t, err)
		ids = append(ids, c["id"].(string))
	}
	if _, err := e.s.AddContact(aliceID, other, map[string]any{"givenName": "elsewhere"}); err != nil {
		t.Fatal(err)
	}
	start := userURL(aliceUPN, "contacts", "delta") + "?$select=givenName"
	items, pages, dl := e.followDelta(start, tok, 2)
	if pages != 2 || len(items) != 3 {
		t.Fatalf("initial round: %d pages, %d items", pages, len(items))
	}
	for _, it := range items {
		if it["givenName"] == "elsewhere" {
			t.Fatal("another folder's contact in the default folder's delta")
		}
		if _, has := it["surname"]; has {
			t.Fatalf("$select not honoured: %v", it)
		}
	}
	if !strings.Contains(dl, "/v1.0/users/"+aliceUPN+"/contacts/delta?$deltatoken=") {
		t.Fatalf("deltaLink does not stay on /contacts/delta: %s", dl)
	}
	// The delta function also answers under its qualified names.
	for _, seg := range []string{"delta()", "microsoft.graph.delta"} {
		if r := e.do("GET", userURL(aliceID, "contacts", seg), tok, nil); r.status != 200 {
			t.Fatalf("contacts/%s: %d %s", seg, r.status, r.raw)
		}
	}

	// Changes show up in the next round, deletions as @removed.
	if _, err := e.s.UpdateContact(aliceID, ids[0], map[string]any{"surname": "Lovelace"}); err != nil {
		t.Fatal(err)
	}
	if r := e.do("DELETE", userURL(aliceID, "contacts", ids[1]), tok, nil); r.status != 204 {
		t.Fatalf("delete: %d", r.status)
	}
	items, _, dl2 := e.followDelta(dl, tok, 0)
	got := map[string]map[string]any{}
	for _, it := range items {
		got[it["id"].(string)] = it
	}
	if len(got) != 2 || got[ids[0]]["givenName"] != "Ada" {
		t.Fatalf("second round: %v", items)
	}
	if rm, _ := got[ids[1]]["@removed"].(map[string]any); rm["reason"] != "deleted" {
		t.Fatalf("removed contact: %v", got[ids[1]])
	}

	// A token of /contacts/delta continues on the default folder's delta and
	// back; the other folder refuses it.
	q := dl2[strings.Index(dl2, "?"):]
	if r := e.do("GET", userURL(aliceID, "contactFolders", folder, "contacts", "delta")+q, tok, nil); r.status != 200 || len(r.list()) != 0 {
		t.Fatalf("default folder with a /contacts/delta token: %d %s", r.status, r.raw)
	}
	checkGraphError(t, e.do("GET", userURL(aliceID, "contactFolders", other, "contacts", "delta")+q, tok, nil), 410, "SyncStateNotFound")
	_, _, fdl := e.followDelta(userURL(aliceID, "contactFolders", folder, "contacts", "delta"), tok, 0)
	if r := e.do("GET", userURL(aliceID, "contacts", "delta")+fdl[strings.Index(fdl, "?"):], tok, nil); r.status != 200 {
		t.Fatalf("/contacts/delta with a folder token: %d %s", r.status, r.raw)
	}
	// It is a function: GET only.
	if r := e.do("POST", userURL(aliceID, "contacts", "delta"), tok, map[string]any{}); r.status != 405 {
		t.Fatalf("POST contacts/delta: %d", r.status)
	}
}
