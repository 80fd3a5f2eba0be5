package salesforce

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// results decodes a collection response (an array of SaveResult-like
// objects).
func (r resp) results(t *testing.T) []map[string]any {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("collection call: %d %s", r.status, r.body)
	}
	var out []map[string]any
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return out
}

// statusCodes lists the statusCode of each error of one collection result.
func statusCodes(res map[string]any) []string {
	var out []string
	errs, _ := res["errors"].([]any)
	for _, e := range errs {
		m := e.(map[string]any)
		out = append(out, fmt.Sprint(m["statusCode"]))
		if _, ok := m["fields"].([]any); !ok {
			out = append(out, "<no fields array>")
		}
	}
	return out
}

func (e *env) liveContacts(t *testing.T) map[string]Record {
	t.Helper()
	recs, err := e.srv.Records("Contact")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Record{}
	for _, r := range recs {
		if !r.Deleted {
			out[r.ID] = r
		}
	}
	return out
}

// The request and response shapes follow "Create Records Using sObject
// Collections" and its sibling pages in the REST API Developer Guide.
func TestCollectionsCreate(t *testing.T) {
	e := newEnv(t, Options{})
	e.login(t)
	// The guide's example: an Account and a Contact in one call.
	res := e.do(t, "POST", v+"/composite/sobjects", map[string]any{"allOrNone": false, "records": []any{
		map[string]any{"attributes": map[string]any{"type": "Account"}, "Name": "example.com", "BillingCity": "San Francisco"},
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "LastName": "Johnson", "FirstName": "Erica"},
	}}).results(t)
	if len(res) != 2 || res[0]["success"] != true || res[1]["success"] != true ||
		!strings.HasPrefix(res[0]["id"].(string), "001") || !strings.HasPrefix(res[1]["id"].(string), "003") {
		t.Fatalf("create results: %v", res)
	}
	if errs, ok := res[0]["errors"].([]any); !ok || len(errs) != 0 {
		t.Fatalf("errors must be an empty array: %v", res[0])
	}
	got := e.do(t, "GET", v+"/sobjects/Contact/"+res[1]["id"].(string), nil).json(t)
	if got["Name"] != "Erica Johnson" {
		t.Fatalf("created contact: %v", got)
	}

	// allOrNone=false: the bad record fails alone, in request order.
	res = e.do(t, "POST", v+"/composite/sobjects", map[string]any{"records": []any{
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "LastName": "Ok"},
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "FirstName": "NoLastName"},
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "Id": "003000000000001AAA", "LastName": "X"},
	}}).results(t)
	if res[0]["success"] != true || res[1]["success"] != false || res[2]["success"] != false {
		t.Fatalf("partial results: %v", res)
	}
	if c := statusCodes(res[1]); fmt.Sprint(c) != "[REQUIRED_FIELD_MISSING]" {
		t.Fatalf("missing LastName: %v", res[1])
	}
	if _, ok := res[1]["id"]; ok {
		t.Fatalf("a failed create has no id: %v", res[1])
	}
	if c := statusCodes(res[2]); fmt.Sprint(c) != "[INVALID_FIELD]" {
		t.Fatalf("Id on insert: %v", res[2])
	}
	before := len(e.liveContacts(t))

	// allOrNone=true: one failure rolls every record back.
	res = e.do(t, "POST", v+"/composite/sobjects", map[string]any{"allOrNone": true, "records": []any{
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "LastName": "Rolled"},
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "FirstName": "NoLastName"},
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "LastName": "Back"},
	}}).results(t)
	want := []string{"[ALL_OR_NONE_OPERATION_ROLLED_BACK]", "[REQUIRED_FIELD_MISSING]", "[ALL_OR_NONE_OPERATION_ROLLED_BACK]"}
	for i, r := range res {
		if r["success"] != false || fmt.Sprint(statusCodes(r)) != want[i] {
			t.Fatalf("allOrNone result %d: %v", i, r)
		}
	}
	if after := len(e.liveContacts(t)); after != before {
		t.Fatalf("allOrNone left %d contacts, want %d", after, before)
	}

	// 200 records at most.
	var many []any
	for i := 0; i < 201; i++ {
		many = append(many, map[string]any{"attributes": map[string]any{"type": "Contact"}, "LastName": fmt.Sprint(i)})
	}
	r := e.do(t, "POST", v+"/composite/sobjects", map[string]any{"records": many})
	if r.status != 400 || r.errCode(t) != "EXCEEDED_ID_LIMIT" {
		t.Fatalf("201 records: %d %s", r.status, r.body)
	}
	if n := len(e.liveContacts(t)); n != before {
		t.Fatalf("a refused collection created records: %d", n)
	}
	r = e.do(t, "POST", v+"/composite/sobjects", map[string]any{"records": many[:200]})
	if res := r.results(t); len(res) != 200 || res[199]["success"] != true {
		t.Fatalf("200 records: %d results", len(res))
	}
	if r := e.do(t, "POST", v+"/composite/sobjects", map[string]any{"allOrNone": true}); r.status != 400 || r.errCode(t) != "JSON_PARSER_ERROR" {
		t.Fatalf("no records: %d %s", r.status, r.body)
	}
	// sObject Collections arrived in API 42.0.
	if r := e.do(t, "POST", "/services/data/v41.0/composite/sobjects", map[string]any{"records": many[:1]}); r.status != 404 {
		t.Fatalf("v41.0 collections: %d %s", r.status, r.body)
	}
}

func TestCollectionsUpdateUpsertDeleteRetrieve(t *testing.T) {
	e := newEnv(t, Options{})
	e.login(t)
	a, _ := e.srv.Seed(alice, "Contact", map[string]any{"LastName": "A", "Syncgate_Id__c": "k-a"})
	b, _ := e.srv.Seed(alice, "Contact", map[string]any{"LastName": "B"})
	acct, _ := e.srv.Seed(alice, "Account", map[string]any{"Name": "Acme"})

	// Update: field names are case-insensitive ("id" in the guide's example).
	res := e.do(t, "PATCH", v+"/composite/sobjects", map[string]any{"records": []any{
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "id": a, "Title": "CEO"},
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "id": acct, "Title": "x"},
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "Title": "no id"},
	}}).results(t)
	if res[0]["success"] != true || res[0]["id"] != a {
		t.Fatalf("update: %v", res[0])
	}
	if fmt.Sprint(statusCodes(res[1])) != "[MALFORMED_ID]" || fmt.Sprint(statusCodes(res[2])) != "[MISSING_ARGUMENT]" {
		t.Fatalf("bad updates: %v", res)
	}
	if e.liveContacts(t)[a].Fields["Title"] != "CEO" {
		t.Fatal("update not applied")
	}
	// allOrNone update keeps the ids of rolled-back records.
	res = e.do(t, "PATCH", v+"/composite/sobjects", map[string]any{"allOrNone": true, "records": []any{
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "Id": a, "Title": "CTO"},
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "Id": b, "LastName": nil},
	}}).results(t)
	if res[0]["id"] != a || fmt.Sprint(statusCodes(res[0])) != "[ALL_OR_NONE_OPERATION_ROLLED_BACK]" || res[1]["success"] != false {
		t.Fatalf("allOrNone update: %v", res)
	}
	if e.liveContacts(t)[a].Fields["Title"] != "CEO" {
		t.Fatal("allOrNone update was not rolled back")
	}

	// Upsert by external id: one update, one insert, created flags.
	res = e.do(t, "PATCH", v+"/composite/sobjects/Contact/Syncgate_Id__c", map[string]any{"allOrNone": false, "records": []any{
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "Syncgate_Id__c": "k-a", "Phone": "1"},
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "Syncgate_Id__c": "k-new", "LastName": "New"},
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "LastName": "no key"},
	}}).results(t)
	if res[0]["id"] != a || res[0]["created"] != false || res[1]["created"] != true || res[1]["success"] != true || res[2]["success"] != false {
		t.Fatalf("upsert: %v", res)
	}
	if r := e.do(t, "PATCH", "/services/data/v45.0/composite/sobjects/Contact/Syncgate_Id__c", map[string]any{"records": []any{}}); r.status != 404 {
		t.Fatalf("upsert before v46.0: %d", r.status)
	}
	if r := e.do(t, "PATCH", v+"/composite/sobjects/Contact/Email", map[string]any{"records": []any{}}); r.status != 404 || r.errCode(t) != "NOT_FOUND" {
		t.Fatalf("upsert on a non-external-id field: %d %s", r.status, r.body)
	}

	// Retrieve keeps request order and answers null for what is not there.
	var got []any
	r := e.do(t, "GET", v+"/composite/sobjects/Contact?ids="+b+","+acct+","+a+"&fields=Id,LastName", nil)
	if err := json.Unmarshal(r.body, &got); err != nil || len(got) != 3 || got[1] != nil ||
		got[0].(map[string]any)["LastName"] != "B" || got[2].(map[string]any)["Id"] != a {
		t.Fatalf("retrieve: %d %s", r.status, r.body)
	}

	// Delete: ids in the query string, one result per id.
	res = e.do(t, "DELETE", v+"/composite/sobjects?ids="+a+","+acct+",bogus&allOrNone=false", nil).results(t)
	if res[0]["success"] != true || res[1]["success"] != true || fmt.Sprint(statusCodes(res[2])) != "[MALFORMED_ID]" {
		t.Fatalf("delete: %v", res)
	}
	if _, ok := e.liveContacts(t)[a]; ok {
		t.Fatal("contact not deleted")
	}
	res = e.do(t, "DELETE", v+"/composite/sobjects?ids="+b+","+a+"&allOrNone=true", nil).results(t)
	if fmt.Sprint(statusCodes(res[0])) != "[ALL_OR_NONE_OPERATION_ROLLED_BACK]" || fmt.Sprint(statusCodes(res[1])) != "[ENTITY_IS_DELETED]" {
		t.Fatalf("allOrNone delete: %v", res)
	}
	if _, ok := e.liveContacts(t)[b]; !ok {
		t.Fatal("allOrNone delete was not rolled back")
	}
	ids := make([]string, 201)
	for i := range ids {
		ids[i] = b
	}
	if r := e.do(t, "DELETE", v+"/composite/sobjects?ids="+strings.Join(ids, ","), nil); r.status != 400 || r.errCode(t) != "EXCEEDED_ID_LIMIT" {
		t.Fatalf("201 ids: %d %s", r.status, r.body)
	}
}

func (r resp) composite(t *testing.T) []map[string]any {
	t.Helper()
	m := r.json(t)
	var out []map[string]any
	for _, x := range m["compositeResponse"].([]any) {
		out = append(out, x.(map[string]any))
	}
	return out
}

func subErrCode(sub map[string]any) string {
	errs, _ := sub["body"].([]any)
	if len(errs) == 0 {
		return ""
	}
	return fmt.Sprint(errs[0].(map[string]any)["errorCode"])
}

func TestComposite(t *testing.T) {
	e := newEnv(t, Options{})
	e.login(t)
	used0, _ := e.srv.APIUsage()
	// The guide's example: an account, then a contact that references it.
	r := e.do(t, "POST", v+"/composite", map[string]any{"compositeRequest": []any{
		map[string]any{"method": "POST", "url": v + "/sobjects/Account", "referenceId": "refAccount", "body": map[string]any{"Name": "Sample Account"}},
		map[string]any{"method": "POST", "url": v + "/sobjects/Contact", "referenceId": "refContact",
			"body": map[string]any{"LastName": "Sample Contact", "AccountId": "@{refAccount.id}"}},
		map[string]any{"method": "GET", "url": v + "/query?q=" + url.QueryEscape("SELECT Id, AccountId FROM Contact"), "referenceId": "q"},
		map[string]any{"method": "GET", "url": v + "/sobjects/Account/@{refAccount.id}?fields=Name", "referenceId": "acct"},
		map[string]any{"method": "PATCH", "url": v + "/sobjects/Contact/@{q.records[0].Id}", "referenceId": "upd", "body": map[string]any{"Title": "@{acct.Name}"}},
	}})
	subs := r.composite(t)
	if len(subs) != 5 {
		t.Fatalf("composite: %s", r.body)
	}
	accID := subs[0]["body"].(map[string]any)["id"].(string)
	if subs[0]["httpStatusCode"] != float64(201) || subs[0]["referenceId"] != "refAccount" ||
		subs[0]["httpHeaders"].(map[string]any)["Location"] != v+"/sobjects/Account/"+accID {
		t.Fatalf("first subrequest: %v", subs[0])
	}
	if subs[1]["httpStatusCode"] != float64(201) || subs[2]["httpStatusCode"] != float64(200) || subs[3]["httpStatusCode"] != float64(200) || subs[4]["httpStatusCode"] != float64(204) || subs[4]["body"] != nil {
		t.Fatalf("statuses: %s", r.body)
	}
	c := e.liveContacts(t)
	if len(c) != 1 {
		t.Fatalf("contacts: %v", c)
	}
	for _, rec := range c {
		if rec.Fields["AccountId"] != accID || rec.Fields["Title"] != "Sample Account" {
			t.Fatalf("references not resolved: %v", rec.Fields)
		}
	}
	if used, _ := e.srv.APIUsage(); used != used0+1 {
		t.Fatalf("a composite call counts once: %d -> %d", used0, used)
	}

	// allOrNone: the failing subrequest keeps its error, every other one is
	// PROCESSING_HALTED and nothing stays.
	r = e.do(t, "POST", v+"/composite", map[string]any{"allOrNone": true, "compositeRequest": []any{
		map[string]any{"method": "POST", "url": v + "/sobjects/Account", "referenceId": "a", "body": map[string]any{"Name": "Doomed"}},
		map[string]any{"method": "POST", "url": v + "/sobjects/Contact", "referenceId": "c", "body": map[string]any{"FirstName": "NoLast", "AccountId": "@{a.id}"}},
		map[string]any{"method": "POST", "url": v + "/sobjects/Contact", "referenceId": "never", "body": map[string]any{"LastName": "Never"}},
	}})
	subs = r.composite(t)
	if r.status != 200 || subErrCode(subs[1]) != "REQUIRED_FIELD_MISSING" || subErrCode(subs[0]) != "PROCESSING_HALTED" || subErrCode(subs[2]) != "PROCESSING_HALTED" {
		t.Fatalf("allOrNone: %s", r.body)
	}
	recs, _ := e.srv.Records("Account")
	for _, a := range recs {
		if a.Fields["Name"] == "Doomed" && !a.Deleted {
			t.Fatal("allOrNone left the account")
		}
	}

	// Without allOrNone only what depends on a failure is halted.
	r = e.do(t, "POST", v+"/composite", map[string]any{"compositeRequest": []any{
		map[string]any{"method": "POST", "url": v + "/sobjects/Contact", "referenceId": "bad", "body": map[string]any{"FirstName": "NoLast"}},
		map[string]any{"method": "GET", "url": v + "/sobjects/Contact/@{bad.id}", "referenceId": "dep"},
		map[string]any{"method": "POST", "url": v + "/sobjects/Contact", "referenceId": "ok", "body": map[string]any{"LastName": "Indep"}},
		map[string]any{"method": "GET", "url": v + "/limits", "referenceId": "lim"},
	}})
	subs = r.composite(t)
	if subErrCode(subs[0]) != "REQUIRED_FIELD_MISSING" || subErrCode(subs[1]) != "PROCESSING_HALTED" || subs[2]["httpStatusCode"] != float64(201) || subErrCode(subs[3]) != "INVALID_API_INPUT" {
		t.Fatalf("allOrNone=false: %s", r.body)
	}

	// Envelope errors are 400s before anything runs.
	for name, body := range map[string]map[string]any{
		"no referenceId": {"compositeRequest": []any{map[string]any{"method": "GET", "url": v + "/sobjects"}}},
		"duplicate ref": {"compositeRequest": []any{map[string]any{"method": "GET", "url": v + "/sobjects", "referenceId": "x"},
			map[string]any{"method": "GET", "url": v + "/sobjects", "referenceId": "x"}}},
		"empty": {},
	} {
		if r := e.do(t, "POST", v+"/composite", body); r.status != 400 || r.errCode(t) != "JSON_PARSER_ERROR" {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	var many []any
	for i := 0; i < 26; i++ {
		many = append(many, map[string]any{"method": "GET", "url": v + "/sobjects", "referenceId": fmt.Sprintf("r%d", i)})
	}
	if r := e.do(t, "POST", v+"/composite", map[string]any{"compositeRequest": many}); r.status != 400 || r.errCode(t) != "LIMIT_EXCEEDED" {
		t.Fatalf("26 subrequests: %d %s", r.status, r.body)
	}
	var queries []any
	for i := 0; i < 6; i++ {
		queries = append(queries, map[string]any{"method": "GET", "url": v + "/query?q=SELECT+Id+FROM+Contact", "referenceId": fmt.Sprintf("q%d", i)})
	}
	if r := e.do(t, "POST", v+"/composite", map[string]any{"compositeRequest": queries}); r.status != 400 || r.errCode(t) != "LIMIT_EXCEEDED" {
		t.Fatalf("6 queries: %d %s", r.status, r.body)
	}
}

func TestCompositeBatch(t *testing.T) {
	e := newEnv(t, Options{})
	e.login(t)
	id, _ := e.srv.Seed(alice, "Account", map[string]any{"Name": "OldName"})
	used0, _ := e.srv.APIUsage()
	// The guide's example: update an account, then read it back.
	r := e.do(t, "POST", v+"/composite/batch", map[string]any{"batchRequests": []any{
		map[string]any{"method": "PATCH", "url": "v62.0/sobjects/account/" + id, "richInput": map[string]any{"Name": "NewName"}},
		map[string]any{"method": "GET", "url": "v62.0/sobjects/account/" + id + "?fields=Name"},
	}})
	m := r.json(t)
	res := m["results"].([]any)
	if m["hasErrors"] != false || res[0].(map[string]any)["statusCode"] != float64(204) || res[0].(map[string]any)["result"] != nil ||
		res[1].(map[string]any)["result"].(map[string]any)["Name"] != "NewName" {
		t.Fatalf("batch: %s", r.body)
	}
	used, limit := e.srv.APIUsage()
	if used <= used0+1 || r.header.Get("Sforce-Limit-Info") != fmt.Sprintf("api-usage=%d/%d", used, limit) {
		t.Fatalf("batch subrequests count each (usage %d -> %d, header %q)", used0, used, r.header.Get("Sforce-Limit-Info"))
	}

	// haltOnError: later subrequests answer 412 BATCH_PROCESSING_HALTED.
	r = e.do(t, "POST", v+"/composite/batch", map[string]any{"haltOnError": true, "batchRequests": []any{
		map[string]any{"method": "GET", "url": "v62.0/sobjects/Account/001000000000000AAA"},
		map[string]any{"method": "PATCH", "url": "v62.0/sobjects/Account/" + id, "richInput": map[string]any{"Name": "Halted"}},
	}})
	m = r.json(t)
	res = m["results"].([]any)
	second := res[1].(map[string]any)
	if m["hasErrors"] != true || res[0].(map[string]any)["statusCode"] != float64(404) || second["statusCode"] != float64(412) ||
		second["result"].([]any)[0].(map[string]any)["errorCode"] != "BATCH_PROCESSING_HALTED" {
		t.Fatalf("haltOnError: %s", r.body)
	}
	if got := e.do(t, "GET", v+"/sobjects/Account/"+id+"?fields=Name", nil).json(t); got["Name"] != "NewName" {
		t.Fatalf("a halted subrequest ran: %v", got)
	}
	if r := e.do(t, "POST", v+"/composite/batch", map[string]any{"batchRequests": []any{map[string]any{"method": "FETCH", "url": "v62.0/limits"}}}); r.status != 400 {
		t.Fatalf("bad method: %d %s", r.status, r.body)
	}
}
