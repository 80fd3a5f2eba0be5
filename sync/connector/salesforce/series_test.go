package salesforce_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/sync/connector/salesforce"
	"github.com/syncgate/syncgate/sync/model"
)

func sfSeries(t *testing.T, xs ...model.Exception) *model.Item {
	t.Helper()
	r, err := model.ParseRRULE("FREQ=WEEKLY;BYDAY=MO", "Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	r.Exceptions = xs
	loc, _ := time.LoadLocation("Europe/Berlin")
	st := time.Date(2025, 6, 2, 9, 0, 0, 0, loc) // long before the window
	return &model.Item{Event: &model.Event{Subject: "Standup", Location: "Room 1", Start: st.UTC(), End: st.Add(30 * time.Minute).UTC(),
		Series: "master", Recurrence: r}}
}

func at(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }

var (
	sfMoved  = model.Exception{OriginalStart: "2026-03-09T08:00:00Z", Start: at("2026-03-10T12:00:00Z"), End: at("2026-03-10T12:30:00Z"), Subject: "Standup (moved)"}
	sfCancel = model.Exception{OriginalStart: "2026-03-16T08:00:00Z", Cancelled: true}
)

func occString(t *testing.T, it *model.Item, ws, we time.Time) string {
	t.Helper()
	occ, err := it.Event.Occurrences(ws, we)
	if err != nil {
		t.Fatal(err)
	}
	var b []string
	for _, o := range occ {
		b = append(b, o.Start.Format(time.RFC3339)+"/"+o.Subject)
	}
	return strings.Join(b, " ")
}

func TestSeriesThroughSalesforce(t *testing.T) {
	e := newEnv(t, func(o *salesforce.Options) { o.Series = true })
	ctx := context.Background()
	ws, we := t0.AddDate(0, 0, -30), t0.AddDate(1, 0, 0)
	s := events(alice, ws, we)
	in := sfSeries(t, sfMoved, sfCancel)
	got, err := e.conn.Create(ctx, s, "series-1", in)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hash() != in.Hash() || occString(t, got, ws, we) != occString(t, in, ws, we) {
		t.Fatalf("created series reads back differently: %+v", got.Event.Recurrence)
	}
	if !strings.Contains(occString(t, got, ws, we), "2026-03-10T12:00:00Z/Standup (moved)") || strings.Contains(occString(t, got, ws, we), "2026-03-16") {
		t.Fatalf("occurrences %s", occString(t, got, ws, we))
	}
	ch := e.changes(t, s, "")
	if len(ch.Items) != 1 || ch.Items[0].ID != got.ID || ch.Items[0].Hash() != in.Hash() {
		t.Fatalf("full listing: %d items", len(ch.Items))
	}
	// A person cancels the occurrence of 23 March in Salesforce: the
	// series changes, nothing is deleted.
	var occID string
	for _, o := range e.srv.Occurrences(got.ID) {
		if o["StartDateTime"].(time.Time).Equal(at("2026-03-23T08:00:00Z")) {
			occID = o["Id"].(string)
		}
	}
	if occID == "" {
		t.Fatal("no occurrence record on 23 March")
	}
	e.clk.Advance(time.Minute)
	e.rest(t, alice, "DELETE", "/sobjects/Event/"+occID, nil)
	inc := e.changes(t, s, ch.Cursor)
	if len(inc.Deleted) != 0 || len(inc.Items) != 1 || inc.Items[0].ID != got.ID {
		t.Fatalf("incremental: %d items, deleted %v", len(inc.Items), inc.Deleted)
	}
	want := sfSeries(t, sfMoved, sfCancel, model.Exception{OriginalStart: "2026-03-23T08:00:00Z", Cancelled: true})
	if inc.Items[0].Hash() != want.Hash() {
		t.Fatalf("exceptions %+v", inc.Items[0].Event.Recurrence.Exceptions)
	}
	// The engine's update: the 30 March occurrence (after the EU switch,
	// 07:00Z) moves by an hour.
	upd := sfSeries(t, sfMoved, sfCancel, model.Exception{OriginalStart: "2026-03-23T08:00:00Z", Cancelled: true},
		model.Exception{OriginalStart: "2026-03-30T07:00:00Z", Start: at("2026-03-30T08:00:00Z"), End: at("2026-03-30T08:30:00Z")})
	got2, err := e.conn.Update(ctx, s, got.ID, inc.Items[0].Marker, upd)
	if err != nil {
		t.Fatal(err)
	}
	if got2.Hash() != upd.Hash() {
		t.Fatalf("update reads back %+v", got2.Event.Recurrence.Exceptions)
	}
	found, err := e.conn.FindByKey(ctx, s, "series-1")
	if err != nil || found == nil || found.Hash() != upd.Hash() {
		t.Fatalf("FindByKey: %v", err)
	}
	if g, err := e.conn.Get(ctx, s, got.ID); err != nil || g.Hash() != upd.Hash() {
		t.Fatalf("Get: %v", err)
	}
	// Deleting the series is a deletion of the one item.
	e.clk.Advance(time.Minute)
	cur := e.changes(t, s, inc.Cursor)
	if err := e.conn.Delete(ctx, s, got.ID, ""); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(time.Minute)
	last := e.changes(t, s, cur.Cursor)
	if len(last.Items) != 0 || len(last.Deleted) != 1 || last.Deleted[0] != got.ID {
		t.Fatalf("after delete: %d items, deleted %v", len(last.Items), last.Deleted)
	}
}
