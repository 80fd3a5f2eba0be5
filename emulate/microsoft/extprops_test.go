package microsoft

import (
	"net/url"
	"testing"
)

const (
	extKeyID   = "String {2f98f854-a3ff-4ae6-b70a-fc40b568f277} Name SyncgateKey"
	extOtherID = "String {2f98f854-a3ff-4ae6-b70a-fc40b568f277} Name Other"
)

func extList(pairs ...string) []any {
	var out []any
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, map[string]any{"id": pairs[i], "value": pairs[i+1]})
	}
	return out
}

func expandQ(ids ...string) string {
	f := ""
	for i, id := range ids {
		if i > 0 {
			f += " or "
		}
		f += "id eq '" + id + "'"
	}
	return "$expand=" + url.QueryEscape("singleValueExtendedProperties($filter="+f+")")
}

func filterQ(f string) string { return "$filter=" + url.QueryEscape(f) }

// extOf returns the expanded properties of a rendered item by id.
func extOf(m map[string]any) map[string]string {
	out := map[string]string{}
	list, _ := m["singleValueExtendedProperties"].([]any)
	for _, x := range list {
		p := x.(map[string]any)
		out[p["id"].(string)] = p["value"].(string)
	}
	return out
}

func TestExtendedPropertiesOnContactsAndEvents(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token()
	kinds := []struct {
		name string
		coll string
		body func() map[string]any
	}{
		{"contacts", "contacts", func() map[string]any { return map[string]any{"givenName": "Ann"} }},
		{"events", "events", func() map[string]any {
			return sampleEvent("Plan", "2026-11-23T10:00:00", "2026-11-23T11:00:00")
		}},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			base := userURL(aliceID, k.coll)
			b := k.body()
			b["singleValueExtendedProperties"] = extList(extKeyID, "Key-1", extOtherID, "x")
			r := e.do("POST", base, tok, b)
			if r.status != 201 {
				t.Fatalf("create with extended properties: %d %s", r.status, r.raw)
			}
			if _, ok := r.body["singleValueExtendedProperties"]; ok {
				t.Fatalf("create response carries the extended properties: %s", r.raw)
			}
			id, et := r.str("id"), r.str("@odata.etag")
			plain := e.do("POST", base, tok, k.body())
			if plain.status != 201 {
				t.Fatalf("create without: %d %s", plain.status, plain.raw)
			}

			// GET without $expand: not returned; with it: only the asked ones.
			g := e.do("GET", base+"/"+id, tok, nil)
			if _, ok := g.body["singleValueExtendedProperties"]; ok {
				t.Fatalf("GET without $expand returned extended properties: %s", g.raw)
			}
			g = e.do("GET", base+"/"+id+"?"+expandQ(extKeyID), tok, nil)
			if got := extOf(g.body); len(got) != 1 || got[extKeyID] != "Key-1" {
				t.Fatalf("$expand key: %v (%s)", got, g.raw)
			}
			// The GUID and type compare case-insensitively.
			g = e.do("GET", base+"/"+id+"?"+expandQ("string {2F98F854-A3FF-4AE6-B70A-FC40B568F277} Name SyncgateKey", extOtherID), tok, nil)
			if got := extOf(g.body); len(got) != 2 {
				t.Fatalf("$expand two ids: %v (%s)", got, g.raw)
			}
			// The name is case-sensitive: nothing matches, nothing rendered.
			g = e.do("GET", base+"/"+id+"?"+expandQ("String {2f98f854-a3ff-4ae6-b70a-fc40b568f277} Name syncgatekey"), tok, nil)
			if _, ok := g.body["singleValueExtendedProperties"]; ok || g.status != 200 {
				t.Fatalf("name compared case-insensitively: %d %s", g.status, g.raw)
			}

			// $filter on the list.
			cases := []struct {
				filter string
				want   int
			}{
				{"singleValueExtendedProperties/Any(ep: ep/id eq '" + extKeyID + "' and ep/value eq 'Key-1')", 1},
				{"singleValueExtendedProperties/any(ep:ep/Id eq '" + extKeyID + "' and ep/Value eq 'key-1')", 1}, // value case-insensitive
				{"singleValueExtendedProperties/Any(ep: ep/id eq '" + extKeyID + "' and ep/value eq 'Key-2')", 0},
				{"singleValueExtendedProperties/Any(ep: ep/id eq '" + extKeyID + "' and ep/value ne 'Key-2')", 1},
				{"singleValueExtendedProperties/Any(x: x/id eq '" + extKeyID + "' and startswith(x/value, 'Key'))", 1},
				{"singleValueExtendedProperties/Any(x: x/id eq '" + extKeyID + "' and contains(x/value, 'y-'))", 1},
				{"singleValueExtendedProperties/Any(ep: ep/id eq '" + extKeyID + "')", 1},
			}
			for _, c := range cases {
				l := e.do("GET", base+"?"+filterQ(c.filter)+"&"+expandQ(extKeyID), tok, nil)
				if l.status != 200 || len(l.list()) != c.want {
					t.Fatalf("%s: %d items (status %d), want %d: %s", c.filter, len(l.list()), l.status, c.want, l.raw)
				}
				if c.want == 1 && (l.list()[0]["id"] != id || extOf(l.list()[0])[extKeyID] != "Key-1") {
					t.Fatalf("%s: wrong item or no expanded key: %s", c.filter, l.raw)
				}
			}
			if l := e.do("GET", base, tok, nil); len(l.list()) != 2 {
				t.Fatalf("unfiltered list: %s", l.raw)
			}

			// PATCH adds or replaces a property and moves the change key.
			p := e.do("PATCH", base+"/"+id, tok, map[string]any{"singleValueExtendedProperties": extList(extKeyID, "Key-2")}, "If-Match", et)
			if p.status != 200 || p.str("@odata.etag") == et {
				t.Fatalf("patch: %d %s", p.status, p.raw)
			}
			g = e.do("GET", base+"/"+id+"?"+expandQ(extKeyID, extOtherID), tok, nil)
			if got := extOf(g.body); got[extKeyID] != "Key-2" || got[extOtherID] != "x" {
				t.Fatalf("after patch: %v", got)
			}
			// A failed (stale) PATCH changes nothing.
			checkGraphError(t, e.do("PATCH", base+"/"+id, tok, map[string]any{"singleValueExtendedProperties": extList(extKeyID, "lost")}, "If-Match", et), 412, "ErrorIrresolvableConflict")
			g = e.do("GET", base+"/"+id+"?"+expandQ(extKeyID), tok, nil)
			if extOf(g.body)[extKeyID] != "Key-2" {
				t.Fatalf("stale patch wrote the property: %s", g.raw)
			}
			// Delta never carries them.
			if k.name == "contacts" {
				folder, _ := e.s.DefaultContactFolder(aliceID)
				d := e.do("GET", userURL(aliceID, "contactFolders", folder, "contacts", "delta"), tok, nil)
				for _, it := range d.list() {
					if _, ok := it["singleValueExtendedProperties"]; ok {
						t.Fatalf("delta carries extended properties: %s", d.raw)
					}
				}
			}
		})
	}
}

func TestExtendedPropertiesRejected(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token()
	base := userURL(aliceID, "contacts")
	bad := map[string]any{
		"unknown type":  extList("Text {2f98f854-a3ff-4ae6-b70a-fc40b568f277} Name X", "v"),
		"bad guid":      extList("String {2f98f854-a3ff} Name X", "v"),
		"no name":       extList("String {2f98f854-a3ff-4ae6-b70a-fc40b568f277} Name", "v"),
		"bad proptag":   extList("String 0x12", "v"),
		"value missing": []any{map[string]any{"id": extKeyID}},
		"not a list":    map[string]any{"id": extKeyID, "value": "v"},
	}
	for name, v := range bad {
		t.Run(name, func(t *testing.T) {
			r := e.do("POST", base, tok, map[string]any{"givenName": "x", "singleValueExtendedProperties": v})
			if r.status != 400 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			checkGraphError(t, r, 400, r.str("error", "code"))
		})
	}
	if cs, _ := e.s.Contacts(aliceID); len(cs) != 0 {
		t.Fatalf("rejected contacts stored: %d", len(cs))
	}
	// The documented forms are accepted.
	ok := extList("Integer {2f98f854-a3ff-4ae6-b70a-fc40b568f277} Id 0x8012", "12", "String 0x4001001E", "tag")
	if r := e.do("POST", base, tok, map[string]any{"givenName": "x", "singleValueExtendedProperties": ok}); r.status != 201 {
		t.Fatalf("documented id forms: %d %s", r.status, r.raw)
	}
	checkGraphError(t, e.do("GET", base+"?"+expandQ("Text {x} Name Y"), tok, nil), 400, "ErrorInvalidExtendedProperty")
	// Filters and expansions the emulator does not implement are refused,
	// never ignored (an ignored filter would match every item).
	for _, q := range []string{
		filterQ("givenName eq 'x'"),
		filterQ("singleValueExtendedProperties/Any(ep: ep/id eq '" + extKeyID + "' and ep/value gt 'a')"),
		filterQ("singleValueExtendedProperties/Any(ep: ep/id eq '" + extKeyID + "'"),
		"$expand=attachments",
	} {
		checkGraphError(t, e.do("GET", base+"?"+q, tok, nil), 400, "BadRequest")
	}
}

func TestExtendedPropertyOnDuplicateTransactionID(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token()
	base := userURL(aliceID, "events")
	b := sampleEvent("Once", "2026-11-23T10:00:00", "2026-11-23T11:00:00")
	b["transactionId"] = "txn-1"
	b["singleValueExtendedProperties"] = extList(extKeyID, "first")
	first := e.do("POST", base, tok, b)
	b = sampleEvent("Once", "2026-11-23T10:00:00", "2026-11-23T11:00:00")
	b["transactionId"] = "txn-1"
	b["singleValueExtendedProperties"] = extList(extKeyID, "second")
	again := e.do("POST", base, tok, b)
	if first.str("id") == "" || again.str("id") != first.str("id") {
		t.Fatalf("retried create made a second event: %s / %s", first.raw, again.raw)
	}
	g := e.do("GET", base+"/"+first.str("id")+"?"+expandQ(extKeyID), tok, nil)
	if extOf(g.body)[extKeyID] != "first" {
		t.Fatalf("a retried create overwrote the first event's property: %s", g.raw)
	}
}
