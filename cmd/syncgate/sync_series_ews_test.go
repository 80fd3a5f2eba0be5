package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	emuews "github.com/syncgate/syncgate/emulate/ews"
	"github.com/syncgate/syncgate/policy"
	syncgw "github.com/syncgate/syncgate/sync/gateway"
)

// ewsOccurrenceCall sends op naming occurrence 1 of master to the EWS
// endpoint through the gateway, acting as (and impersonating) user; it
// returns the status and the gateway's refusal reason.
func ewsOccurrenceCall(t *testing.T, hc *http.Client, url, user, op, master string) (int, string) {
	t.Helper()
	occ := `<t:OccurrenceItemId RecurringMasterId="` + master + `" InstanceIndex="1"/>`
	body := map[string]string{
		"GetItem":    `<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:ItemIds>` + occ + `</m:ItemIds></m:GetItem>`,
		"DeleteItem": `<m:DeleteItem DeleteType="MoveToDeletedItems" SendMeetingCancellations="SendToNone"><m:ItemIds>` + occ + `</m:ItemIds></m:DeleteItem>`,
	}[op]
	env := `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="` + policy.NSEWSMessages + `" xmlns:t="` + policy.NSEWSTypes + `">` +
		`<soap:Header><t:RequestServerVersion Version="Exchange2016"/><t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>` + user +
		`</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation></soap:Header><soap:Body>` + body + `</soap:Body></soap:Envelope>`
	req, err := http.NewRequestWithContext(syncgw.WithSubject(context.Background(), user), http.MethodPost, url, strings.NewReader(env))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `"`+policy.NSEWSMessages+"/"+op+`"`)
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var refusal struct{ Reason string }
	_ = json.Unmarshal(b, &refusal)
	return res.StatusCode, refusal.Reason
}

// TestSyncSeriesEWSThroughGateway: a weekly Exchange on-premises series
// that began before the window, with one moved and one cancelled
// occurrence, reaches Salesforce as one Lightning event series (its
// occurrence records moved and deleted to match); a Salesforce series
// reaches the mailbox as one RecurringMaster; further passes write
// nothing; a cancellation in Salesforce is an update of the EWS series,
// never a delete. Every call goes through the real gateway and its EWS
// policy (the occurrence calls included).
func TestSyncSeriesEWSThroughGateway(t *testing.T) {
	const carol = "carol@corp.example"
	st, cfg, rt := startSeriesWorld(t, carol+"=ews")
	sf, ex := st.set.Salesforce, st.set.EWS
	berlin, _ := time.LoadLocation("Europe/Berlin")
	// Mondays 09:00 Berlin, from eight weeks ago (before the 30-day window).
	now := time.Now().In(berlin)
	monday := time.Date(now.Year(), now.Month(), now.Day(), 9, 0, 0, 0, berlin)
	for monday.Weekday() != time.Monday {
		monday = monday.AddDate(0, 0, -1)
	}
	first := monday.AddDate(0, 0, -56)
	master, err := ex.AddCalendarItemWith(carol, emuews.CalendarItem{Subject: "Series standup", Start: first.UTC(), End: first.Add(30 * time.Minute).UTC()},
		emuews.Extras{Recurrence: &emuews.Recurrence{Pattern: "Weekly", Interval: 1, DaysOfWeek: "Monday", FirstDayOfWeek: "Monday", StartDate: first.Format(time.DateOnly)},
			StartTimeZone: "W. Europe Standard Time"})
	if err != nil {
		t.Fatal(err)
	}
	occ := func(weeks int) time.Time { return monday.AddDate(0, 0, 7*weeks) }
	// first is occurrence 1, this week's Monday occurrence 9.
	moved, cancelled := occ(1), occ(2)
	if _, err := ex.ModifyOccurrence(master, 10, emuews.OccurrenceEdit{Start: moved.Add(3 * time.Hour), End: moved.Add(3*time.Hour + 30*time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := ex.DeleteOccurrence(master, 11); err != nil {
		t.Fatal(err)
	}
	// A Salesforce series: Thursdays 15:00 New York, ten times.
	ny, _ := time.LoadLocation("America/New_York")
	thu := time.Date(now.Year(), now.Month(), now.Day(), 15, 0, 0, 0, ny).AddDate(0, 0, 1)
	for thu.Weekday() != time.Thursday {
		thu = thu.AddDate(0, 0, 1)
	}
	sfSeries, err := sf.Seed(carol, "Event", map[string]any{"Subject": "Series review", "StartDateTime": thu.UTC().Format(time.RFC3339),
		"EndDateTime": thu.Add(time.Hour).UTC().Format(time.RFC3339), "IsRecurrence2": true,
		"Recurrence2PatternText": "RRULE:FREQ=WEEKLY;BYDAY=TH;COUNT=10", "Recurrence2PatternTimeZone": "America/New_York"})
	if err != nil {
		t.Fatal(err)
	}

	round(t, rt, cfg)
	// Salesforce: one series record for the EWS series, its occurrences
	// moved and cancelled as in the mailbox; no single events.
	var sfStandup string
	for _, r := range sfRecords(t, sf, "Event") {
		if r.Fields["Subject"] != "Series standup" || r.Fields["RecurrenceActivityId"] != nil && r.Fields["RecurrenceActivityId"] != "" {
			continue
		}
		if r.Fields["IsRecurrence2"] != true || r.Fields["Recurrence2PatternText"] != "RRULE:FREQ=WEEKLY;BYDAY=MO" || r.Fields["Recurrence2PatternTimeZone"] != "Europe/Berlin" {
			t.Fatalf("series record %v", r.Fields)
		}
		if sfStandup != "" {
			t.Fatal("two Salesforce series for one EWS series")
		}
		sfStandup = r.ID
	}
	if sfStandup == "" {
		t.Fatal("the EWS series did not reach Salesforce")
	}
	for _, r := range sfRecords(t, sf, "Event") {
		if r.Fields["Subject"] == "Series standup" && r.Fields["RecurrenceActivityId"] != sfStandup && r.ID != sfStandup {
			t.Fatalf("a Series standup event outside the series: %v", r.Fields)
		}
	}
	starts := map[string]bool{}
	for _, o := range sf.Occurrences(sfStandup) {
		starts[o["StartDateTime"].(time.Time).UTC().Format(time.RFC3339)] = true
	}
	if starts[cancelled.UTC().Format(time.RFC3339)] || starts[moved.UTC().Format(time.RFC3339)] || !starts[moved.Add(3*time.Hour).UTC().Format(time.RFC3339)] || !starts[occ(3).UTC().Format(time.RFC3339)] {
		t.Fatalf("Salesforce occurrences %v", starts)
	}
	// The mailbox: one RecurringMaster for the Salesforce series, expanded
	// at 15:00 New York time; the EWS master is untouched.
	items, err := ex.Items(carol, "calendar")
	if err != nil {
		t.Fatal(err)
	}
	var review string
	for _, it := range items {
		if it.Deleted || it.Props["Subject"] != "Series review" {
			continue
		}
		if it.Props["CalendarItemType"] != "RecurringMaster" || review != "" {
			t.Fatalf("Salesforce series written as %s (or twice)", it.Props["CalendarItemType"])
		}
		review = it.ID
	}
	if review == "" {
		t.Fatal("the Salesforce series did not reach the mailbox")
	}
	occs, err := ex.Occurrences(review, thu.AddDate(0, 0, -1), thu.AddDate(0, 6, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(occs) != 10 || !occs[0].Start.Equal(thu) || !occs[9].Start.Equal(thu.AddDate(0, 0, 63)) {
		t.Fatalf("mailbox occurrences of the Salesforce series: %d, %v", len(occs), occs)
	}
	if w := writes(round(t, rt, cfg)); w != 0 {
		t.Fatalf("second pass wrote %d", w)
	}
	if w := writes(round(t, rt, cfg)); w != 0 {
		t.Fatalf("third pass wrote %d", w)
	}
	// A person cancels the Salesforce series' third occurrence: the EWS
	// series loses that occurrence; nothing is deleted.
	cancelOccurrencePass(t, rt, cfg, sf, carol, sfSeries, thu.AddDate(0, 0, 14))
	occs, err = ex.Occurrences(review, thu.AddDate(0, 0, -1), thu.AddDate(0, 6, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range occs {
		if o.OriginalStart.Equal(thu.AddDate(0, 0, 14)) {
			t.Fatal("the cancelled occurrence is still in the mailbox")
		}
	}
	if len(occs) != 9 {
		t.Fatalf("%d mailbox occurrences after the cancellation", len(occs))
	}
	if w := writes(round(t, rt, cfg)); w != 0 {
		t.Fatalf("last pass wrote %d", w)
	}
	// Occurrence ids are judged by their master's id: carol may read
	// hers; alice may neither read nor cancel an occurrence of carol's
	// master (its id was never relayed to her), and the mailbox keeps it.
	hc, url := rt.client.HTTP(), st.seeded.EWS.URL
	if status, reason := ewsOccurrenceCall(t, hc, url, carol, "GetItem", master); status != http.StatusOK {
		t.Fatalf("carol reading her own occurrence: %d %s", status, reason)
	}
	for _, op := range []string{"GetItem", "DeleteItem"} {
		if status, reason := ewsOccurrenceCall(t, hc, url, "alice@corp.example", op, master); status != http.StatusForbidden || reason != policy.ReasonEWSItemUnknown {
			t.Fatalf("alice's %s of carol's occurrence: %d %q", op, status, reason)
		}
	}
	if o, err := ex.Occurrences(master, first, first.AddDate(0, 0, 1)); err != nil || len(o) != 1 {
		t.Fatalf("carol's first occurrence after alice's attempts: %v %v", o, err)
	}
}
