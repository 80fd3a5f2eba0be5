package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

// gEvent is the part of Graph's event resource syncgate reads.
type gEvent struct {
	ID        string `json:"id"`
	ETag      string `json:"@odata.etag"`
	ChangeKey string `json:"changeKey"`
	Subject   string `json:"subject"`
	Body      *struct {
		ContentType string `json:"contentType"`
		Content     string `json:"content"`
	} `json:"body"`
	Start                 *dateTimeTZ `json:"start"`
	End                   *dateTimeTZ `json:"end"`
	OriginalStartTimeZone string      `json:"originalStartTimeZone"`
	OriginalEndTimeZone   string      `json:"originalEndTimeZone"`
	IsAllDay              bool        `json:"isAllDay"`
	Location              *struct {
		DisplayName string `json:"displayName"`
	} `json:"location"`
	Sensitivity   string            `json:"sensitivity"`
	ShowAs        string            `json:"showAs"`
	Categories    []string          `json:"categories"`
	Type          string            `json:"type"`
	TransactionID string            `json:"transactionId"`
	IsOrganizer   *bool             `json:"isOrganizer"`
	Attendees     []json.RawMessage `json:"attendees"`
	Ext           []extProp         `json:"singleValueExtendedProperties"`
	// Series (Options.Series).
	Recurrence     *gRecurrence `json:"recurrence"`
	SeriesMasterID string       `json:"seriesMasterId"`
}

// seriesOf maps Graph's event type to model.Event.Series.
func seriesOf(typ string) string {
	switch strings.ToLower(typ) {
	case "seriesmaster":
		return "master"
	case "occurrence":
		return "occurrence"
	case "exception":
		return "exception"
	}
	return ""
}

// showAsFromGraph maps freeBusyStatus to the model's four values; busy,
// workingElsewhere and unknown read as busy ("").
func showAsFromGraph(v string) string {
	switch strings.ToLower(v) {
	case "free":
		return "free"
	case "tentative":
		return "tentative"
	case "oof":
		return "oof"
	}
	return ""
}

func showAsToGraph(v string) string {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "free", "tentative", "oof":
		return strings.ToLower(strings.TrimSpace(v))
	}
	return "busy"
}

// bodyText is the event body as plain text: text bodies as they are, HTML
// bodies through htmlToText (syncgate asks for text with Prefer:
// outlook.body-content-type, but lists of events may still answer HTML).
func (g *gEvent) bodyText() string {
	if g.Body == nil {
		return ""
	}
	if strings.EqualFold(g.Body.ContentType, "html") {
		return htmlToText(g.Body.Content)
	}
	return g.Body.Content
}

// event maps the times: timed events as UTC instants; all-day events as
// the civil dates the user chose (see dateTimeTZ.civilDate), end exclusive.
func (g *gEvent) event() (model.Event, error) {
	e := model.Event{
		Subject:     g.Subject,
		Description: g.bodyText(),
		AllDay:      g.IsAllDay,
		Private:     strings.EqualFold(g.Sensitivity, "private") || strings.EqualFold(g.Sensitivity, "confidential"),
		ShowAs:      showAsFromGraph(g.ShowAs),
		Categories:  slices.Clone(g.Categories),
		Series:      seriesOf(g.Type),
	}
	if g.Location != nil {
		e.Location = g.Location.DisplayName
	}
	if g.Start == nil || g.End == nil {
		if e.Series != "" {
			return e.Normalize(), nil // skipped by the engine in part 1
		}
		return model.Event{}, errors.New("event without start or end")
	}
	var err error
	if e.AllDay {
		endZone := g.OriginalEndTimeZone
		if endZone == "" {
			endZone = g.OriginalStartTimeZone
		}
		if e.StartDate, err = g.Start.civilDate(g.OriginalStartTimeZone); err == nil {
			e.EndDate, err = g.End.civilDate(endZone)
		}
	} else if e.Start, err = g.Start.instant(); err == nil {
		e.End, err = g.End.instant()
	}
	if err != nil {
		if e.Series != "" {
			return e.Normalize(), nil
		}
		return model.Event{}, fmt.Errorf("event start/end: %w", err)
	}
	return e.Normalize(), nil
}

// key is the idempotency key: the extended property when it was expanded,
// else the transactionId syncgate sets to the same value on create.
func (g *gEvent) key() string {
	if k := keyOf(g.Ext); k != "" {
		return k
	}
	return g.TransactionID
}

// item maps the event; owner is the mailbox's own address, left out of
// the attendees.
func (g *gEvent) item(owner string) (*model.Item, error) {
	e, err := g.event()
	if err != nil {
		return nil, fmt.Errorf("graph: %w", err)
	}
	e.Attendees = g.attendees(owner)
	return &model.Item{ID: g.ID, Marker: marker(g.ETag, g.ChangeKey), Key: g.key(), Event: &e}, nil
}

// attendees are the addresses of the event's attendees (required and
// optional; rooms and equipment, type "resource", are not people), read
// for auto-relate only: syncgate never writes attendees.
func (g *gEvent) attendees(owner string) []string {
	var addrs []string
	for _, raw := range g.Attendees {
		var a struct {
			Type         string `json:"type"`
			EmailAddress *struct {
				Address string `json:"address"`
			} `json:"emailAddress"`
		}
		if json.Unmarshal(raw, &a) != nil || a.EmailAddress == nil || strings.EqualFold(a.Type, "resource") {
			continue
		}
		addrs = append(addrs, a.EmailAddress.Address)
	}
	return model.AttendeeList(owner, addrs)
}

// isMeeting reports whether writing the event would reach other people:
// it has attendees and this mailbox organises it (or Graph did not say).
// Updating or deleting such an event on the organiser's calendar sends
// updates or cancellations (event-delete docs), which syncgate never does.
func (g *gEvent) isMeeting() bool {
	return len(g.Attendees) > 0 && (g.IsOrganizer == nil || *g.IsOrganizer)
}

func decodeEvent(op string, b []byte) (*gEvent, error) {
	var g gEvent
	if err := json.Unmarshal(b, &g); err != nil || g.ID == "" {
		return nil, fmt.Errorf("%s: malformed event", op)
	}
	return &g, nil
}

// eventTimes renders the model's times: timed events in UTC; all-day
// events as midnight to midnight in UTC with isAllDay, which Graph requires
// to be midnights in one zone, so the dates read back unchanged.
func eventTimes(e model.Event) (start, end dateTimeTZ, err error) {
	const wall = "2006-01-02T15:04:05"
	if e.AllDay {
		sd, err := time.Parse(time.DateOnly, e.StartDate)
		if err != nil {
			return start, end, fmt.Errorf("%w: all-day event without a valid start date", connector.ErrUnsupported)
		}
		ed := sd.AddDate(0, 0, 1)
		if e.EndDate != "" {
			if ed, err = time.Parse(time.DateOnly, e.EndDate); err != nil || !ed.After(sd) {
				return start, end, fmt.Errorf("%w: all-day event end date not after its start date", connector.ErrUnsupported)
			}
		}
		return dateTimeTZ{sd.Format(wall), "UTC"}, dateTimeTZ{ed.Format(wall), "UTC"}, nil
	}
	if e.Start.IsZero() || e.End.Before(e.Start) {
		return start, end, fmt.Errorf("%w: timed event without a start, or ending before it starts", connector.ErrUnsupported)
	}
	return dateTimeTZ{e.Start.UTC().Format(wall), "UTC"}, dateTimeTZ{e.End.UTC().Format(wall), "UTC"}, nil
}

func sensitivityToGraph(private bool) string {
	if private {
		return "private"
	}
	return "normal"
}

// eventPatch is the body that makes cur's synced fields equal to e, naming
// only what differs (cur nil: a create, every synced field). It never
// names attendees: syncgate invites nobody. Times, isAllDay go together.
func eventPatch(e model.Event, cur *gEvent) (map[string]any, error) {
	e = e.Normalize()
	m := map[string]any{}
	var was model.Event
	if cur != nil {
		w, err := cur.event()
		if err != nil {
			return nil, err
		}
		was = w
	}
	if cur == nil || e.Subject != was.Subject {
		m["subject"] = e.Subject
	}
	if cur == nil || e.Description != was.Description {
		m["body"] = map[string]any{"contentType": "text", "content": e.Description}
	}
	if cur == nil || e.Location != was.Location {
		m["location"] = map[string]any{"displayName": e.Location}
	}
	if cur == nil || e.Private != was.Private {
		m["sensitivity"] = sensitivityToGraph(e.Private)
	}
	if cur == nil || e.ShowAs != was.ShowAs {
		m["showAs"] = showAsToGraph(e.ShowAs)
	}
	if cur == nil || e.AllDay != was.AllDay || !e.Start.Equal(was.Start) || !e.End.Equal(was.End) || e.StartDate != was.StartDate || e.EndDate != was.EndDate {
		st, en, err := eventTimes(e)
		if err != nil {
			return nil, err
		}
		m["start"], m["end"], m["isAllDay"] = st, en, e.AllDay
	}
	return m, nil
}

// getEvent reads an event with its key property, times in UTC.
func (c *Connector) getEvent(ctx context.Context, s connector.Scope, id string) (*gEvent, error) {
	const op = "graph get event"
	if id == "" {
		return nil, errors.New(op + ": empty id")
	}
	resp, err := c.do(ctx, s, request{op: op, method: http.MethodGet, url: withQuery(c.userURL(s, "events", id), "$expand", c.expandEvent()), events: true})
	if err != nil {
		return nil, err
	}
	return decodeEvent(op, resp.body)
}

func (c *Connector) getEventItem(ctx context.Context, s connector.Scope, id string) (*model.Item, error) {
	g, err := c.getEvent(ctx, s, id)
	if err != nil {
		return nil, err
	}
	if c.series && seriesOf(g.Type) == "master" {
		return c.seriesItem(ctx, s, g)
	}
	return g.item(s.User)
}

func (c *Connector) findEvent(ctx context.Context, s connector.Scope, key string) (*model.Item, error) {
	const op = "graph find event by key"
	raws, err := c.list(ctx, s, op, withQuery(c.userURL(s, "events"), "$filter", keyFilter(key), "$expand", c.expandEvent()), true)
	if err != nil {
		return nil, err
	}
	if len(raws) == 0 {
		return nil, nil
	}
	g, err := decodeEvent(op, raws[0])
	if err != nil {
		return nil, err
	}
	var it *model.Item
	if c.series && seriesOf(g.Type) == "master" {
		it, err = c.seriesItem(ctx, s, g)
	} else {
		it, err = g.item(s.User)
	}
	if err != nil {
		return nil, err
	}
	it.Key = key
	return it, nil
}

func (c *Connector) createEvent(ctx context.Context, s connector.Scope, key string, it *model.Item) (*model.Item, error) {
	const op = "graph create event"
	if it.Event == nil {
		return nil, errors.New(op + ": item is not an event")
	}
	if c.series && it.Event.Series == "master" && it.Event.Recurrence != nil {
		return c.createSeries(ctx, s, key, it)
	}
	if it.Event.Series != "" || it.Event.Recurrence != nil {
		return nil, fmt.Errorf("%w: %s: event series are not written (series off, or not a master)", connector.ErrUnsupported, op)
	}
	body, err := eventPatch(*it.Event, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if len(it.Event.Categories) > 0 {
		body["categories"] = slices.Clone(it.Event.Categories)
	}
	// transactionId makes a retried POST return the first event instead of
	// a second one; the extended property makes the key findable.
	body["transactionId"] = key
	body["singleValueExtendedProperties"] = []extProp{{ID: KeyPropertyID, Value: key}}
	resp, err := c.do(ctx, s, request{op: op, method: http.MethodPost, url: c.userURL(s, "events"), body: body, events: true})
	if err != nil {
		return nil, err
	}
	g, err := decodeEvent(op, resp.body)
	if err != nil {
		return nil, err
	}
	out, err := g.item(s.User)
	if err != nil {
		return nil, err
	}
	out.Key = key
	return out, nil
}

// currentEvent reads id before a write: ErrNotFound, ErrConflict when the
// marker moved, ErrUnsupported when the write would notify attendees or
// touch a series.
func (c *Connector) currentEvent(ctx context.Context, s connector.Scope, op, id, mark string) (*gEvent, error) {
	cur, err := c.getEvent(ctx, s, id)
	if err != nil {
		return nil, err
	}
	if mark != "" && !sameMarker(marker(cur.ETag, cur.ChangeKey), mark) {
		return nil, fmt.Errorf("%w: %s: marker moved", connector.ErrConflict, op)
	}
	if cur.isMeeting() {
		return nil, fmt.Errorf("%w: %s: the event is a meeting with attendees; writing it would notify them", connector.ErrUnsupported, op)
	}
	if t := seriesOf(cur.Type); t != "" && (!c.series || t != "master") {
		return nil, fmt.Errorf("%w: %s: event series are not written (series off, or not a master)", connector.ErrUnsupported, op)
	}
	return cur, nil
}

func (c *Connector) updateEvent(ctx context.Context, s connector.Scope, id, mark string, it *model.Item) (*model.Item, error) {
	const op = "graph update event"
	if it.Event == nil {
		return nil, errors.New(op + ": item is not an event")
	}
	cur, err := c.currentEvent(ctx, s, op, id, mark)
	if err != nil {
		return nil, err
	}
	if master := seriesOf(cur.Type) == "master"; master || it.Event.Recurrence != nil {
		if !master || it.Event.Recurrence == nil {
			return nil, fmt.Errorf("%w: %s: turning a single event into a series or back", connector.ErrUnsupported, op)
		}
		return c.updateSeries(ctx, s, cur, mark, it)
	}
	body, err := eventPatch(*it.Event, cur)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if len(body) == 0 {
		return cur.item(s.User)
	}
	resp, err := c.do(ctx, s, request{op: op, method: http.MethodPatch, url: c.userURL(s, "events", id), body: body, ifMatch: mark, events: true})
	if err != nil {
		return nil, err
	}
	g, err := decodeEvent(op, resp.body)
	if err != nil {
		return nil, err
	}
	out, err := g.item(s.User)
	if err != nil {
		return nil, err
	}
	if out.Key == "" {
		out.Key = cur.key()
	}
	return out, nil
}

func (c *Connector) deleteEvent(ctx context.Context, s connector.Scope, id, mark string) error {
	const op = "graph delete event"
	if _, err := c.currentEvent(ctx, s, op, id, mark); err != nil {
		return err
	}
	_, err := c.do(ctx, s, request{op: op, method: http.MethodDelete, url: c.userURL(s, "events", id), ifMatch: mark})
	return err
}
