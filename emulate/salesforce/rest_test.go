package salesforce

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const v = "/services/data/v62.0"

func TestContactCRUD(t *testing.T) {
	e := newEnv(t, Options{})
	e.login(t)
	r := e.do(t, "POST", v+"/sobjects/Contact", map[string]any{"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com"})
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	cr := r.json(t)
	id, _ := cr["id"].(string)
	if len(id) != 18 || !strings.HasPrefix(id, "003") || cr["success"] != true {
		t.Fatalf("create response %v", cr)
	}
	if errs, ok := cr["errors"].([]any); !ok || len(errs) != 0 {
		t.Fatalf("errors = %v", cr["errors"])
	}

	got := e.do(t, "GET", v+"/sobjects/Contact/"+id+"?fields=Id,Name,Email,LastModifiedDate", nil).json(t)
	if got["Name"] != "Ada Lovelace" || got["Email"] != "ada@example.com" || got["Id"] != id {
		t.Fatalf("get: %v", got)
	}
	if _, ok := got["Phone"]; ok {
		t.Fatal("?fields= returned an unrequested field")
	}
	created := got["LastModifiedDate"].(string)
	if created != "2026-03-02T09:00:00.000+0000" {
		t.Fatalf("LastModifiedDate = %s", created)
	}
	// the 15-character id addresses the same record
	if r := e.do(t, "GET", v+"/sobjects/Contact/"+id[:15], nil); r.status != 200 {
		t.Fatalf("15-char id: %d", r.status)
	}

	e.clk.Advance(5 * time.Minute)
	if r := e.do(t, "PATCH", v+"/sobjects/Contact/"+id, map[string]any{"Phone": "+1 555 0100", "Email": nil}); r.status != 204 || len(r.body) != 0 {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	full := e.do(t, "GET", v+"/sobjects/Contact/"+id, nil).json(t)
	if full["Phone"] != "+1 555 0100" || full["Email"] != nil {
		t.Fatalf("after patch: %v", full)
	}
	if full["CreatedDate"] != created || full["LastModifiedDate"] != "2026-03-02T09:05:00.000+0000" || full["SystemModstamp"] != full["LastModifiedDate"] || full["IsDeleted"] != false {
		t.Fatalf("system fields after patch: %v", full)
	}
	if attrs, _ := full["attributes"].(map[string]any); attrs["type"] != "Contact" || attrs["url"] != v+"/sobjects/Contact/"+id {
		t.Fatalf("attributes = %v", full["attributes"])
	}

	if r := e.do(t, "DELETE", v+"/sobjects/Contact/"+id, nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	for _, m := range []string{"GET", "PATCH", "DELETE"} {
		r := e.do(t, m, v+"/sobjects/Contact/"+id, map[string]any{"Phone": "1"})
		if m == "DELETE" {
			r = e.do(t, m, v+"/sobjects/Contact/"+id, nil)
		}
		if r.status != 404 || r.errCode(t) != "ENTITY_IS_DELETED" {
			t.Fatalf("%s deleted: %d %s", m, r.status, r.body)
		}
	}
	recs, _ := e.srv.Records("Contact")
	if len(recs) != 1 || !recs[0].Deleted {
		t.Fatalf("store after delete: %+v", recs)
	}
}

func TestSObjectErrors(t *testing.T) {
	e := newEnv(t, Options{})
	e.login(t)
	tests := []struct {
		name, method, path string
		body               any
		status             int
		code               string
		fields             []string
	}{
		{"missing LastName", "POST", "/sobjects/Contact", map[string]any{"FirstName": "X"}, 400, "REQUIRED_FIELD_MISSING", []string{"LastName"}},
		{"lead missing company", "POST", "/sobjects/Lead", map[string]any{"LastName": "X"}, 400, "REQUIRED_FIELD_MISSING", []string{"Company"}},
		{"unknown field", "POST", "/sobjects/Contact", map[string]any{"LastName": "X", "Shoe__c": 1}, 400, "INVALID_FIELD", nil},
		{"read-only field", "POST", "/sobjects/Contact", map[string]any{"LastName": "X", "CreatedDate": "2020-01-01T00:00:00Z"}, 400, "INVALID_FIELD_FOR_INSERT_UPDATE", []string{"CreatedDate"}},
		{"wrong type", "POST", "/sobjects/Contact", map[string]any{"LastName": 7}, 400, "JSON_PARSER_ERROR", nil},
		{"not json", "POST", "/sobjects/Contact", "nope", 400, "JSON_PARSER_ERROR", nil},
		{"unknown record", "GET", "/sobjects/Contact/003000000000000AAA", nil, 404, "NOT_FOUND", nil},
		{"malformed id", "GET", "/sobjects/Contact/xyz", nil, 400, "MALFORMED_ID", nil},
		{"id of other type", "GET", "/sobjects/Lead/003000000000000AAA", nil, 404, "NOT_FOUND", nil},
		{"unknown object", "GET", "/sobjects/Shoe__c/003000000000000AAA", nil, 404, "NOT_FOUND", nil},
		{"bad fields param", "GET", "/sobjects/Contact/003000000000000AAA?fields=Nope", nil, 400, "INVALID_FIELD", nil},
		{"bad owner", "POST", "/sobjects/Contact", map[string]any{"LastName": "X", "OwnerId": "005000000000000AAA"}, 400, "INVALID_CROSS_REFERENCE_KEY", []string{"OwnerId"}},
		{"relation to missing event", "POST", "/sobjects/EventRelation", map[string]any{"EventId": "00U000000000000AAA", "RelationId": "003000000000000AAA"}, 400, "INVALID_CROSS_REFERENCE_KEY", nil},
		{"event without end", "POST", "/sobjects/Event", map[string]any{"Subject": "x", "StartDateTime": "2026-03-03T10:00:00Z"}, 400, "REQUIRED_FIELD_MISSING", []string{"EndDateTime"}},
		{"event ends before start", "POST", "/sobjects/Event", map[string]any{"StartDateTime": "2026-03-03T10:00:00Z", "EndDateTime": "2026-03-03T09:00:00Z"}, 400, "FIELD_INTEGRITY_EXCEPTION", nil},
		{"method", "PUT", "/sobjects/Contact/003000000000000AAA", nil, 405, "METHOD_NOT_ALLOWED", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, tc.method, v+tc.path, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d %s, want %d", r.status, r.body, tc.status)
			}
			var errs []apiError
			if err := json.Unmarshal(r.body, &errs); err != nil || len(errs) != 1 {
				t.Fatalf("body %s is not a one-element error array", r.body)
			}
			if errs[0].ErrorCode != tc.code || errs[0].Message == "" || fmt.Sprint(errs[0].Fields) != fmt.Sprint(tc.fields) && tc.fields != nil {
				t.Fatalf("got %+v, want %s %v", errs[0], tc.code, tc.fields)
			}
		})
	}
	if recs, _ := e.srv.Records("Contact"); len(recs) != 0 {
		t.Fatalf("failed creates stored %d records", len(recs))
	}
}

func TestEventsAndRelations(t *testing.T) {
	e := newEnv(t, Options{})
	e.login(t)
	c := e.do(t, "POST", v+"/sobjects/Contact", map[string]any{"LastName": "Guest"}).json(t)["id"].(string)
	r := e.do(t, "POST", v+"/sobjects/Event", map[string]any{"Subject": "QBR", "StartDateTime": "2026-03-05T14:00:00.000+0000", "EndDateTime": "2026-03-05T15:30:00.000+0000", "Location": "Room 1", "WhoId": c})
	if r.status != 201 {
		t.Fatalf("create event: %d %s", r.status, r.body)
	}
	ev := r.json(t)["id"].(string)
	got := e.do(t, "GET", v+"/sobjects/Event/"+ev, nil).json(t)
	if got["DurationInMinutes"] != float64(90) || got["ActivityDateTime"] != "2026-03-05T14:00:00.000+0000" || got["ActivityDate"] != "2026-03-05" || got["IsAllDayEvent"] != false {
		t.Fatalf("event derived fields: %v", got)
	}
	// moving the start keeps the duration
	e.do(t, "PATCH", v+"/sobjects/Event/"+ev, map[string]any{"StartDateTime": "2026-03-06T08:00:00Z"})
	got = e.do(t, "GET", v+"/sobjects/Event/"+ev+"?fields=EndDateTime", nil).json(t)
	if got["EndDateTime"] != "2026-03-06T09:30:00.000+0000" {
		t.Fatalf("end after moving start: %v", got)
	}
	r = e.do(t, "POST", v+"/sobjects/EventRelation", map[string]any{"EventId": ev, "RelationId": c, "IsInvitee": true})
	if r.status != 201 {
		t.Fatalf("relation: %d %s", r.status, r.body)
	}
	rel := r.json(t)["id"].(string)
	e.do(t, "DELETE", v+"/sobjects/Event/"+ev, nil)
	if r := e.do(t, "GET", v+"/sobjects/EventRelation/"+rel, nil); r.status != 404 || r.errCode(t) != "ENTITY_IS_DELETED" {
		t.Fatalf("relation of deleted event: %d %s", r.status, r.body)
	}
}

func TestGetUpdatedAndDeleted(t *testing.T) {
	e := newEnv(t, Options{})
	e.login(t)
	a := e.do(t, "POST", v+"/sobjects/Contact", map[string]any{"LastName": "A"}).json(t)["id"].(string)
	e.clk.Advance(2 * time.Minute)
	b := e.do(t, "POST", v+"/sobjects/Contact", map[string]any{"LastName": "B"}).json(t)["id"].(string)
	e.clk.Advance(90 * time.Second)
	e.do(t, "DELETE", v+"/sobjects/Contact/"+a, nil)
	e.clk.Advance(time.Minute) // 09:04:30: the current minute is not covered yet
	c := e.do(t, "POST", v+"/sobjects/Contact", map[string]any{"LastName": "C"}).json(t)["id"].(string)

	q := url.Values{"start": {"2026-03-02T08:00:00+00:00"}, "end": {"2026-03-02T10:00:00+00:00"}}
	up := e.do(t, "GET", v+"/sobjects/Contact/updated/?"+q.Encode(), nil).json(t)
	if fmt.Sprint(up["ids"]) != fmt.Sprint([]any{b}) || up["latestDateCovered"] != "2026-03-02T09:04:00.000+0000" {
		t.Fatalf("updated = %v (a=%s b=%s c=%s)", up, a, b, c)
	}
	del := e.do(t, "GET", v+"/sobjects/Contact/deleted/?"+q.Encode(), nil).json(t)
	recs, _ := del["deletedRecords"].([]any)
	if len(recs) != 1 || recs[0].(map[string]any)["id"] != a || recs[0].(map[string]any)["deletedDate"] != "2026-03-02T09:03:30.000+0000" {
		t.Fatalf("deleted = %v", del)
	}
	if _, ok := del["earliestDateAvailable"].(string); !ok {
		t.Fatalf("deleted lacks earliestDateAvailable: %v", del)
	}
	// next window from latestDateCovered picks up c
	e.clk.Advance(time.Minute)
	q.Set("start", up["latestDateCovered"].(string))
	up = e.do(t, "GET", v+"/sobjects/Contact/updated/?"+q.Encode(), nil).json(t)
	if fmt.Sprint(up["ids"]) != fmt.Sprint([]any{c}) {
		t.Fatalf("second window = %v", up)
	}

	bad := []url.Values{
		{"start": {"2026-01-01T00:00:00Z"}, "end": {"2026-03-02T10:00:00Z"}}, // > 30 days ago
		{"start": {"2026-03-02T10:00:00Z"}, "end": {"2026-03-02T09:00:00Z"}}, // start after end
		{"start": {"2026-03-02T09:00:10Z"}, "end": {"2026-03-02T09:00:50Z"}}, // same minute
		{"start": {"yesterday"}, "end": {"2026-03-02T09:00:00Z"}},            // not a date
	}
	for _, b := range bad {
		r := e.do(t, "GET", v+"/sobjects/Contact/updated/?"+b.Encode(), nil)
		if r.status != 400 || r.errCode(t) != "INVALID_REPLICATION_DATE" {
			t.Errorf("%v: %d %s", b, r.status, r.body)
		}
	}
	r := e.do(t, "GET", v+"/sobjects/Contact/deleted/?start=2026-02-10T00:00:00Z&end=2026-03-02T09:00:00Z", nil)
	if r.status != 400 || r.errCode(t) != "INVALID_REPLICATION_DATE" {
		t.Errorf("deleted older than 15 days: %d %s", r.status, r.body)
	}
	if r := e.do(t, "GET", v+"/sobjects/Contact/updated/", nil); r.status != 400 {
		t.Errorf("no params: %d", r.status)
	}
}

func TestUpsertByExternalID(t *testing.T) {
	e := newEnv(t, Options{})
	e.login(t)
	path := v + "/sobjects/Contact/Syncgate_Id__c/sg-1"
	r := e.do(t, "PATCH", path, map[string]any{"LastName": "Upsert"})
	if r.status != 201 || r.json(t)["created"] != true {
		t.Fatalf("first upsert: %d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)
	r = e.do(t, "PATCH", path, map[string]any{"FirstName": "Now"})
	if r.status != 200 || r.json(t)["created"] != false || r.json(t)["id"] != id {
		t.Fatalf("second upsert (v62): %d %s", r.status, r.body)
	}
	r = e.do(t, "PATCH", "/services/data/v45.0/sobjects/Contact/Syncgate_Id__c/sg-1", map[string]any{"FirstName": "Old"})
	if r.status != 204 {
		t.Fatalf("upsert update on v45.0: %d %s", r.status, r.body)
	}
	if got := e.do(t, "GET", path, nil).json(t); got["Id"] != id || got["Name"] != "Old Upsert" {
		t.Fatalf("get by external id: %v", got)
	}
	if r := e.do(t, "PATCH", v+"/sobjects/Contact/Syncgate_Id__c/sg-2?updateOnly=true", map[string]any{"LastName": "X"}); r.status != 404 {
		t.Fatalf("updateOnly on missing: %d", r.status)
	}
	if r := e.do(t, "PATCH", v+"/sobjects/Contact/Email/x@y", map[string]any{"LastName": "X"}); r.status != 404 {
		t.Fatalf("non-external-id field: %d %s", r.status, r.body)
	}
	// a duplicate external id through a plain create is refused
	r = e.do(t, "POST", v+"/sobjects/Contact", map[string]any{"LastName": "Dup", "Syncgate_Id__c": "sg-1"})
	if r.status != 400 || r.errCode(t) != "DUPLICATE_VALUE" {
		t.Fatalf("duplicate ext id: %d %s", r.status, r.body)
	}
}

func TestDailyAPILimit(t *testing.T) {
	e := newEnv(t, Options{APIDailyLimit: 3})
	e.login(t)
	for i := 1; i <= 3; i++ {
		r := e.do(t, "GET", v+"/", nil)
		if r.status != 200 || r.header.Get("Sforce-Limit-Info") != fmt.Sprintf("api-usage=%d/3", i) {
			t.Fatalf("call %d: %d %q", i, r.status, r.header.Get("Sforce-Limit-Info"))
		}
	}
	r := e.do(t, "GET", v+"/", nil)
	if r.status != 403 || r.errCode(t) != "REQUEST_LIMIT_EXCEEDED" || r.header.Get("Sforce-Limit-Info") != "api-usage=3/3" {
		t.Fatalf("over limit: %d %s %q", r.status, r.body, r.header.Get("Sforce-Limit-Info"))
	}
	// token requests are not API calls and still work
	e.login(t)
	e.clk.Advance(24 * time.Hour)
	e.login(t)
	if r := e.do(t, "GET", v+"/", nil); r.status != 200 || r.header.Get("Sforce-Limit-Info") != "api-usage=1/3" {
		t.Fatalf("after the window: %d %q", r.status, r.header.Get("Sforce-Limit-Info"))
	}
	e.srv.ExhaustAPILimit()
	if r := e.do(t, "GET", v+"/", nil); r.status != 403 {
		t.Fatalf("exhausted: %d", r.status)
	}
}

func TestFaultsAndRouting(t *testing.T) {
	e := newEnv(t, Options{})
	e.login(t)
	e.srv.SetFaults(Faults{Fail5xx: 1, Status5xx: 500})
	if r := e.do(t, "GET", v+"/", nil); r.status != 500 || r.errCode(t) != "SERVER_UNAVAILABLE" {
		t.Fatalf("injected 5xx: %d %s", r.status, r.body)
	}
	if r := e.do(t, "GET", v+"/", nil); r.status != 200 {
		t.Fatalf("after fault: %d", r.status)
	}
	e.srv.SetFaults(Faults{Latency: time.Millisecond})
	if r := e.do(t, "GET", v+"/", nil); r.status != 200 {
		t.Fatalf("with latency: %d", r.status)
	}
	e.srv.SetFaults(Faults{})
	for _, ver := range []string{"v30.0", "v65.0", "v62", "vx.0", "62.0"} {
		if r := e.do(t, "GET", "/services/data/"+ver+"/", nil); r.status != 404 {
			t.Errorf("version %s: %d", ver, r.status)
		}
	}
	for _, ver := range []string{"v50.0", "v55.0", "v62.0"} {
		if r := e.do(t, "GET", "/services/data/"+ver+"/sobjects/Contact", nil); r.status != 200 {
			t.Errorf("version %s: %d", ver, r.status)
		}
	}
	// the data API is not served on the login host
	req, _ := http.NewRequest("GET", "https://login.salesforce.com"+v+"/", nil)
	req.Header.Set("Authorization", "Bearer "+e.tok)
	res, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Fatalf("data API on login host: %d", res.StatusCode)
	}
	// an unknown host gets 404 from the handler
	rr := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rr, httptest.NewRequest("GET", "https://evil.example/services/oauth2/token", nil))
	if rr.Code != 404 {
		t.Fatalf("unknown host: %d", rr.Code)
	}
}

func TestAdminAPI(t *testing.T) {
	srv := New(Options{})
	ts := httptest.NewServer(srv.Admin())
	defer ts.Close()
	post := func(path string, body any) (int, map[string]any) {
		b, _ := json.Marshal(body)
		res, err := http.Post(ts.URL+path, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	_, cert, _ := rsaFixtures(t)
	if st, out := post("/apps", map[string]any{"consumer_key": "k", "certificate_pem": cert, "pre_approved": []string{"u@x"}}); st != 201 {
		t.Fatalf("apps: %d %v", st, out)
	}
	if st, _ := post("/apps", map[string]any{"consumer_key": "k2", "certificate_pem": "garbage"}); st != 400 {
		t.Fatalf("bad cert accepted: %d", st)
	}
	if st, out := post("/users", map[string]any{"username": "u@x"}); st != 201 || !strings.HasPrefix(out["id"].(string), "005") {
		t.Fatalf("users: %d %v", st, out)
	}
	st, out := post("/records/Contact?as=u@x", map[string]any{"LastName": "Seeded", "Email": "s@x"})
	if st != 201 {
		t.Fatalf("seed: %d %v", st, out)
	}
	if st, _ := post("/records/Contact", map[string]any{"FirstName": "NoLast"}); st != 400 {
		t.Fatalf("invalid seed accepted: %d", st)
	}
	res, err := http.Get(ts.URL + "/records/Contact")
	if err != nil {
		t.Fatal(err)
	}
	var recs []Record
	_ = json.NewDecoder(res.Body).Decode(&recs)
	res.Body.Close()
	if len(recs) != 1 || recs[0].ID != out["id"] || recs[0].Fields["Email"] != "s@x" {
		t.Fatalf("list: %+v", recs)
	}
	if st, _ := post("/faults", map[string]any{"fail_5xx": 2, "api_limit": 10, "exhaust_api_limit": true}); st != 204 {
		t.Fatalf("faults: %d", st)
	}
	if used, limit := srv.APIUsage(); used != 10 || limit != 10 {
		t.Fatalf("usage %d/%d", used, limit)
	}
	if st, _ := post("/faults", map[string]any{"fail_5xx": -1}); st != 400 {
		t.Fatalf("negative fault accepted: %d", st)
	}
}

func TestConcurrentWrites(t *testing.T) {
	e := newEnv(t, Options{})
	e.login(t)
	const workers, each = 8, 10
	errs := make(chan error, workers*each)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				r := e.do(t, "PATCH", fmt.Sprintf("%s/sobjects/Contact/Syncgate_Id__c/w%d-%d", v, w, i), map[string]any{"LastName": "C"})
				if r.status != 201 {
					errs <- fmt.Errorf("upsert: %d %s", r.status, r.body)
				}
				e.query(t, "SELECT Id FROM Contact LIMIT 5")
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if m := e.query(t, "SELECT Id FROM Contact").json(t); m["totalSize"] != float64(workers*each) {
		t.Fatalf("totalSize = %v", m["totalSize"])
	}
}
