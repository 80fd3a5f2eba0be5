package salesforce

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/syncgate/syncgate/sync/model"
)

// Lightning Experience event series (Event.IsRecurrence2, API 52.0+), as
// the Event object reference and the Change Data Capture guide's
// "Recurring Activities" example show them: the series record carries the
// pattern — IsRecurrence2 true, Recurrence2PatternText an RFC 5545 RRULE
// ("RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=MO;COUNT=13"),
// Recurrence2PatternVersion "1", Recurrence2PatternTimeZone (IANA),
// Recurrence2PatternStartDate — and each occurrence is an Event record of
// its own. Here an occurrence points at its series with RecurrenceActivityId
// and becomes IsRecurrence2Exception when it is edited apart from the
// series; deleting one occurrence cancels only it; deleting the series
// record deletes its occurrences.
//
// The emulator's own choices (not Salesforce's documented limits):
// occurrences are created from the series' start up to one year after the
// emulator's clock, at most maxOccurrences; the RRULE subset is
// sync/model's (FREQ DAILY/WEEKLY/MONTHLY/YEARLY, INTERVAL, BYDAY,
// BYMONTHDAY, BYMONTH, BYSETPOS, COUNT, UNTIL, WKST), anything else is
// FIELD_INTEGRITY_EXCEPTION; a changed pattern, start or zone replaces
// every occurrence (exceptions included), a changed subject, location or
// description reaches the occurrences that are not exceptions. An all-day
// series (IsAllDayEvent) repeats its date: its occurrences are all-day
// records on the rule's dates, at midnight UTC as Salesforce stores an
// all-day event, whatever Recurrence2PatternTimeZone says.

const maxOccurrences = 1000

// seriesFieldsLocked checks an Event's series fields before it is stored;
// old is the stored record on update (nil on create).
func seriesFieldsLocked(f map[string]any, old map[string]any) *opError {
	isSeries, _ := f["IsRecurrence2"].(bool)
	if old != nil {
		was, _ := old["IsRecurrence2"].(bool)
		if was != isSeries {
			return newOpError(http.StatusBadRequest, "FIELD_INTEGRITY_EXCEPTION", "You can't change IsRecurrence2 on an existing event.", "IsRecurrence2")
		}
	}
	if _, ok := f["IsRecurrence2"]; !ok {
		f["IsRecurrence2"] = false
	}
	if _, ok := f["IsRecurrence2Exception"]; !ok {
		f["IsRecurrence2Exception"] = false
	}
	if _, ok := f["IsRecurrence2Exclusion"]; !ok {
		f["IsRecurrence2Exclusion"] = false
	}
	text, _ := f["Recurrence2PatternText"].(string)
	if !isSeries {
		if text != "" {
			return newOpError(http.StatusBadRequest, "FIELD_INTEGRITY_EXCEPTION", "Recurrence2PatternText requires IsRecurrence2.", "Recurrence2PatternText")
		}
		return nil
	}
	if text == "" {
		return newOpError(http.StatusBadRequest, "REQUIRED_FIELD_MISSING", "Required fields are missing: [Recurrence2PatternText]", "Recurrence2PatternText")
	}
	if v, ok := f["Recurrence2PatternVersion"].(string); ok && v != "1" {
		return newOpError(http.StatusBadRequest, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Pattern Version: bad value for restricted picklist field: "+truncate(v, 20), "Recurrence2PatternVersion")
	}
	f["Recurrence2PatternVersion"] = "1"
	tz, _ := f["Recurrence2PatternTimeZone"].(string)
	if tz == "" {
		tz = "UTC"
		f["Recurrence2PatternTimeZone"] = tz
	}
	if !strings.HasPrefix(text, "RRULE:") {
		return newOpError(http.StatusBadRequest, "FIELD_INTEGRITY_EXCEPTION", "Recurrence2PatternText: the pattern must be an RRULE (RRULE:FREQ=...).", "Recurrence2PatternText")
	}
	if _, err := model.ParseRRULE(text, tz); err != nil {
		return newOpError(http.StatusBadRequest, "FIELD_INTEGRITY_EXCEPTION", "Recurrence2PatternText: "+truncate(err.Error(), 120), "Recurrence2PatternText")
	}
	f["Recurrence2PatternStartDate"] = f["StartDateTime"]
	return nil
}

// seriesEvent is the model view of a series record, to expand it.
func seriesEvent(f map[string]any) (*model.Event, error) {
	tz, _ := f["Recurrence2PatternTimeZone"].(string)
	text, _ := f["Recurrence2PatternText"].(string)
	r, err := model.ParseRRULE(text, tz)
	if err != nil {
		return nil, err
	}
	st, _ := f["StartDateTime"].(time.Time)
	en, _ := f["EndDateTime"].(time.Time)
	if allDay, _ := f["IsAllDayEvent"].(bool); allDay {
		// An all-day series repeats its date (ActivityDate), never the
		// midnight-UTC instant it is stored at: expanded as civil dates.
		d, _ := f["ActivityDate"].(time.Time)
		if d.IsZero() {
			d = st
		}
		d = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
		days := max(1, int((en.Sub(st)+24*time.Hour-time.Minute)/(24*time.Hour)))
		return &model.Event{AllDay: true, StartDate: d.Format(time.DateOnly), EndDate: d.AddDate(0, 0, days).Format(time.DateOnly), Recurrence: r}, nil
	}
	return &model.Event{Start: st, End: en, Recurrence: r}, nil
}

// afterEventWriteLocked keeps a series' occurrences in step after the
// series record r was created (old nil) or updated.
func (s *Server) afterEventWriteLocked(r *record, old map[string]any) {
	if isSeries, _ := r.fields["IsRecurrence2"].(bool); !isSeries {
		if old != nil && r.str("RecurrenceActivityId") != "" {
			for _, k := range []string{"StartDateTime", "EndDateTime", "Subject", "Location", "Description"} {
				if !sameValue(old[k], r.fields[k]) {
					r.fields["IsRecurrence2Exception"] = true
				}
			}
		}
		return
	}
	regen := old == nil
	if old != nil {
		for _, k := range []string{"Recurrence2PatternText", "Recurrence2PatternTimeZone", "StartDateTime", "EndDateTime", "IsAllDayEvent"} {
			if !sameValue(old[k], r.fields[k]) {
				regen = true
			}
		}
	}
	st := s.objects["event"]
	now := s.clk.Now().UTC().Truncate(time.Millisecond)
	for _, id := range st.order {
		o := st.records[id]
		if o.deleted() || o.str("RecurrenceActivityId") != r.id {
			continue
		}
		if regen {
			o.fields["IsDeleted"], o.fields["SystemModstamp"] = true, now
			continue
		}
		if ex, _ := o.fields["IsRecurrence2Exception"].(bool); ex {
			continue
		}
		for _, k := range []string{"Subject", "Location", "Description", "IsPrivate", "ShowAs"} {
			if !sameValue(old[k], r.fields[k]) {
				setOrDelete(o.fields, k, r.fields[k])
				o.fields["SystemModstamp"], o.fields["LastModifiedDate"] = now, now
			}
		}
	}
	if !regen {
		return
	}
	ev, err := seriesEvent(r.fields)
	if err != nil {
		return // validated on write
	}
	from := ev.Start
	if ev.AllDay {
		from, _ = time.Parse(time.DateOnly, ev.StartDate)
	}
	occ, err := ev.Occurrences(from, s.clk.Now().AddDate(1, 0, 0))
	if err != nil {
		return
	}
	if len(occ) > maxOccurrences {
		occ = occ[:maxOccurrences]
	}
	for _, o := range occ {
		f := map[string]any{}
		for _, k := range []string{"Subject", "Location", "Description", "IsPrivate", "ShowAs", "OwnerId", "IsAllDayEvent", "WhoId", "WhatId"} {
			if v, ok := r.fields[k]; ok {
				f[k] = v
			}
		}
		id := s.newIDLocked("00U")
		f["StartDateTime"], f["EndDateTime"] = o.Start, o.End
		if ev.AllDay {
			// Midnight UTC of the occurrence's date, whole days long, as
			// an all-day Event is stored.
			sd, _ := time.Parse(time.DateOnly, o.StartDate)
			ed, _ := time.Parse(time.DateOnly, o.EndDate)
			f["StartDateTime"], f["EndDateTime"] = sd, ed
		}
		_ = normalizeEvent(f)
		f["Id"], f["IsDeleted"] = id, false
		f["CreatedDate"], f["LastModifiedDate"], f["SystemModstamp"] = now, now, now
		f["CreatedById"], f["LastModifiedById"] = r.fields["LastModifiedById"], r.fields["LastModifiedById"]
		f["RecurrenceActivityId"] = r.id
		f["IsRecurrence"], f["IsRecurrence2"], f["IsRecurrence2Exception"], f["IsRecurrence2Exclusion"] = false, false, false, false
		st.records[id] = &record{id: id, fields: f}
		st.order = append(st.order, id)
	}
}

// deleteSeriesLocked deletes a series record's occurrences with it.
func (s *Server) deleteSeriesLocked(r *record, now time.Time) {
	if isSeries, _ := r.fields["IsRecurrence2"].(bool); !isSeries {
		return
	}
	for _, o := range s.objects["event"].records {
		if !o.deleted() && o.str("RecurrenceActivityId") == r.id {
			o.fields["IsDeleted"], o.fields["SystemModstamp"] = true, now
		}
	}
}

func sameValue(a, b any) bool {
	ta, oka := a.(time.Time)
	tb, okb := b.(time.Time)
	if oka || okb {
		return oka && okb && ta.Equal(tb)
	}
	return a == b
}

func setOrDelete(m map[string]any, k string, v any) {
	if v == nil {
		delete(m, k)
		return
	}
	m[k] = v
}

// Occurrences lists a series record's live occurrences in order (for
// tests and admin).
func (s *Server) Occurrences(seriesID string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.objects["event"]
	var out []map[string]any
	for _, id := range st.order {
		o := st.records[id]
		if o.deleted() || o.str("RecurrenceActivityId") != seriesID {
			continue
		}
		m := map[string]any{}
		for k, v := range o.fields {
			m[k] = v
		}
		out = append(out, m)
	}
	return out
}

// CancelOccurrence deletes one occurrence record of a series as username,
// as a person cancelling it in Salesforce would (admin, for tests and the
// demo).
func (s *Server) CancelOccurrence(username, id string) error {
	s.tx.RLock()
	defer s.tx.RUnlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[strings.ToLower(username)]
	if u == nil {
		return fmt.Errorf("salesforce: unknown user %q", username)
	}
	r := s.objects["event"].records[id]
	if r == nil || r.deleted() || r.str("RecurrenceActivityId") == "" {
		return fmt.Errorf("salesforce: %s is not a live occurrence of a series", id)
	}
	s.deleteLocked(u, r)
	return nil
}
