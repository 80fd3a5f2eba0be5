package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

// Changes reads one complete delta round: every page from the first
// request (cursor "" = a new round, a full listing) or the stored
// deltaLink, following @odata.nextLink until @odata.deltaLink. Any failure
// on any page fails the whole call; nothing partial is returned.
func (c *Connector) Changes(ctx context.Context, s connector.Scope, cur string) (*connector.Changes, error) {
	switch s.Kind {
	case model.Contacts:
		return c.contactChanges(ctx, s, cur)
	case model.Events:
		return c.eventChanges(ctx, s, cur)
	}
	return nil, fmt.Errorf("graph: unknown kind %q", s.Kind)
}

// deltaEntry is the last word of a round about one id.
type deltaEntry struct {
	id      string
	removed string // "" for an item; else the @removed reason ("deleted" when Graph gave none)
	raw     json.RawMessage
}

// round is the outcome of a complete delta round.
type round struct {
	entries   []*deltaEntry // one per id, in order of first appearance
	deltaLink string
	pages     int
}

// deltaRound pages through one round. The same id may appear more than
// once in a round (Graph documents this); the last appearance wins.
func (c *Connector) deltaRound(ctx context.Context, s connector.Scope, op, first string, events bool) (*round, error) {
	rd := &round{}
	byID := map[string]*deltaEntry{}
	next := first
	for {
		if rd.pages >= c.maxPages {
			return nil, fmt.Errorf("%s: round longer than %d pages", op, c.maxPages)
		}
		resp, err := c.do(ctx, s, request{op: op, method: http.MethodGet, url: next, events: events, maxPageSize: c.pageSize, delta: true})
		if err != nil {
			return nil, err
		}
		rd.pages++
		var p listPage
		if err := json.Unmarshal(resp.body, &p); err != nil {
			return nil, fmt.Errorf("%s: malformed page", op)
		}
		for _, raw := range p.Value {
			var head struct {
				ID      string `json:"id"`
				Removed *struct {
					Reason string `json:"reason"`
				} `json:"@removed"`
			}
			if err := json.Unmarshal(raw, &head); err != nil || head.ID == "" {
				return nil, fmt.Errorf("%s: malformed item in page", op)
			}
			e := byID[head.ID]
			if e == nil {
				e = &deltaEntry{id: head.ID}
				byID[head.ID] = e
				rd.entries = append(rd.entries, e)
			}
			e.raw, e.removed = raw, ""
			if head.Removed != nil {
				e.raw = nil
				e.removed = strings.ToLower(strings.TrimSpace(head.Removed.Reason))
				if e.removed == "" {
					e.removed = "deleted"
				}
			}
		}
		switch {
		case p.NextLink != "":
			if _, ok := c.underBase(p.NextLink); !ok {
				return nil, fmt.Errorf("%s: nextLink leaves %s", op, c.base.Host)
			}
			next = p.NextLink
		case p.DeltaLink != "":
			if _, ok := c.underBase(p.DeltaLink); !ok {
				return nil, fmt.Errorf("%s: deltaLink leaves %s", op, c.base.Host)
			}
			rd.deltaLink = p.DeltaLink
			return rd, nil
		default:
			return nil, fmt.Errorf("%s: page with neither nextLink nor deltaLink", op)
		}
	}
}

// resyncCursor wraps a cursor that cannot be used.
func resyncCursor(err error) error {
	return fmt.Errorf("%w: %w", connector.ErrResync, err)
}

// contactSelect is what a contact delta asks for: the synced fields and
// the change key (id and @odata.etag always come).
const contactSelect = "givenName,surname,emailAddresses,companyName,jobTitle,department,businessPhones,mobilePhone,businessAddress,personalNotes,changeKey"

// contactRequired are the fields whose absence from a delta item means the
// item came abbreviated and is read again in full.
var contactRequired = []string{"givenName", "surname", "emailAddresses"}

func (c *Connector) contactChanges(ctx context.Context, s connector.Scope, cur string) (*connector.Changes, error) {
	if err := checkScope(s, model.Contacts); err != nil {
		return nil, err
	}
	const op = "graph contacts delta"
	full := cur == ""
	var first string
	switch {
	case full && c.contactsDelta:
		first = withQuery(c.userURL(s, "contacts", "delta"), "$select", contactSelect)
	case full:
		folder, err := c.defaultContactFolder(ctx, s)
		if err != nil {
			return nil, err
		}
		if folder == "" {
			// The default folder holds no contact, so this is the complete
			// (empty) listing; with no folder id there is no delta round
			// to start, and the next call lists again.
			return &connector.Changes{Full: true}, nil
		}
		first = withQuery(c.userURL(s, "contactFolders", folder, "contacts", "delta"), "$select", contactSelect)
	default:
		cu, err := c.parseCursor(cur, s)
		if err != nil {
			return nil, resyncCursor(err)
		}
		first = cu.link.String()
	}
	rd, err := c.deltaRound(ctx, s, op, first, false)
	if err != nil {
		return nil, err
	}
	out := &connector.Changes{Full: full, Cursor: makeCursor(rd.deltaLink, s)}
	for _, e := range rd.entries {
		switch {
		case e.removed == "deleted":
			out.Deleted = append(out.Deleted, e.id)
		case e.removed != "":
			// "changed": it left the folder but exists; not a deletion.
		default:
			it, err := c.contactFromDelta(ctx, s, e.raw)
			if err != nil {
				return nil, err
			}
			if it != nil {
				out.Items = append(out.Items, it)
			}
		}
	}
	if full && len(out.Items) > 0 {
		// Delta cannot $expand, so on a full listing the keys come from a
		// second listing of the same folder with the key expanded: a
		// fresh first sync must find syncgate's own items by key.
		keys, err := c.contactKeys(ctx, s)
		if err != nil {
			return nil, err
		}
		for _, it := range out.Items {
			if k := keys[it.ID]; k != "" {
				it.Key = k
			}
		}
	}
	return out, nil
}

// defaultContactFolder finds the id of the default contacts folder as the
// parentFolderId of a contact in /users/{u}/contacts, which lists that
// folder. "" when the folder is empty.
func (c *Connector) defaultContactFolder(ctx context.Context, s connector.Scope) (string, error) {
	resp, err := c.do(ctx, s, request{op: "graph find contacts folder", method: http.MethodGet,
		url: withQuery(c.userURL(s, "contacts"), "$top", "1", "$select", "parentFolderId")})
	if err != nil {
		return "", err
	}
	var p struct {
		Value []struct {
			ParentFolderID string `json:"parentFolderId"`
		} `json:"value"`
	}
	if err := json.Unmarshal(resp.body, &p); err != nil {
		return "", errors.New("graph find contacts folder: malformed answer")
	}
	if len(p.Value) == 0 {
		return "", nil
	}
	if p.Value[0].ParentFolderID == "" {
		return "", errors.New("graph find contacts folder: contact without parentFolderId")
	}
	return p.Value[0].ParentFolderID, nil
}

// contactKeys lists the default folder's contacts (/users/{u}/contacts,
// the folder the delta reads) with the key property expanded.
func (c *Connector) contactKeys(ctx context.Context, s connector.Scope) (map[string]string, error) {
	raws, err := c.list(ctx, s, "graph list contact keys",
		withQuery(c.userURL(s, "contacts"), "$select", "id", "$expand", expandKey, "$top", strconv.Itoa(c.pageSize)), false)
	if err != nil {
		return nil, err
	}
	keys := make(map[string]string, len(raws))
	for _, raw := range raws {
		var g struct {
			ID  string    `json:"id"`
			Ext []extProp `json:"singleValueExtendedProperties"`
		}
		if err := json.Unmarshal(raw, &g); err != nil {
			return nil, errors.New("graph list contact keys: malformed item")
		}
		if k := keyOf(g.Ext); k != "" {
			keys[g.ID] = k
		}
	}
	return keys, nil
}

// hasAll reports whether raw carries every one of the fields.
func hasAll(raw json.RawMessage, fields []string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	for _, f := range fields {
		if _, ok := m[f]; !ok {
			return false
		}
	}
	return true
}

// contactFromDelta maps a delta item, reading it again when it came
// without the synced fields. nil when it vanished meanwhile.
func (c *Connector) contactFromDelta(ctx context.Context, s connector.Scope, raw json.RawMessage) (*model.Item, error) {
	var g gContact
	if err := json.Unmarshal(raw, &g); err != nil {
		return nil, errors.New("graph contacts delta: malformed contact")
	}
	if !hasAll(raw, contactRequired) {
		full, err := c.getContact(ctx, s, g.ID)
		if errors.Is(err, connector.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return full.item(), nil
	}
	return g.item(), nil
}

// eventRequired: see contactRequired. Graph documents that occurrences and
// exceptions may come with few fields; those are not synced in part 1 and
// are not read again.
var eventRequired = []string{"subject", "start", "end"}

func checkWindow(s connector.Scope) error {
	if s.WindowStart.IsZero() || !s.WindowEnd.After(s.WindowStart) {
		return errors.New("graph: events need a window (WindowStart < WindowEnd)")
	}
	return nil
}

func (c *Connector) eventChanges(ctx context.Context, s connector.Scope, cur string) (*connector.Changes, error) {
	if err := checkScope(s, model.Events); err != nil {
		return nil, err
	}
	if err := checkWindow(s); err != nil {
		return nil, err
	}
	const op = "graph events delta"
	full := cur == ""
	var first string
	if !full {
		cu, err := c.parseCursor(cur, s)
		if err != nil {
			return nil, resyncCursor(err)
		}
		if cu.sameWindow(s) {
			first = cu.link.String()
		} else {
			// The window moved: a deltaLink keeps the window of the round
			// that made it, so list the new window afresh.
			full = true
		}
	}
	if full {
		first = withQuery(c.userURL(s, "calendarView", "delta"),
			"startDateTime", s.WindowStart.UTC().Format(time.RFC3339),
			"endDateTime", s.WindowEnd.UTC().Format(time.RFC3339))
	}
	rd, err := c.deltaRound(ctx, s, op, first, true)
	if err != nil {
		return nil, err
	}
	out := &connector.Changes{Full: full, Cursor: makeCursor(rd.deltaLink, s)}
	if c.series {
		return c.seriesEventChanges(ctx, s, rd, out)
	}
	for _, e := range rd.entries {
		switch {
		case e.removed == "deleted":
			// Graph also reports events that moved out of the window as
			// removed with reason "deleted" (event-delta docs), so a
			// tombstone is confirmed before it is passed on.
			gone, it, err := c.confirmEventRemoval(ctx, s, e.id)
			if err != nil {
				return nil, err
			}
			if gone {
				out.Deleted = append(out.Deleted, e.id)
			} else if it != nil {
				out.Items = append(out.Items, it)
			}
		case e.removed != "":
			// "changed": the event left the window; not a deletion.
		default:
			it, err := c.eventFromDelta(ctx, s, e.raw)
			if err != nil {
				return nil, err
			}
			if it != nil {
				out.Items = append(out.Items, it)
			}
		}
	}
	return out, nil
}

// confirmEventRemoval reads a removed event: gone when Graph answers 404;
// otherwise it still exists and is returned as an item when it overlaps
// the window (else it only left the window).
func (c *Connector) confirmEventRemoval(ctx context.Context, s connector.Scope, id string) (bool, *model.Item, error) {
	g, err := c.getEvent(ctx, s, id)
	if errors.Is(err, connector.ErrNotFound) {
		return true, nil, nil
	}
	if err != nil {
		return false, nil, err
	}
	it, err := g.item(s.User)
	if err != nil {
		return false, nil, err
	}
	if !overlapsWindow(it.Event, s) {
		return false, nil, nil
	}
	return false, it, nil
}

func overlapsWindow(e *model.Event, s connector.Scope) bool {
	start, end := e.Start, e.End
	if e.AllDay {
		sd, err1 := time.Parse(time.DateOnly, e.StartDate)
		ed, err2 := time.Parse(time.DateOnly, e.EndDate)
		if err1 != nil || err2 != nil {
			return false
		}
		// A civil date lies somewhere between UTC-12 and UTC+14.
		start, end = sd.Add(-14*time.Hour), ed.Add(12*time.Hour)
	}
	if end.Equal(start) {
		return !start.Before(s.WindowStart) && start.Before(s.WindowEnd)
	}
	return start.Before(s.WindowEnd) && end.After(s.WindowStart)
}

// eventFromDelta maps a delta item, reading a single event again when it
// came without the synced fields. nil when it vanished meanwhile.
func (c *Connector) eventFromDelta(ctx context.Context, s connector.Scope, raw json.RawMessage) (*model.Item, error) {
	var g gEvent
	if err := json.Unmarshal(raw, &g); err != nil {
		return nil, errors.New("graph events delta: malformed event")
	}
	if seriesOf(g.Type) == "" && !hasAll(raw, eventRequired) {
		full, err := c.getEvent(ctx, s, g.ID)
		if errors.Is(err, connector.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		g = *full
	}
	return g.item(s.User)
}
