package salesforce

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
)

func TestDescribeGlobal(t *testing.T) {
	e := newEnv(t, Options{})
	e.login(t)
	r := e.do(t, "GET", v+"/sobjects", nil)
	m := r.json(t)
	if r.status != 200 || m["encoding"] != "UTF-8" || m["maxBatchSize"] != float64(200) {
		t.Fatalf("describeGlobal: %d %s", r.status, r.body)
	}
	byName := map[string]map[string]any{}
	for _, o := range m["sobjects"].([]any) {
		obj := o.(map[string]any)
		byName[obj["name"].(string)] = obj
	}
	for _, name := range []string{"Account", "Contact", "Event", "EventRelation", "Lead"} {
		obj := byName[name]
		if obj == nil {
			t.Fatalf("describeGlobal lacks %s: %s", name, r.body)
		}
		for _, flag := range []string{"createable", "updateable", "deletable", "queryable", "retrieveable"} {
			if obj[flag] != true {
				t.Errorf("%s.%s = %v", name, flag, obj[flag])
			}
		}
		urls := obj["urls"].(map[string]any)
		if urls["describe"] != v+"/sobjects/"+name+"/describe" || urls["sobject"] != v+"/sobjects/"+name {
			t.Errorf("%s urls: %v", name, urls)
		}
		if obj["custom"] != false || obj["label"] == "" || obj["keyPrefix"] == "" {
			t.Errorf("%s: %v", name, obj)
		}
	}
	if byName["Contact"]["keyPrefix"] != "003" || len(byName) != len(schemas) {
		t.Errorf("describeGlobal objects: %v", byName)
	}
	if r := e.do(t, "POST", v+"/sobjects", map[string]any{}); r.status != 405 {
		t.Errorf("POST describeGlobal: %d", r.status)
	}
	// sobjects/{type} carries the same object flags.
	od := e.do(t, "GET", v+"/sobjects/Contact", nil).json(t)["objectDescribe"].(map[string]any)
	if od["createable"] != true || od["queryable"] != true || od["urls"].(map[string]any)["rowTemplate"] != v+"/sobjects/Contact/{ID}" {
		t.Errorf("objectDescribe: %v", od)
	}
}

func TestDescribeFlags(t *testing.T) {
	e := newEnv(t, Options{})
	e.login(t)
	m := e.do(t, "GET", v+"/sobjects/Contact/describe", nil).json(t)
	for _, flag := range []string{"createable", "updateable", "deletable", "queryable"} {
		if m[flag] != true {
			t.Errorf("Contact %s = %v", flag, m[flag])
		}
	}
	if m["name"] != "Contact" || m["keyPrefix"] != "003" || m["urls"].(map[string]any)["describe"] != v+"/sobjects/Contact/describe" {
		t.Errorf("describe header: %v", m)
	}
	fields := map[string]map[string]any{}
	for _, f := range m["fields"].([]any) {
		fm := f.(map[string]any)
		fields[fm["name"].(string)] = fm
	}
	check := func(name, key string, want any) {
		t.Helper()
		if got := fmt.Sprint(fields[name][key]); got != fmt.Sprint(want) {
			t.Errorf("%s.%s = %s, want %v", name, key, got, want)
		}
	}
	check("Id", "type", "id")
	check("Id", "createable", false)
	check("Id", "updateable", false)
	check("Id", "idLookup", true)
	check("LastName", "createable", true)
	check("LastName", "nillable", false)
	check("Email", "nillable", true)
	check("Name", "createable", false) // derived from FirstName and LastName
	check("Name", "updateable", false)
	check("SystemModstamp", "type", "datetime")
	check("SystemModstamp", "updateable", false)
	check("Syncgate_Id__c", "externalId", true)
	check("Syncgate_Id__c", "idLookup", true)
	check("Syncgate_Id__c", "custom", true)
	check("AccountId", "type", "reference")
	check("AccountId", "referenceTo", []string{"Account"})
	check("AccountId", "relationshipName", "Account")
	check("Email", "referenceTo", []string{})

	er := e.do(t, "GET", v+"/sobjects/EventRelation/describe", nil).json(t)
	for _, f := range er["fields"].([]any) {
		fm := f.(map[string]any)
		if fm["name"] == "EventId" && (fm["createable"] != true || fm["updateable"] != false) {
			t.Errorf("EventRelation.EventId is set on create only: %v", fm)
		}
	}
}

var limitInfo = regexp.MustCompile(`^api-usage=(\d+)/(\d+)$`)

func TestLimitsMatchLimitInfo(t *testing.T) {
	e := newEnv(t, Options{APIDailyLimit: 500})
	e.login(t)
	for i := 0; i < 3; i++ {
		e.do(t, "GET", v+"/sobjects/Contact/describe", nil)
		r := e.do(t, "GET", v+"/limits", nil)
		m := limitInfo.FindStringSubmatch(r.header.Get("Sforce-Limit-Info"))
		if r.status != 200 || m == nil {
			t.Fatalf("limits: %d %q %s", r.status, r.header.Get("Sforce-Limit-Info"), r.body)
		}
		used, _ := strconv.Atoi(m[1])
		limit, _ := strconv.Atoi(m[2])
		d := r.json(t)["DailyApiRequests"].(map[string]any)
		if d["Max"] != float64(limit) || d["Remaining"] != float64(limit-used) || limit != 500 {
			t.Fatalf("DailyApiRequests %v vs header %s", d, r.header.Get("Sforce-Limit-Info"))
		}
		if su, sl := e.srv.APIUsage(); su != used || sl != limit {
			t.Fatalf("server usage %d/%d, header %d/%d", su, sl, used, limit)
		}
	}
	e.srv.SetAPILimit(1000)
	if d := e.do(t, "GET", v+"/limits", nil).json(t)["DailyApiRequests"].(map[string]any); d["Max"] != float64(1000) {
		t.Fatalf("after SetAPILimit: %v", d)
	}
	idx := e.do(t, "GET", v+"/", nil).json(t)
	if idx["limits"] != v+"/limits" || idx["composite"] != v+"/composite" {
		t.Fatalf("resource index: %v", idx)
	}
}

func TestUserInfo(t *testing.T) {
	e := newEnv(t, Options{})
	e.login(t)
	r := e.do(t, "GET", "/services/oauth2/userinfo", nil)
	m := r.json(t)
	e.srv.mu.Lock()
	aliceID := e.srv.users[alice].ID
	e.srv.mu.Unlock()
	if r.status != 200 || m["preferred_username"] != alice || m["user_id"] != aliceID || m["organization_id"] != e.srv.orgID {
		t.Fatalf("userinfo: %d %s", r.status, r.body)
	}
	if m["sub"] != "https://"+LoginHost+"/id/"+e.srv.orgID+"/"+m["user_id"].(string) {
		t.Fatalf("sub: %v", m["sub"])
	}
	e.tok = ""
	if r := e.do(t, "GET", "/services/oauth2/userinfo", nil); r.status != 401 {
		t.Fatalf("userinfo without a token: %d", r.status)
	}
}
