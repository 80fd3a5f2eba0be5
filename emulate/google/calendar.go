package google

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/api/calendar/v3"
)

const (
	kindCalPage = "cal-page"
	kindCalSync = "cal-sync"

	defaultMaxResults = 250
	maxMaxResults     = 2500
	maxInstances      = 1000
	maxBody           = 1 << 20
	rfc3339Millis     = "2006-01-02T15:04:05.000Z"
)

// Parameters that cannot be combined with syncToken (events.list reference,
// syncToken parameter).
var syncRestricted = []string{"iCalUID", "orderBy", "privateExtendedProperty", "q", "sharedExtendedProperty", "timeMin", "timeMax", "updatedMin"}

func (s *Server) serveCalendar(w http.ResponseWriter, r *http.Request) {
	if e := s.calendar(w, r); e != nil {
		writeCalendarError(w, e)
	}
}

func (s *Server) calendar(w http.ResponseWriter, r *http.Request) *apiError {
	at, ok := s.authenticate(r)
	if !ok {
		return errCalUnauthorized()
	}
	if code, limited := s.throttled(at); limited {
		e := calErr(code, statusFor(code), "usageLimits", "rateLimitExceeded", "Rate Limit Exceeded")
		if code == 429 {
			e.retryAfter = 1
		}
		return e
	}
	segs, err := splitPath(strings.TrimPrefix(r.URL.EscapedPath(), "/calendar/v3/"))
	if err != nil || len(segs) < 3 || len(segs) > 5 || segs[0] != "calendars" || segs[2] != "events" ||
		len(segs) == 5 && segs[4] != "instances" {
		return errCalNotFound()
	}
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	if write && !at.hasScope(ScopeCalendar, ScopeCalendarEvents) ||
		!write && !at.hasScope(ScopeCalendar, ScopeCalendarEvents, ScopeCalendarReadonly, ScopeCalendarEventsReadonly) {
		return errInsufficientScopes()
	}
	if write {
		if e := checkSendUpdates(r.URL.Query()); e != nil {
			return e
		}
	}
	cid := strings.ToLower(segs[1])
	if at.Subject == "" || (cid != "primary" && cid != at.Subject) {
		return errCalNotFound()
	}
	if len(segs) == 3 {
		switch r.Method {
		case http.MethodGet:
			return s.listEvents(w, r, at.Subject)
		case http.MethodPost:
			return s.insertEvent(w, r, at.Subject)
		}
		return calErr(405, "INVALID_ARGUMENT", "global", "httpMethodNotAllowed", "Method Not Allowed")
	}
	eid := segs[3]
	if len(segs) == 5 {
		if r.Method != http.MethodGet {
			return calErr(405, "INVALID_ARGUMENT", "global", "httpMethodNotAllowed", "Method Not Allowed")
		}
		return s.listInstances(w, r, at.Subject, eid)
	}
	switch r.Method {
	case http.MethodGet:
		return s.getEvent(w, r, at.Subject, eid)
	case http.MethodPatch, http.MethodPut:
		return s.modifyEvent(w, r, at.Subject, eid, r.Method == http.MethodPatch)
	case http.MethodDelete:
		return s.deleteEvent(w, r, at.Subject, eid)
	}
	return calErr(405, "INVALID_ARGUMENT", "global", "httpMethodNotAllowed", "Method Not Allowed")
}

func splitPath(p string) ([]string, error) {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	for i, s := range parts {
		u, err := url.PathUnescape(s)
		if err != nil || u == "" {
			return nil, errors.New("bad path")
		}
		parts[i] = u
	}
	return parts, nil
}

// ---- event model ----

type eventTimes struct {
	start, end time.Time
	allDay     bool
	loc        *time.Location
}

func parseEventDateTime(dt *calendar.EventDateTime) (time.Time, bool, *time.Location, error) {
	if dt == nil || (dt.Date == "" && dt.DateTime == "") {
		return time.Time{}, false, nil, errors.New("missing")
	}
	if dt.Date != "" && dt.DateTime != "" {
		return time.Time{}, false, nil, errors.New("both date and dateTime")
	}
	if dt.Date != "" {
		t, err := time.ParseInLocation("2006-01-02", dt.Date, time.UTC)
		return t, true, time.UTC, err
	}
	t, err := time.Parse(time.RFC3339, dt.DateTime)
	if err != nil {
		return time.Time{}, false, nil, err
	}
	loc := t.Location()
	if dt.TimeZone != "" {
		l, err := time.LoadLocation(dt.TimeZone)
		if err != nil || dt.TimeZone == "Local" {
			return time.Time{}, false, nil, errors.New("bad time zone")
		}
		loc = l
	}
	return t.In(loc), false, loc, nil
}

func timesOf(ev *calendar.Event) (eventTimes, *apiError) {
	st, sd, sloc, err := parseEventDateTime(ev.Start)
	if err != nil {
		if ev.Start == nil || (ev.Start.Date == "" && ev.Start.DateTime == "") {
			return eventTimes{}, calErr(400, "INVALID_ARGUMENT", "global", "required", "Missing start time.")
		}
		return eventTimes{}, calErr(400, "INVALID_ARGUMENT", "global", "invalid", "Invalid start time.")
	}
	et, ed, _, err := parseEventDateTime(ev.End)
	if err != nil {
		if ev.End == nil || (ev.End.Date == "" && ev.End.DateTime == "") {
			return eventTimes{}, calErr(400, "INVALID_ARGUMENT", "global", "required", "Missing end time.")
		}
		return eventTimes{}, calErr(400, "INVALID_ARGUMENT", "global", "invalid", "Invalid end time.")
	}
	if sd != ed {
		return eventTimes{}, calErr(400, "INVALID_ARGUMENT", "global", "invalid", "Start and end times must either both be date or both be dateTime.")
	}
	if et.Before(st) || (sd && !et.After(st)) {
		return eventTimes{}, calErr(400, "INVALID_ARGUMENT", "calendar", "timeRangeEmpty", "The specified time range is empty.")
	}
	return eventTimes{start: st, end: et, allDay: sd, loc: sloc}, nil
}

func validateEvent(ev *calendar.Event) *apiError {
	t, e := timesOf(ev)
	if e != nil {
		return e
	}
	switch ev.Status {
	case "", "confirmed", "tentative", "cancelled":
	default:
		return calErr(400, "INVALID_ARGUMENT", "global", "invalid", "Invalid value for: status")
	}
	if len(ev.Recurrence) > 0 {
		if ev.RecurringEventId != "" {
			return calErr(400, "INVALID_ARGUMENT", "global", "invalid", "Invalid recurrence rule.")
		}
		if !t.allDay && ev.Start.TimeZone == "" {
			return calErr(400, "INVALID_ARGUMENT", "global", "required", "Missing time zone definition for start time.")
		}
		if _, err := parseRecurrence(ev.Recurrence, t.loc); err != nil {
			return calErr(400, "INVALID_ARGUMENT", "global", "invalid", "Invalid recurrence rule.")
		}
	}
	return nil
}

func validEventID(id string) bool {
	if len(id) < 5 || len(id) > 1024 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'v' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func newEventID() string {
	const alphabet = "0123456789abcdefghijklmnopqrstuv"
	b := make([]byte, 26)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("google emulator: random: %v", err))
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%32]
	}
	return string(b)
}

func cloneEvent(ev *calendar.Event) *calendar.Event {
	b, err := json.Marshal(ev)
	if err != nil {
		panic(fmt.Sprintf("google emulator: marshal event: %v", err))
	}
	var out calendar.Event
	if err := json.Unmarshal(b, &out); err != nil {
		panic(fmt.Sprintf("google emulator: unmarshal event: %v", err))
	}
	return &out
}

// stampLocked records a change: new sequence, updated time and etag.
func (s *Server) stampLocked(ev *calendar.Event) int64 {
	seq := s.nextSeq()
	now := s.clk.Now().UTC()
	ev.Updated = now.Format(rfc3339Millis)
	ev.Etag = fmt.Sprintf(`"%d%07d"`, now.Unix(), seq)
	return seq
}

// putEventLocked validates and stores a new event for user. ev.Id may be set.
func (s *Server) putEventLocked(u *userData, ev *calendar.Event) (*calendar.Event, *apiError) {
	if ev.Id != "" {
		if !validEventID(ev.Id) {
			return nil, calErr(400, "INVALID_ARGUMENT", "global", "invalid", "Invalid resource id value.")
		}
		if u.events[ev.Id] != nil {
			return nil, calErr(409, "ALREADY_EXISTS", "global", "duplicate", "The requested identifier already exists.")
		}
	} else {
		ev.Id = newEventID()
	}
	ev.RecurringEventId, ev.OriginalStartTime = "", nil
	if e := validateEvent(ev); e != nil {
		return nil, e
	}
	now := s.clk.Now().UTC()
	ev.Kind = "calendar#event"
	if ev.Status == "" {
		ev.Status = "confirmed"
	}
	ev.Created = now.Format(rfc3339Millis)
	ev.HtmlLink = "https://www.google.com/calendar/event?eid=" + ev.Id
	if ev.ICalUID == "" {
		ev.ICalUID = ev.Id + "@google.com"
	}
	ev.Creator = &calendar.EventCreator{Email: u.email, Self: true}
	ev.Organizer = &calendar.EventOrganizer{Email: u.email, Self: true}
	seq := s.stampLocked(ev)
	u.events[ev.Id] = &eventRec{ev: ev, seq: seq}
	return cloneEvent(ev), nil
}

func decodeBody(r *http.Request, v any) *apiError {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		return calErr(400, "INVALID_ARGUMENT", "global", "parseError", "Parse Error")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return calErr(400, "INVALID_ARGUMENT", "global", "parseError", "Parse Error")
	}
	return nil
}

func (s *Server) insertEvent(w http.ResponseWriter, r *http.Request, user string) *apiError {
	var ev calendar.Event
	if e := decodeBody(r, &ev); e != nil {
		return e
	}
	s.mu.Lock()
	u := s.userLocked(user)
	if u == nil {
		s.mu.Unlock()
		return errCalNotFound()
	}
	out, e := s.putEventLocked(u, &ev)
	if e == nil {
		s.noteWriteLocked(u, "insert", out, r.URL.Query())
	}
	s.mu.Unlock()
	if e != nil {
		return e
	}
	writeJSON(w, 200, out)
	return nil
}

// lookupLocked returns the stored event or, for an instance id of a
// recurring event that has no exception stored, the computed instance.
func (s *Server) lookupLocked(u *userData, eid string) (*calendar.Event, bool) {
	if rec := u.events[eid]; rec != nil {
		return rec.ev, true
	}
	mid, suffix, ok := cutLast(eid, "_")
	if !ok {
		return nil, false
	}
	m := u.events[mid]
	if m == nil || len(m.ev.Recurrence) == 0 {
		return nil, false
	}
	t, err := parseInstanceSuffix(suffix)
	if err != nil {
		return nil, false
	}
	for _, occ := range s.occurrences(m.ev, t.Add(time.Second), maxInstances*10) {
		if occ.Equal(t) {
			return instanceOf(m.ev, occ), false
		}
	}
	return nil, false
}

func cutLast(s, sep string) (string, string, bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return "", "", false
	}
	return s[:i], s[i+len(sep):], true
}

func parseInstanceSuffix(s string) (time.Time, error) {
	switch len(s) {
	case 8:
		return time.ParseInLocation("20060102", s, time.UTC)
	case 16:
		return time.Parse("20060102T150405Z", s)
	}
	return time.Time{}, errors.New("bad instance suffix")
}

// occurrences expands a recurring event's starts up to horizon.
func (s *Server) occurrences(ev *calendar.Event, horizon time.Time, max int) []time.Time {
	t, e := timesOf(ev)
	if e != nil {
		return nil
	}
	rec, err := parseRecurrence(ev.Recurrence, t.loc)
	if err != nil {
		return nil
	}
	return rec.expand(t.start, horizon, max, t.allDay)
}

func instanceID(masterID string, occ time.Time, allDay bool) string {
	if allDay {
		return masterID + "_" + occ.Format("20060102")
	}
	return masterID + "_" + occ.UTC().Format("20060102T150405Z")
}

func instanceOf(m *calendar.Event, occ time.Time) *calendar.Event {
	t, _ := timesOf(m)
	inst := cloneEvent(m)
	inst.Id = instanceID(m.Id, occ, t.allDay)
	inst.RecurringEventId = m.Id
	inst.Recurrence = nil
	dur := t.end.Sub(t.start)
	if t.allDay {
		days := int(dur.Hours() / 24)
		inst.Start = &calendar.EventDateTime{Date: occ.Format("2006-01-02")}
		inst.End = &calendar.EventDateTime{Date: occ.AddDate(0, 0, days).Format("2006-01-02")}
		inst.OriginalStartTime = &calendar.EventDateTime{Date: occ.Format("2006-01-02")}
	} else {
		tz := m.Start.TimeZone
		inst.Start = &calendar.EventDateTime{DateTime: occ.Format(time.RFC3339), TimeZone: tz}
		inst.End = &calendar.EventDateTime{DateTime: occ.Add(dur).In(occ.Location()).Format(time.RFC3339), TimeZone: m.End.TimeZone}
		inst.OriginalStartTime = &calendar.EventDateTime{DateTime: occ.Format(time.RFC3339), TimeZone: tz}
	}
	return inst
}

// minimal is how deleted events appear in lists: id and status, plus the
// instance identity for cancelled occurrences.
func minimal(ev *calendar.Event) *calendar.Event {
	return &calendar.Event{Kind: "calendar#event", Etag: ev.Etag, Id: ev.Id, Status: "cancelled", Updated: ev.Updated,
		RecurringEventId: ev.RecurringEventId, OriginalStartTime: ev.OriginalStartTime}
}

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request, user, eid string) *apiError {
	s.mu.Lock()
	u := s.userLocked(user)
	var ev *calendar.Event
	if u != nil {
		if found, _ := s.lookupLocked(u, eid); found != nil {
			ev = cloneEvent(found)
		}
	}
	s.mu.Unlock()
	if ev == nil {
		return errCalNotFound()
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && inm == ev.Etag {
		w.Header().Set("ETag", ev.Etag)
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	writeJSON(w, 200, ev)
	return nil
}

func ifMatchFails(r *http.Request, etag string) bool {
	im := r.Header.Get("If-Match")
	return im != "" && im != "*" && im != etag
}

func mergePatch(dst, patch map[string]any) {
	for k, v := range patch {
		if v == nil {
			delete(dst, k)
			continue
		}
		if pm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergePatch(dm, pm)
				continue
			}
		}
		dst[k] = v
	}
}

func (s *Server) modifyEvent(w http.ResponseWriter, r *http.Request, user, eid string, patch bool) *apiError {
	var body map[string]any
	if e := decodeBody(r, &body); e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(user)
	if u == nil {
		return errCalNotFound()
	}
	cur, _ := s.lookupLocked(u, eid)
	if cur == nil {
		return errCalNotFound()
	}
	if ifMatchFails(r, cur.Etag) {
		return errCalPrecondition()
	}
	base := map[string]any{}
	if patch {
		raw, _ := json.Marshal(cur)
		if err := json.Unmarshal(raw, &base); err != nil {
			return calErr(500, "INTERNAL", "global", "backendError", "Backend Error")
		}
	}
	mergePatch(base, body)
	raw, _ := json.Marshal(base)
	var next calendar.Event
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&next); err != nil {
		return calErr(400, "INVALID_ARGUMENT", "global", "parseError", "Parse Error")
	}
	// Read-only and identity fields are the server's.
	next.Id, next.Kind, next.Created, next.HtmlLink, next.ICalUID = cur.Id, cur.Kind, cur.Created, cur.HtmlLink, cur.ICalUID
	next.RecurringEventId, next.OriginalStartTime = cur.RecurringEventId, cur.OriginalStartTime
	next.Creator, next.Organizer = cur.Creator, cur.Organizer
	if next.RecurringEventId != "" {
		next.Recurrence = nil
	}
	if next.Status == "" {
		next.Status = "confirmed"
	}
	if e := validateEvent(&next); e != nil {
		return e
	}
	next.Sequence = cur.Sequence
	if !sameTimes(cur, &next) {
		next.Sequence++
	}
	seq := s.stampLocked(&next)
	u.events[next.Id] = &eventRec{ev: &next, seq: seq}
	op := "update"
	if patch {
		op = "patch"
	}
	s.noteWriteLocked(u, op, &next, r.URL.Query())
	writeJSON(w, 200, cloneEvent(&next))
	return nil
}

func sameTimes(a, b *calendar.Event) bool {
	ja, _ := json.Marshal([]any{a.Start, a.End, a.Recurrence})
	jb, _ := json.Marshal([]any{b.Start, b.End, b.Recurrence})
	return bytes.Equal(ja, jb)
}

func (s *Server) deleteEvent(w http.ResponseWriter, r *http.Request, user, eid string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(user)
	if u == nil {
		return errCalNotFound()
	}
	if e := s.deleteEventLocked(u, eid, r.Header.Get("If-Match")); e != nil {
		return e
	}
	if ev, _ := s.lookupLocked(u, eid); ev != nil {
		s.noteWriteLocked(u, "delete", ev, r.URL.Query())
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) deleteEventLocked(u *userData, eid, ifMatch string) *apiError {
	cur, _ := s.lookupLocked(u, eid)
	if cur == nil {
		return errCalNotFound()
	}
	if cur.Status == "cancelled" {
		return errCalDeleted()
	}
	if ifMatch != "" && ifMatch != "*" && ifMatch != cur.Etag {
		return errCalPrecondition()
	}
	next := cloneEvent(cur)
	next.Status = "cancelled"
	seq := s.stampLocked(next)
	u.events[next.Id] = &eventRec{ev: next, seq: seq}
	if len(next.Recurrence) > 0 { // a deleted series takes its exceptions with it
		for _, rec := range u.events {
			if rec.ev.RecurringEventId == next.Id && rec.ev.Status != "cancelled" {
				ex := cloneEvent(rec.ev)
				ex.Status = "cancelled"
				rec.seq = s.stampLocked(ex)
				rec.ev = ex
			}
		}
	}
	return nil
}

// ---- events.list ----

type listParams struct {
	syncToken, pageToken string
	maxResults           int
	showDeleted, single  bool
	timeMin, timeMax     time.Time
	hasMin, hasMax       bool
	updatedMin           time.Time
	hasUpdatedMin        bool
	privProps, sharProps []string
	q, iCalUID, orderBy  string
	hash                 string
}

func parseBool(q url.Values, name string) (bool, *apiError) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, calParamErr(400, "invalid", "Invalid value for: "+name, name)
	}
	return b, nil
}

func parseListParams(q url.Values) (*listParams, *apiError) {
	p := &listParams{syncToken: q.Get("syncToken"), pageToken: q.Get("pageToken"), maxResults: defaultMaxResults,
		privProps: q["privateExtendedProperty"], sharProps: q["sharedExtendedProperty"], q: q.Get("q"),
		iCalUID: q.Get("iCalUID"), orderBy: q.Get("orderBy")}
	if p.syncToken != "" {
		for _, name := range syncRestricted {
			if q.Has(name) {
				return nil, calParamErr(400, "syncTokenWithRequestRestrictions", "Sync token cannot be used with other request restrictions.", name)
			}
		}
		// Deleted events are always part of an incremental result.
		if v := q.Get("showDeleted"); v != "" {
			if b, err := strconv.ParseBool(v); err == nil && !b {
				return nil, calParamErr(400, "syncTokenWithRequestRestrictions", "Sync token cannot be used with other request restrictions.", "showDeleted")
			}
		}
	}
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
	if p.single, e = parseBool(q, "singleEvents"); e != nil {
		return nil, e
	}
	for _, f := range []struct {
		name string
		t    *time.Time
		has  *bool
	}{{"timeMin", &p.timeMin, &p.hasMin}, {"timeMax", &p.timeMax, &p.hasMax}, {"updatedMin", &p.updatedMin, &p.hasUpdatedMin}} {
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
	switch p.orderBy {
	case "", "updated":
	case "startTime":
		if !p.single {
			return nil, calParamErr(400, "badRequest", "The requested ordering is not available for the particular query.", "orderBy")
		}
	default:
		return nil, calParamErr(400, "invalid", "Invalid value for: orderBy", "orderBy")
	}
	for _, kv := range append(append([]string{}, p.privProps...), p.sharProps...) {
		if !strings.Contains(kv, "=") {
			return nil, calParamErr(400, "invalid", "Invalid extended property filter.", "privateExtendedProperty")
		}
	}
	parts := []string{p.syncToken, q.Get("maxResults"), q.Get("showDeleted"), q.Get("singleEvents"), q.Get("timeMin"),
		q.Get("timeMax"), q.Get("updatedMin"), strings.Join(p.privProps, "\x00"), strings.Join(p.sharProps, "\x00"), p.q, p.iCalUID, p.orderBy}
	p.hash = paramsHash(parts...)
	return p, nil
}

type listItem struct {
	ev  *calendar.Event
	key string
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, user string) *apiError {
	p, e := parseListParams(r.URL.Query())
	if e != nil {
		return e
	}
	s.mu.Lock()
	resp, e := s.listEventsLocked(p, user)
	s.mu.Unlock()
	if e != nil {
		return e
	}
	// Stored events are never mutated in place, so encoding outside the lock
	// is safe and a slow client does not stall the emulator.
	writeJSON(w, 200, resp)
	return nil
}

func (s *Server) listEventsLocked(p *listParams, user string) (*calendar.Events, *apiError) {
	u := s.userLocked(user)
	if u == nil {
		return nil, errCalNotFound()
	}
	var cur cursor
	switch {
	case p.pageToken != "":
		c, err := decodeToken(s.tokenKey, p.pageToken)
		if err != nil || c.Kind != kindCalPage || c.Sub != u.email || c.Params != p.hash {
			return nil, calParamErr(400, "invalid", "Invalid page token value.", "pageToken")
		}
		if c.Incr && c.From < u.calFloor {
			return nil, errFullSyncRequired()
		}
		cur = c
	case p.syncToken != "":
		c, err := decodeToken(s.tokenKey, p.syncToken)
		if err != nil || c.Kind != kindCalSync || c.Sub != u.email || c.Snap < u.calFloor || c.Snap > s.seq {
			return nil, errFullSyncRequired()
		}
		cur = cursor{Kind: kindCalPage, Sub: u.email, Snap: s.seq, From: c.Snap, Incr: true, Params: p.hash}
	default:
		cur = cursor{Kind: kindCalPage, Sub: u.email, Snap: s.seq, Params: p.hash}
	}
	items := s.collectLocked(u, p, cur)
	sort.Slice(items, func(i, j int) bool {
		if items[i].key != items[j].key {
			return items[i].key < items[j].key
		}
		return items[i].ev.Id < items[j].ev.Id
	})
	start := 0
	if cur.AfterKey != "" || cur.AfterID != "" {
		start = sort.Search(len(items), func(i int) bool {
			it := items[i]
			return it.key > cur.AfterKey || (it.key == cur.AfterKey && it.ev.Id > cur.AfterID)
		})
	}
	page := items[start:]
	resp := &calendar.Events{Kind: "calendar#events", Summary: u.email, TimeZone: "UTC", AccessRole: "owner",
		DefaultReminders: []*calendar.EventReminder{}, Updated: s.clk.Now().UTC().Format(rfc3339Millis),
		Etag: fmt.Sprintf(`"p%s%d"`, s.etagNonce, s.seq), Items: []*calendar.Event{}}
	if len(page) > p.maxResults {
		page = page[:p.maxResults]
		last := page[len(page)-1]
		next := cur
		next.AfterKey, next.AfterID = last.key, last.ev.Id
		resp.NextPageToken = s.encodeToken(next)
	} else {
		resp.NextSyncToken = s.encodeToken(cursor{Kind: kindCalSync, Sub: u.email, Snap: cur.Snap})
	}
	for _, it := range page {
		resp.Items = append(resp.Items, it.ev)
	}
	return resp, nil
}

// horizon bounds recurring-event expansion when the query has no timeMax.
func (s *Server) horizon(p *listParams) time.Time {
	if p.hasMax {
		return p.timeMax
	}
	return s.clk.Now().AddDate(2, 0, 0)
}

// collectLocked computes the candidate items of a list request (before paging).
func (s *Server) collectLocked(u *userData, p *listParams, cur cursor) []listItem {
	var out []listItem
	add := func(ev *calendar.Event, seq int64) {
		if !s.matchFilters(u, ev, p) {
			return
		}
		if ev.Status == "cancelled" {
			ev = minimal(ev)
		}
		key := fmt.Sprintf("%020d", seq)
		if p.orderBy == "startTime" {
			if t, e := timesOf(ev); e == nil {
				key = t.start.UTC().Format("2006-01-02T15:04:05Z") + key
			} else if ev.OriginalStartTime != nil {
				t, _, _, _ := parseEventDateTime(ev.OriginalStartTime)
				key = t.UTC().Format("2006-01-02T15:04:05Z") + key
			}
		}
		out = append(out, listItem{ev: ev, key: key})
	}
	for _, rec := range u.events {
		ev := rec.ev
		if cur.Incr && rec.seq <= cur.From {
			continue
		}
		cancelled := ev.Status == "cancelled"
		isException := ev.RecurringEventId != ""
		// Deleted items are always reported by an incremental sync.
		visible := func(cancelled, exception bool) bool {
			return !cancelled || cur.Incr || p.showDeleted || (exception && !p.single)
		}
		switch {
		case p.single && len(ev.Recurrence) > 0:
			for _, occ := range s.occurrences(ev, s.horizon(p), maxInstances) {
				inst := instanceOf(ev, occ)
				seq := rec.seq
				if ex := u.events[inst.Id]; ex != nil {
					if cur.Incr && ex.seq <= cur.From && rec.seq <= cur.From {
						continue
					}
					inst, seq = ex.ev, max(ex.seq, rec.seq)
					if cancelled {
						inst = cloneEvent(inst)
						inst.Status = "cancelled"
					}
				}
				if visible(inst.Status == "cancelled", true) && s.overlaps(inst, p) {
					add(inst, seq)
				}
			}
		case p.single && isException:
			// Reported through the master's expansion, unless the master is gone
			// or unchanged (an exception edited alone in an incremental sync).
			if m := u.events[ev.RecurringEventId]; m != nil && (!cur.Incr || m.seq > cur.From) {
				continue
			}
			if visible(cancelled, true) && s.overlaps(ev, p) {
				add(ev, rec.seq)
			}
		default:
			if visible(cancelled, isException) && s.overlaps(ev, p) {
				add(ev, rec.seq)
			}
		}
	}
	return out
}

// overlaps applies timeMin/timeMax: an event is listed when it ends after
// timeMin and starts before timeMax; a series when any occurrence does.
func (s *Server) overlaps(ev *calendar.Event, p *listParams) bool {
	if !p.hasMin && !p.hasMax {
		return true
	}
	var t eventTimes
	if tt, e := timesOf(ev); e == nil {
		t = tt
	} else if ev.OriginalStartTime != nil {
		st, _, _, err := parseEventDateTime(ev.OriginalStartTime)
		if err != nil {
			return false
		}
		t = eventTimes{start: st, end: st}
	} else {
		return false
	}
	if len(ev.Recurrence) > 0 {
		dur := t.end.Sub(t.start)
		for _, occ := range s.occurrences(ev, s.horizon(p), maxInstances) {
			if (!p.hasMin || occ.Add(dur).After(p.timeMin)) && (!p.hasMax || occ.Before(p.timeMax)) {
				return true
			}
		}
		return false
	}
	if p.hasMin && !t.end.After(p.timeMin) && !(t.end.Equal(t.start) && t.start.Equal(p.timeMin)) {
		return false
	}
	return !p.hasMax || t.start.Before(p.timeMax)
}

func (s *Server) matchFilters(u *userData, ev *calendar.Event, p *listParams) bool {
	props := ev.ExtendedProperties
	if ev.RecurringEventId != "" && props == nil {
		if m := u.events[ev.RecurringEventId]; m != nil {
			props = m.ev.ExtendedProperties
		}
	}
	for _, kv := range p.privProps {
		k, v, _ := strings.Cut(kv, "=")
		if props == nil || props.Private == nil || props.Private[k] != v {
			return false
		}
	}
	for _, kv := range p.sharProps {
		k, v, _ := strings.Cut(kv, "=")
		if props == nil || props.Shared == nil || props.Shared[k] != v {
			return false
		}
	}
	if p.iCalUID != "" && ev.ICalUID != p.iCalUID {
		return false
	}
	if p.hasUpdatedMin {
		if t, err := time.Parse(time.RFC3339, ev.Updated); err != nil || t.Before(p.updatedMin) {
			return false
		}
	}
	if p.q != "" {
		hay := strings.ToLower(ev.Summary + "\n" + ev.Description + "\n" + ev.Location)
		for _, w := range strings.Fields(strings.ToLower(p.q)) {
			if !strings.Contains(hay, w) {
				return false
			}
		}
	}
	return true
}

// ---- Go API for seeding and inspection ----

// PutEvent creates an event in user's primary calendar, as events.insert
// would (ev.Id may be preset), and returns the stored event.
func (s *Server) PutEvent(user string, ev *calendar.Event) (*calendar.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(user)
	if u == nil {
		return nil, fmt.Errorf("user %q: not found", user)
	}
	out, e := s.putEventLocked(u, cloneEvent(ev))
	if e != nil {
		return nil, fmt.Errorf("put event: %w", e)
	}
	return out, nil
}

// DeleteEvent deletes an event (or one instance of a series) as the user
// would in their mailbox.
func (s *Server) DeleteEvent(user, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(user)
	if u == nil {
		return fmt.Errorf("user %q: not found", user)
	}
	if e := s.deleteEventLocked(u, id, ""); e != nil {
		return fmt.Errorf("delete event %s: %w", id, e)
	}
	return nil
}

// Events returns every stored event of user (cancelled ones included, and
// exceptions of recurring events as stored), ordered by id.
func (s *Server) Events(user string) ([]*calendar.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(user)
	if u == nil {
		return nil, fmt.Errorf("user %q: not found", user)
	}
	out := make([]*calendar.Event, 0, len(u.events))
	for _, rec := range u.events {
		out = append(out, cloneEvent(rec.ev))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Id < out[j].Id })
	return out, nil
}
