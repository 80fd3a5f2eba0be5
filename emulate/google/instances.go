package google

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"google.golang.org/api/calendar/v3"
)

// events.instances, as documented in
// https://developers.google.com/calendar/api/v3/reference/events/instances:
// GET /calendar/v3/calendars/{calendarId}/events/{eventId}/instances lists
// the occurrences of a recurring event in start order, each with its
// instance id, recurringEventId and originalStartTime, stored exceptions in
// place of the computed occurrence. timeMin (inclusive, against the end)
// and timeMax (exclusive, against the start) bound the window, originalStart
// picks one instance, showDeleted adds cancelled instances (otherwise left
// out), and maxResults (default 250, at most 2500) pages with pageToken. The
// answer is an Events collection without a nextSyncToken. Emulator choices:
// a non-recurring event lists itself as its only instance; a deleted series
// answers 410 deleted, as events.get on it would for an update.

const kindCalInst = "cal-inst"

type instanceParams struct {
	listParams
	originalStart time.Time
	hasOriginal   bool
}

func parseInstanceParams(q url.Values, eid string) (*instanceParams, *apiError) {
	p := &instanceParams{listParams: listParams{maxResults: defaultMaxResults, pageToken: q.Get("pageToken")}}
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, calParamErr(400, "invalid", "Invalid value for: maxResults", "maxResults")
		}
		p.maxResults = min(n, maxMaxResults)
	}
	var e *apiError
	if p.showDeleted, e = parseBool(q, "showDeleted"); e != nil {
		return nil, e
	}
	for _, f := range []struct {
		name string
		t    *time.Time
		has  *bool
	}{{"timeMin", &p.timeMin, &p.hasMin}, {"timeMax", &p.timeMax, &p.hasMax}} {
		if v := q.Get(f.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return nil, calParamErr(400, "badRequest", "Bad Request", f.name)
			}
			*f.t, *f.has = t, true
		}
	}
	if p.hasMin && p.hasMax && !p.timeMax.After(p.timeMin) {
		e := calParamErr(400, "timeRangeEmpty", "The specified time range is empty.", "timeMax")
		e.item.Domain = "calendar"
		return nil, e
	}
	if v := q.Get("originalStart"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			if t, err = time.ParseInLocation("2006-01-02", v, time.UTC); err != nil {
				return nil, calParamErr(400, "invalid", "Invalid value for: originalStart", "originalStart")
			}
		}
		p.originalStart, p.hasOriginal = t, true
	}
	p.hash = paramsHash(eid, q.Get("maxResults"), q.Get("showDeleted"), q.Get("timeMin"), q.Get("timeMax"), q.Get("originalStart"))
	return p, nil
}

func (s *Server) listInstances(w http.ResponseWriter, r *http.Request, user, eid string) *apiError {
	p, e := parseInstanceParams(r.URL.Query(), eid)
	if e != nil {
		return e
	}
	s.mu.Lock()
	resp, e := s.instancesLocked(p, user, eid)
	s.mu.Unlock()
	if e != nil {
		return e
	}
	writeJSON(w, 200, resp)
	return nil
}

func (s *Server) instancesLocked(p *instanceParams, user, eid string) (*calendar.Events, *apiError) {
	u := s.userLocked(user)
	if u == nil {
		return nil, errCalNotFound()
	}
	rec := u.events[eid]
	if rec == nil {
		return nil, errCalNotFound()
	}
	m := rec.ev
	if m.Status == "cancelled" {
		return nil, errCalDeleted()
	}
	var items []listItem
	add := func(ev *calendar.Event) {
		orig, _, _, err := parseEventDateTime(ev.OriginalStartTime)
		if ev.OriginalStartTime == nil {
			orig, _, _, err = parseEventDateTime(ev.Start)
		}
		if err != nil {
			return
		}
		if p.hasOriginal && !orig.Equal(p.originalStart) {
			return
		}
		if ev.Status == "cancelled" {
			if !p.showDeleted {
				return
			}
			ev = minimal(ev)
		}
		if !s.overlaps(ev, &p.listParams) {
			return
		}
		items = append(items, listItem{ev: ev, key: orig.UTC().Format("2006-01-02T15:04:05Z")})
	}
	if len(m.Recurrence) == 0 {
		add(cloneEvent(m))
	} else {
		for _, occ := range s.occurrences(m, s.horizon(&p.listParams), maxInstances) {
			inst := instanceOf(m, occ)
			if ex := u.events[inst.Id]; ex != nil {
				inst = ex.ev
			}
			add(inst)
		}
	}
	sort.Slice(items, func(i, j int) bool {
		if items[i].key != items[j].key {
			return items[i].key < items[j].key
		}
		return items[i].ev.Id < items[j].ev.Id
	})
	start := 0
	if p.pageToken != "" {
		c, err := decodeToken(s.tokenKey, p.pageToken)
		if err != nil || c.Kind != kindCalInst || c.Sub != u.email || c.Params != p.hash {
			return nil, calParamErr(400, "invalid", "Invalid page token value.", "pageToken")
		}
		start = sort.Search(len(items), func(i int) bool {
			it := items[i]
			return it.key > c.AfterKey || (it.key == c.AfterKey && it.ev.Id > c.AfterID)
		})
	}
	page := items[start:]
	resp := &calendar.Events{Kind: "calendar#events", Summary: u.email, TimeZone: "UTC", AccessRole: "owner",
		DefaultReminders: []*calendar.EventReminder{}, Updated: s.clk.Now().UTC().Format(rfc3339Millis),
		Etag: fmt.Sprintf(`"p%s%d"`, s.etagNonce, s.seq), Items: []*calendar.Event{}}
	if len(page) > p.maxResults {
		page = page[:p.maxResults]
		last := page[len(page)-1]
		resp.NextPageToken = s.encodeToken(cursor{Kind: kindCalInst, Sub: u.email, Snap: s.seq, Params: p.hash, AfterKey: last.key, AfterID: last.ev.Id})
	}
	for _, it := range page {
		resp.Items = append(resp.Items, it.ev)
	}
	return resp, nil
}
