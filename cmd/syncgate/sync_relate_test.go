package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/audit"
	emusf "github.com/syncgate/syncgate/emulate/salesforce"
	"github.com/syncgate/syncgate/sync/engine"
	"github.com/syncgate/syncgate/sync/model"
)

// TestSyncAutoRelatesAttendees: Graph meetings whose attendees match a
// seeded Salesforce contact (in another case), a second contact and a lead
// arrive in Salesforce related to them — EventRelation rows with IsParent,
// WhoId set — through the gateway, acting as the user; running again adds
// no row, and an update of the event relates idempotently.
func TestSyncAutoRelatesAttendees(t *testing.T) {
	const alice = "alice@corp.example"
	st, cfg, rt := startSyncWorld(t, alice)
	sf, ms := st.set.Salesforce, st.set.Microsoft
	pat, err := sf.Seed(alice, "Contact", map[string]any{"FirstName": "Pat", "LastName": "Buyer", "Email": "Pat.Buyer@Acme.example"})
	if err != nil {
		t.Fatal(err)
	}
	kim, err := sf.Seed(alice, "Contact", map[string]any{"FirstName": "Kim", "LastName": "Ops", "Email": "kim@acme.example"})
	if err != nil {
		t.Fatal(err)
	}
	lee, err := sf.Seed(alice, "Lead", map[string]any{"FirstName": "Lee", "LastName": "Prospect", "Company": "Prospect Ltd", "Email": "lee@prospect.example"})
	if err != nil {
		t.Fatal(err)
	}
	// A lead with a contact's address: contacts win, the lead stays out.
	if _, err := sf.Seed(alice, "Lead", map[string]any{"LastName": "Dup", "Company": "Acme", "Email": "kim@acme.example"}); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Truncate(time.Hour).Add(72 * time.Hour)
	attendee := func(addr string) map[string]any {
		return map[string]any{"type": "required", "status": map[string]any{"response": "none"}, "emailAddress": map[string]any{"address": addr, "name": addr}}
	}
	meeting := func(subject string, start time.Time, who ...string) map[string]any {
		var as []any
		for _, w := range who {
			as = append(as, attendee(w))
		}
		return map[string]any{"subject": subject, "isOrganizer": false, "attendees": as,
			"start": map[string]any{"dateTime": start.Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
			"end":   map[string]any{"dateTime": start.Add(time.Hour).Format("2006-01-02T15:04:05"), "timeZone": "UTC"}}
	}
	qbr, err := ms.AddEvent(alice, meeting("Relate QBR", at, "pat.buyer@acme.example", "KIM@acme.example", "stranger@nowhere.example", alice))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ms.AddEvent(alice, meeting("Relate intro", at.Add(3*time.Hour), "lee@prospect.example", "stranger@nowhere.example")); err != nil {
		t.Fatal(err)
	}
	round(t, rt, cfg)

	events := sfRecords(t, sf, "Event")
	qbrEv, introEv := bySubject(events, "Relate QBR"), bySubject(events, "Relate intro")
	if qbrEv == nil || introEv == nil {
		t.Fatal("the meetings did not reach Salesforce")
	}
	rels := liveRelations(t, sf)
	if got := rels[qbrEv.ID]; len(got) != 2 || !got[pat] || !got[kim] {
		t.Fatalf("QBR relations %v, want Pat and Kim (IsParent)", got)
	}
	if got := rels[introEv.ID]; len(got) != 1 || !got[lee] {
		t.Fatalf("intro relations %v, want the lead", got)
	}
	// WhoId: the first contact in address order (kim@ < pat.buyer@), the lead.
	if w := qbrEv.Fields["WhoId"]; w != kim {
		t.Fatalf("QBR WhoId %v, want %s", w, kim)
	}
	if w := introEv.Fields["WhoId"]; w != lee {
		t.Fatalf("intro WhoId %v, want %s", w, lee)
	}
	// The relate actions are audited with the gateway's request ids.
	syncFiles, _ := audit.Files(cfg.path(cfg.Audit.Path))
	var reasons []string
	if err := audit.Query(context.Background(), syncFiles, audit.Filter{}, func(_ []byte, r *audit.Record) error {
		if r.Detail["action"] == "relate" {
			if r.Detail["request_ids"] == "" || r.Subject != alice {
				t.Errorf("relate record without request ids or subject: %+v", r.Detail)
			}
			reasons = append(reasons, r.Detail["reason"])
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(reasons, "|") != "related 2 contacts|related lead" && strings.Join(reasons, "|") != "related lead|related 2 contacts" {
		t.Fatalf("relate records %q", reasons)
	}

	// Again: nothing written, no relation added.
	n := len(sfRecordsAll(t, sf, "EventRelation"))
	if w := writes(round(t, rt, cfg)); w != 0 {
		t.Fatalf("second pass wrote %d", w)
	}
	// An update of the meeting relates again, idempotently.
	if _, err := ms.UpdateEvent(alice, qbr["id"].(string), map[string]any{"subject": "Relate QBR (room 2)"}); err != nil {
		t.Fatal(err)
	}
	res := round(t, rt, cfg)
	related := 0
	for _, o := range res {
		related += o.Result.Related
	}
	if writes(res) != 1 || related != 1 {
		t.Fatalf("update pass: %d writes, %d related", writes(res), related)
	}
	if m := len(sfRecordsAll(t, sf, "EventRelation")); m != n {
		t.Fatalf("EventRelation rows %d after re-runs, want %d", m, n)
	}
	if w := writes(round(t, rt, cfg)); w != 0 {
		t.Fatalf("pass after the update wrote %d", w)
	}
}

func sfRecordsAll(t *testing.T, sf *emusf.Server, obj string) []emusf.Record {
	t.Helper()
	recs, err := sf.Records(obj)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func sfRecords(t *testing.T, sf *emusf.Server, obj string) []emusf.Record {
	t.Helper()
	var out []emusf.Record
	for _, r := range sfRecordsAll(t, sf, obj) {
		if !r.Deleted {
			out = append(out, r)
		}
	}
	return out
}

func bySubject(recs []emusf.Record, subject string) *emusf.Record {
	for i := range recs {
		if recs[i].Fields["Subject"] == subject {
			return &recs[i]
		}
	}
	return nil
}

// liveRelations maps event id → related (IsParent) person ids.
func liveRelations(t *testing.T, sf *emusf.Server) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	for _, r := range sfRecords(t, sf, "EventRelation") {
		if p, _ := r.Fields["IsParent"].(bool); !p {
			continue
		}
		ev, _ := r.Fields["EventId"].(string)
		if out[ev] == nil {
			out[ev] = map[string]bool{}
		}
		out[ev][r.Fields["RelationId"].(string)] = true
	}
	return out
}

// TestSyncConfigPrivateAndAutoRelate: private sync|skip|busy_only and
// auto_relate (default on, events only) reach the engine's settings.
func TestSyncConfigPrivateAndAutoRelate(t *testing.T) {
	dir := t.TempDir()
	base := "gateway: {proxy: http://127.0.0.1:3128}\nsalesforce: {instance_url: https://x.my.salesforce.com}\n"
	for _, tc := range []struct {
		name, users string
		private     engine.PrivateMode
		relate      bool
		err         string
	}{
		{"defaults", "users: [{user: a@corp.example, events: {}}]\n", engine.PrivateSync, true, ""},
		{"busy_only", "users: [{user: a@corp.example, events: {private: busy_only}}]\n", engine.PrivateBusyOnly, true, ""},
		{"skip, no relate", "users: [{user: a@corp.example, events: {private: skip, auto_relate: false}}]\n", engine.PrivateSkip, false, ""},
		{"unknown private", "users: [{user: a@corp.example, events: {private: hide}}]\n", "", false, "want sync, skip or busy_only"},
		{"contacts auto_relate", "users: [{user: a@corp.example, contacts: {auto_relate: true}}]\n", "", false, "events only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
			if err := os.WriteFile(p, []byte(base+tc.users), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := loadSyncConfig(p)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ks, err := cfg.settings(cfg.Users[0], model.Events)
			if err != nil || ks.Private != tc.private || ks.AutoRelate != tc.relate {
				t.Fatalf("settings %+v %v", ks, err)
			}
		})
	}
}
