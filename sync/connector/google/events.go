package google

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	_ "time/tzdata" // named zones must not depend on the host's zoneinfo

	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/googleapi"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

// sendUpdates=none on every write: Google sends no invitation, update or
// cancellation to anyone (events.insert, events.patch, events.delete).
const sendNone = "none"

// eventsShape binds a Calendar sync token to the listing parameters it was
// obtained with (Google: keep them identical across a sync chain).
var eventsShape = shapeTag("events", "singleEvents=false", "showDeleted=true")

// maxCalendarPage is events.list's largest maxResults.
const maxCalendarPage = 2500

var base32Hex = base32.HexEncoding.WithPadding(base32.NoPadding)

// EventID is the event id syncgate chooses for the event it creates with
// idempotency key key: "sg" and the base32hex SHA-256 of the key, 54
// characters of [0-9a-v] (events.insert: ids are 5-1024 characters of the
// base32hex alphabet, unique per calendar). A retried insert of the same
// key therefore hits 409 duplicate instead of making a second event.
func EventID(key string) string {
	sum := sha256.Sum256([]byte("syncgate/event-id/v1\x00" + key))
	return "sg" + strings.ToLower(base32Hex.EncodeToString(sum[:]))
}

// checkEventID refuses ids that Google never hands out: they are letters,
// digits and '_' (instances: master id, '_', original start).
func checkEventID(id string) error {
	if id == "" || len(id) > 1024 {
		return errors.New("google: event id must be 1-1024 characters")
	}
	for _, ch := range id {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_') {
			return errors.New("google: malformed event id")
		}
	}
	return nil
}

// ---- reading ----

func (c *Connector) eventChanges(ctx context.Context, s connector.Scope, cur string) (*connector.Changes, error) {
	token := ""
	if cur != "" {
		cu, err := parseCursor(cur, s)
		if err != nil {
			return nil, resyncCursor(err)
		}
		// A cursor made for another window (or request shape) lists the
		// scope's window afresh: a sync token keeps the restrictions of the
		// listing that made it.
		if cu.fits(s, eventsShape) {
			token = cu.token
		}
	}
	const op = "google list events"
	rctx := ctxFor(ctx, s)
	var all []*calendar.Event
	pageTok, next := "", ""
	for page := 0; ; page++ {
		if page >= c.maxPages {
			return nil, fmt.Errorf("%s: more than %d pages", op, c.maxPages)
		}
		call := c.cal.Events.List(primary).Context(rctx).MaxResults(int64(min(c.pageSize, maxCalendarPage))).
			ShowDeleted(true).SingleEvents(false)
		if token != "" {
			call = call.SyncToken(token)
		} else {
			call = call.TimeMin(s.WindowStart.UTC().Format(time.RFC3339)).TimeMax(s.WindowEnd.UTC().Format(time.RFC3339))
		}
		if pageTok != "" {
			call = call.PageToken(pageTok)
		}
		res, err := call.Do()
		if err != nil {
			return nil, mapErr(op, rctx, err, listClass(token))
		}
		all = append(all, res.Items...)
		if res.NextPageToken == "" {
			next = res.NextSyncToken
			break
		}
		if res.NextPageToken == pageTok {
			return nil, fmt.Errorf("%s: the same page token twice", op)
		}
		pageTok = res.NextPageToken
	}
	ch := &connector.Changes{Full: token == "", Cursor: makeCursor(next, eventsShape, s)}
	if c.series {
		return c.seriesChanges(ctx, s, ch, token, lastByID(all, func(ev *calendar.Event) string { return ev.Id }))
	}
	for _, ev := range lastByID(all, func(ev *calendar.Event) string { return ev.Id }) {
		if ev.Status == "cancelled" && ev.RecurringEventId == "" {
			// A deleted event (or a deleted series). A cancelled instance
			// of a series is an exception, never a series delete.
			ch.Deleted = append(ch.Deleted, ev.Id)
			continue
		}
		it, err := c.eventItem(s.User, ev)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		// An incremental listing reports changes anywhere in the calendar
		// (a sync token does not keep timeMin/timeMax): items outside the
		// window are neither items nor deletions.
		if token != "" && it.Event.Series == "" && !inWindow(it.Event, s) {
			continue
		}
		ch.Items = append(ch.Items, it)
	}
	return ch, nil
}

// lastByID keeps the last appearance of each id, in the order of the
// first: an item changed again while the listing was paged appears twice.
func lastByID[T any](xs []T, id func(T) string) []T {
	pos := map[string]int{}
	var out []T
	for _, x := range xs {
		k := id(x)
		if k == "" {
			continue
		}
		if i, ok := pos[k]; ok {
			out[i] = x
			continue
		}
		pos[k] = len(out)
		out = append(out, x)
	}
	return out
}

// inWindow reports whether an event overlaps the scope's window. All-day
// dates are civil dates: they are read in the widest sense (from UTC+14 to
// UTC-12), so an event Google's own window filter may list is never
// dropped here.
func inWindow(e *model.Event, s connector.Scope) bool {
	ws, we := s.WindowStart, s.WindowEnd
	if e.AllDay {
		sd, err1 := time.Parse(time.DateOnly, e.StartDate)
		ed, err2 := time.Parse(time.DateOnly, e.EndDate)
		if err1 != nil || err2 != nil {
			return true
		}
		return ed.Add(12*time.Hour).After(ws) && sd.Add(-14*time.Hour).Before(we)
	}
	if e.Start.Equal(e.End) {
		return !e.Start.Before(ws) && e.Start.Before(we)
	}
	return e.End.After(ws) && e.Start.Before(we)
}

// eventItem maps a Calendar event to the model; owner is the calendar's
// own address, left out of the attendees.
func (c *Connector) eventItem(owner string, ev *calendar.Event) (*model.Item, error) {
	e := &model.Event{Subject: ev.Summary, Location: ev.Location, Description: ev.Description}
	switch {
	case len(ev.Recurrence) > 0:
		e.Series = "master"
	case ev.RecurringEventId != "":
		// With singleEvents=false Google lists a series as its master and
		// the instances that differ from it (moved, edited or cancelled):
		// exceptions.
		e.Series = "exception"
	}
	if err := readTimes(ev, e); err != nil && e.Series == "" {
		return nil, err
	}
	switch strings.ToLower(ev.Visibility) {
	case "private", "confidential":
		e.Private = true
	}
	switch {
	case ev.EventType == "outOfOffice":
		e.ShowAs = "oof"
	case strings.EqualFold(ev.Transparency, "transparent"):
		e.ShowAs = "free"
	default:
		// An opaque ordinary event: busy, unless the other side said
		// tentative or out of office (kept in ShowAsProperty, see there).
		switch v := privateProp(ev, ShowAsProperty); v {
		case "tentative", "oof":
			e.ShowAs = v
		}
	}
	e.Categories = c.categoriesOf(ev)
	e.Attendees = attendeesOf(owner, ev)
	it := &model.Item{ID: ev.Id, Marker: ev.Etag, Key: privateProp(ev, KeyProperty), Event: e}
	if t, err := time.Parse(time.RFC3339, ev.Updated); err == nil {
		it.Modified = t.UTC()
	}
	return it, nil
}

// attendeesOf are the addresses of the event's guests, read for
// auto-relate only (syncgate never writes attendees): not the calendar's
// own entry (self), not resources (rooms), and not owner.
func attendeesOf(owner string, ev *calendar.Event) []string {
	var addrs []string
	for _, a := range ev.Attendees {
		if a == nil || a.Self || a.Resource {
			continue
		}
		addrs = append(addrs, a.Email)
	}
	return model.AttendeeList(owner, addrs)
}

// readTimes fills the all-day dates or the UTC instants. A cancelled
// instance carries only originalStartTime.
func readTimes(ev *calendar.Event, e *model.Event) error {
	start, end := ev.Start, ev.End
	if (start == nil || end == nil) && ev.OriginalStartTime != nil {
		start, end = ev.OriginalStartTime, ev.OriginalStartTime
	}
	if start == nil || end == nil {
		return errors.New("event without start or end")
	}
	if start.Date != "" || end.Date != "" {
		if _, err := time.Parse(time.DateOnly, start.Date); err != nil {
			return errors.New("event with a malformed start date")
		}
		if _, err := time.Parse(time.DateOnly, end.Date); err != nil {
			return errors.New("event with a malformed end date")
		}
		e.AllDay, e.StartDate, e.EndDate = true, start.Date, end.Date
		return nil
	}
	st, err1 := instant(start)
	et, err2 := instant(end)
	if err1 != nil || err2 != nil {
		return errors.New("event with a malformed dateTime")
	}
	e.Start, e.End = st.UTC(), et.UTC()
	return nil
}

// instant reads an EventDateTime's dateTime: RFC 3339 with an offset, or
// (as Google accepts on input) a local time in the named timeZone.
func instant(dt *calendar.EventDateTime) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, dt.DateTime); err == nil {
		return t, nil
	}
	if dt.TimeZone == "" || dt.TimeZone == "Local" {
		return time.Time{}, errors.New("dateTime without offset or zone")
	}
	loc, err := time.LoadLocation(dt.TimeZone)
	if err != nil {
		return time.Time{}, err
	}
	return time.ParseInLocation("2006-01-02T15:04:05", dt.DateTime, loc)
}

func privateProp(ev *calendar.Event, name string) string {
	if ev.ExtendedProperties == nil {
		return ""
	}
	return ev.ExtendedProperties.Private[name]
}

// categoriesOf maps the "selected" marker to the configured category.
func (c *Connector) categoriesOf(ev *calendar.Event) []string {
	if strings.EqualFold(strings.TrimSpace(privateProp(ev, SelectedProperty)), "true") ||
		(c.selColor != "" && ev.ColorId == c.selColor) {
		return []string{c.selCat}
	}
	return nil
}

func (c *Connector) selected(e *model.Event) bool {
	for _, cat := range e.Categories {
		if strings.EqualFold(strings.TrimSpace(cat), c.selCat) {
			return true
		}
	}
	return false
}

func (c *Connector) getEvent(ctx context.Context, s connector.Scope, id string) (*calendar.Event, error) {
	if err := checkEventID(id); err != nil {
		return nil, err
	}
	rctx := ctxFor(ctx, s)
	ev, err := c.cal.Events.Get(primary, id).Context(rctx).Do()
	if err != nil {
		return nil, mapErr("google get event", rctx, err, classItem)
	}
	if ev.Status == "cancelled" {
		// Google keeps deleted events readable for a while.
		return nil, fmt.Errorf("google get event: cancelled: %w", connector.ErrNotFound)
	}
	return ev, nil
}

func (c *Connector) getEventItem(ctx context.Context, s connector.Scope, id string) (*model.Item, error) {
	ev, err := c.getEvent(ctx, s, id)
	if err != nil {
		return nil, err
	}
	if c.series && len(ev.Recurrence) > 0 {
		return c.seriesItem(ctx, s, ev)
	}
	return c.eventItem(s.User, ev)
}

// findEvent looks the key up by the event id derived from it, then, for an
// event that carries the key under another id, with events.list
// privateExtendedProperty=syncgateKey=key.
func (c *Connector) findEvent(ctx context.Context, s connector.Scope, key string) (*model.Item, error) {
	ev, err := c.getEvent(ctx, s, EventID(key))
	switch {
	case err == nil && privateProp(ev, KeyProperty) == key:
		if c.series && len(ev.Recurrence) > 0 {
			return c.seriesItem(ctx, s, ev)
		}
		return c.eventItem(s.User, ev)
	case err != nil && !errors.Is(err, connector.ErrNotFound):
		return nil, err
	}
	const op = "google find event"
	rctx := ctxFor(ctx, s)
	pageTok := ""
	for page := 0; ; page++ {
		if page >= c.maxPages {
			return nil, fmt.Errorf("%s: more than %d pages", op, c.maxPages)
		}
		call := c.cal.Events.List(primary).Context(rctx).PrivateExtendedProperty(KeyProperty + "=" + key).
			ShowDeleted(false).SingleEvents(false).MaxResults(50)
		if pageTok != "" {
			call = call.PageToken(pageTok)
		}
		res, err := call.Do()
		if err != nil {
			return nil, mapErr(op, rctx, err, classPlain)
		}
		for _, ev := range res.Items {
			if ev.Status != "cancelled" && privateProp(ev, KeyProperty) == key {
				if c.series && len(ev.Recurrence) > 0 {
					return c.seriesItem(ctx, s, ev)
				}
				return c.eventItem(s.User, ev)
			}
		}
		if res.NextPageToken == "" || res.NextPageToken == pageTok {
			return nil, nil
		}
		pageTok = res.NextPageToken
	}
}

// ---- writing ----

// eventBody is the full Google form of e, as written on create.
func (c *Connector) eventBody(e *model.Event) (*calendar.Event, error) {
	start, end, err := googleTimes(e, "")
	if err != nil {
		return nil, err
	}
	ev := &calendar.Event{Summary: e.Subject, Location: e.Location, Description: e.Description,
		Start: start, End: end, Visibility: "default", Transparency: "opaque"}
	if e.Private {
		ev.Visibility = "private"
	}
	if strings.EqualFold(strings.TrimSpace(e.ShowAs), "free") {
		ev.Transparency = "transparent"
	}
	return ev, nil
}

// googleTimes is the start and end of e in Google's form. A timed event is
// written in zone (the event's own, on update) or UTC; an all-day event as
// its dates, never as instants. Each side clears the other form, so a
// patch can turn a timed event into an all-day one and back.
func googleTimes(e *model.Event, zone string) (*calendar.EventDateTime, *calendar.EventDateTime, error) {
	if e.AllDay {
		sd, err1 := time.Parse(time.DateOnly, e.StartDate)
		ed, err2 := time.Parse(time.DateOnly, e.EndDate)
		if err1 != nil || err2 != nil || !ed.After(sd) {
			return nil, nil, errors.New("google: all-day event needs dates YYYY-MM-DD with end (exclusive) after start")
		}
		return &calendar.EventDateTime{Date: e.StartDate, NullFields: []string{"DateTime", "TimeZone"}},
			&calendar.EventDateTime{Date: e.EndDate, NullFields: []string{"DateTime", "TimeZone"}}, nil
	}
	if e.Start.IsZero() || e.End.IsZero() || e.End.Before(e.Start) {
		return nil, nil, errors.New("google: timed event needs a start and an end not before it")
	}
	loc := time.UTC
	if zone != "" && zone != "Local" {
		if l, err := time.LoadLocation(zone); err == nil {
			loc = l
		}
	}
	name := loc.String()
	return &calendar.EventDateTime{DateTime: e.Start.In(loc).Format(time.RFC3339), TimeZone: name, NullFields: []string{"Date"}},
		&calendar.EventDateTime{DateTime: e.End.In(loc).Format(time.RFC3339), TimeZone: name, NullFields: []string{"Date"}}, nil
}

func (c *Connector) createEvent(ctx context.Context, s connector.Scope, key string, it *model.Item) (*model.Item, error) {
	if it.Event == nil {
		return nil, errors.New("google: create event: item is not an event")
	}
	series := c.series && it.Event.Series == "master" && it.Event.Recurrence != nil
	if it.Event.Series != "" && !series {
		return nil, fmt.Errorf("google: create event: series (%s): %w", it.Event.Series, connector.ErrUnsupported)
	}
	body, err := c.eventBody(it.Event)
	if err != nil {
		return nil, err
	}
	if series {
		if err := seriesBody(body, it.Event); err != nil {
			return nil, err
		}
	}
	id := EventID(key)
	body.Id = id
	body.ExtendedProperties = &calendar.EventExtendedProperties{Private: map[string]string{KeyProperty: key}}
	if c.selected(it.Event) {
		body.ExtendedProperties.Private[SelectedProperty] = "true"
	}
	if m := showAsMark(it.Event); m != "" {
		body.ExtendedProperties.Private[ShowAsProperty] = m
	}
	const op = "google create event"
	rctx := ctxFor(ctx, s)
	ev, err := c.cal.Events.Insert(primary, body).SendUpdates(sendNone).Context(rctx).Do()
	if err == nil {
		if series {
			return c.writeExceptions(ctx, s, ev.Id, it.Event)
		}
		return c.eventItem(s.User, ev)
	}
	var ge *googleapi.Error
	if !errors.As(err, &ge) || ge.Code != http.StatusConflict {
		return nil, mapErr(op, rctx, err, classPlain)
	}
	// 409 duplicate: this key's event exists (an earlier try that got no
	// answer) or existed and was deleted since.
	cur, gerr := c.cal.Events.Get(primary, id).Context(rctx).Do()
	if gerr != nil {
		return nil, mapErr(op, rctx, gerr, classPlain)
	}
	if privateProp(cur, KeyProperty) != key {
		return nil, mapErr(op, rctx, err, classPlain)
	}
	if cur.Status != "cancelled" {
		if series {
			return c.writeExceptions(ctx, s, cur.Id, it.Event)
		}
		return c.eventItem(s.User, cur)
	}
	// Deleted after that earlier try: Google keeps the id, so the event is
	// restored with this content rather than created under another id.
	body.Id = ""
	body.Status = "confirmed"
	body.ForceSendFields = []string{"Summary", "Location", "Description"}
	call := c.cal.Events.Patch(primary, id, body).SendUpdates(sendNone).Context(rctx)
	call.Header().Set("If-Match", cur.Etag)
	ev, err = call.Do()
	if err != nil {
		return nil, mapErr(op, rctx, err, classWrite)
	}
	return c.eventItem(s.User, ev)
}

func isSeries(ev *calendar.Event) bool {
	return len(ev.Recurrence) > 0 || ev.RecurringEventId != ""
}

func (c *Connector) updateEvent(ctx context.Context, s connector.Scope, id, marker string, it *model.Item) (*model.Item, error) {
	if it.Event == nil {
		return nil, errors.New("google: update event: item is not an event")
	}
	const op = "google update event"
	cur, err := c.getEvent(ctx, s, id)
	if err != nil {
		return nil, err
	}
	if cur.Etag != marker {
		return nil, fmt.Errorf("%s: etag moved: %w", op, connector.ErrConflict)
	}
	if c.series && len(cur.Recurrence) > 0 && it.Event.Recurrence != nil {
		return c.updateSeries(ctx, s, cur, marker, it.Event)
	}
	if isSeries(cur) || it.Event.Series != "" {
		return nil, fmt.Errorf("%s: series: %w", op, connector.ErrUnsupported)
	}
	patch, changed, err := c.eventPatch(cur, it.Event)
	if err != nil {
		return nil, err
	}
	if !changed {
		return c.eventItem(s.User, cur)
	}
	rctx := ctxFor(ctx, s)
	call := c.cal.Events.Patch(primary, id, patch).SendUpdates(sendNone).Context(rctx)
	call.Header().Set("If-Match", marker)
	ev, err := call.Do()
	if err != nil {
		return nil, mapErr(op, rctx, err, classWrite)
	}
	return c.eventItem(s.User, ev)
}

// eventPatch is a patch of the synced fields of cur that differ from want
// (compared in the model's normal form): no attendees, nothing unsynced.
func (c *Connector) eventPatch(cur *calendar.Event, want *model.Event) (*calendar.Event, bool, error) {
	have, err := c.eventItem("", cur)
	if err != nil {
		return nil, false, err
	}
	h, w := have.Event.Normalize(), want.Normalize()
	p := &calendar.Event{}
	changed := false
	set := func(field string, dst *string, v string) {
		*dst = v
		if v == "" {
			p.ForceSendFields = append(p.ForceSendFields, field)
		}
		changed = true
	}
	if h.Subject != w.Subject {
		set("Summary", &p.Summary, w.Subject)
	}
	if h.Location != w.Location {
		set("Location", &p.Location, w.Location)
	}
	if h.Description != w.Description {
		set("Description", &p.Description, w.Description)
	}
	if h.AllDay != w.AllDay || h.StartDate != w.StartDate || h.EndDate != w.EndDate || !h.Start.Equal(w.Start) || !h.End.Equal(w.End) {
		zone := ""
		if cur.Start != nil {
			zone = cur.Start.TimeZone
		}
		st, en, err := googleTimes(&w, zone)
		if err != nil {
			return nil, false, err
		}
		p.Start, p.End = st, en
		changed = true
	}
	if h.Private != w.Private {
		p.Visibility = "default"
		if w.Private {
			p.Visibility = "private"
		}
		changed = true
	}
	haveFree := strings.EqualFold(cur.Transparency, "transparent")
	if wantFree := w.ShowAs == "free"; haveFree != wantFree {
		p.Transparency = "opaque"
		if wantFree {
			p.Transparency = "transparent"
		}
		changed = true
	}
	// Patch merges extendedProperties.private key by key, so the mark is
	// cleared by writing it empty (read as no mark).
	if want := showAsMark(&w); cur.EventType != "outOfOffice" && want != privateProp(cur, ShowAsProperty) {
		p.ExtendedProperties = &calendar.EventExtendedProperties{Private: map[string]string{ShowAsProperty: want}}
		changed = true
	}
	return p, changed, nil
}

func (c *Connector) deleteEvent(ctx context.Context, s connector.Scope, id, marker string) error {
	if err := checkEventID(id); err != nil {
		return err
	}
	const op = "google delete event"
	if marker == "" {
		// Without an etag to hold it to, make sure this is still a single
		// event: deleting a master deletes the whole series.
		cur, err := c.getEvent(ctx, s, id)
		if err != nil {
			return err
		}
		if isSeries(cur) && !(c.series && len(cur.Recurrence) > 0) {
			return fmt.Errorf("%s: series: %w", op, connector.ErrUnsupported)
		}
	}
	rctx := ctxFor(ctx, s)
	call := c.cal.Events.Delete(primary, id).SendUpdates(sendNone).Context(rctx)
	if marker != "" {
		call.Header().Set("If-Match", marker)
	}
	if err := call.Do(); err != nil {
		return mapErr(op, rctx, err, classWrite)
	}
	return nil
}

// ShowAsProperty is the private extended property that keeps a
// "tentative" or "out of office" the other side gave an event. An ordinary
// Google event is only opaque (busy) or transparent (free); a real
// outOfOffice event is something else — it declines every meeting in its
// time and exists only on primary calendars of some users
// (https://developers.google.com/calendar/api/guides/calendar-status) — so
// the CRM's out-of-office is written as a busy event carrying this mark,
// and read back as out of office while the event stays opaque. A person
// who makes it free in Google wins; an outOfOffice event made in Google
// reads as out of office whatever the mark says.
const ShowAsProperty = "syncgateShowAs"

// showAsMark is the ShowAsProperty value for e: "" when Google's own
// transparency says it all.
func showAsMark(e *model.Event) string {
	switch v := strings.ToLower(strings.TrimSpace(e.ShowAs)); v {
	case "tentative", "oof":
		return v
	}
	return ""
}
