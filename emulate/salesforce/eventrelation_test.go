package salesforce

import (
	"fmt"
	"net/url"
	"testing"
)

func TestEventRelationSharedActivitiesRules(t *testing.T) {
	e := newEnv(t, Options{})
	e.login(t)
	ev := e.do(t, "POST", v+"/sobjects/Event", map[string]any{"Subject": "QBR", "StartDateTime": "2026-03-05T14:00:00Z", "EndDateTime": "2026-03-05T15:00:00Z"}).json(t)["id"].(string)
	var contacts []string
	for i := 0; i < 51; i++ {
		contacts = append(contacts, e.do(t, "POST", v+"/sobjects/Contact", map[string]any{"LastName": fmt.Sprint("C", i), "Email": fmt.Sprintf("c%d@x.example", i)}).json(t)["id"].(string))
	}
	lead := e.do(t, "POST", v+"/sobjects/Lead", map[string]any{"LastName": "L", "Company": "X", "Email": "l@x.example"}).json(t)["id"].(string)
	rel := func(who string, parent bool) resp {
		return e.do(t, "POST", v+"/sobjects/EventRelation", map[string]any{"EventId": ev, "RelationId": who, "IsParent": parent})
	}
	// An invitee row, then the same person again: one row per person.
	if r := rel(contacts[0], false); r.status != 201 {
		t.Fatalf("invitee: %d %s", r.status, r.body)
	}
	if r := rel(contacts[0], true); r.status != 400 || r.errCode(t) != "DUPLICATE_VALUE" {
		t.Fatalf("second row for one person: %d %s", r.status, r.body)
	}
	// The row itself can become a related (parent) one.
	rows := e.do(t, "GET", v+"/query?"+url.Values{"q": {"SELECT Id, IsParent FROM EventRelation WHERE EventId = '" + ev + "'"}}.Encode(), nil).json(t)["records"].([]any)
	id := rows[0].(map[string]any)["Id"].(string)
	if r := e.do(t, "PATCH", v+"/sobjects/EventRelation/"+id, map[string]any{"IsParent": true}); r.status != 204 {
		t.Fatalf("set IsParent: %d %s", r.status, r.body)
	}
	for _, c := range contacts[1:50] {
		if r := rel(c, true); r.status != 201 {
			t.Fatalf("contact relation: %d %s", r.status, r.body)
		}
	}
	if r := rel(contacts[50], true); r.status != 400 || r.errCode(t) != "FIELD_INTEGRITY_EXCEPTION" {
		t.Fatalf("51st related contact: %d %s", r.status, r.body)
	}
	if r := rel(contacts[50], false); r.status != 201 {
		t.Fatalf("an invitee beyond 50 related contacts: %d %s", r.status, r.body)
	}
	if r := rel(lead, true); r.status != 400 || r.errCode(t) != "FIELD_INTEGRITY_EXCEPTION" {
		t.Fatalf("lead beside contacts: %d %s", r.status, r.body)
	}
	// A second event: one lead, and nothing beside it.
	ev2 := e.do(t, "POST", v+"/sobjects/Event", map[string]any{"Subject": "Demo", "StartDateTime": "2026-03-06T14:00:00Z", "EndDateTime": "2026-03-06T15:00:00Z"}).json(t)["id"].(string)
	if r := e.do(t, "POST", v+"/sobjects/EventRelation", map[string]any{"EventId": ev2, "RelationId": lead, "IsParent": true}); r.status != 201 {
		t.Fatalf("lead relation: %d %s", r.status, r.body)
	}
	if r := e.do(t, "POST", v+"/sobjects/EventRelation", map[string]any{"EventId": ev2, "RelationId": contacts[0], "IsParent": true}); r.status != 400 || r.errCode(t) != "FIELD_INTEGRITY_EXCEPTION" {
		t.Fatalf("contact beside a lead: %d %s", r.status, r.body)
	}
	if r := e.do(t, "PATCH", v+"/sobjects/Event/"+ev2, map[string]any{"WhoId": lead}); r.status != 204 {
		t.Fatalf("WhoId: %d %s", r.status, r.body)
	}
}
