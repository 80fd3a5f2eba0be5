package ews

import (
	"context"
	"errors"
	"fmt"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

func ref(s connector.Scope) scopeRef { return scopeRef{user: s.User, folder: folderOf(s.Kind)} }

// fetched is one item GetItem returned.
type fetched struct {
	contact *rContact
	cal     *rCalendarItem
}

func (f *fetched) item(s connector.Scope) (*model.Item, error) {
	switch {
	case s.Kind == model.Contacts && f.contact != nil:
		return f.contact.item()
	case s.Kind == model.Events && f.cal != nil:
		it, err := f.cal.item()
		if err == nil {
			it.Event.Attendees = f.cal.attendees(s.User)
		}
		return it, err
	}
	return nil, fmt.Errorf("%w: ews: the item is not a %s item", connector.ErrUnsupported, folderOf(s.Kind))
}

func (f *fetched) changeKey() string {
	if f.contact != nil {
		_, ck := f.contact.id()
		return ck
	}
	_, ck := f.cal.id()
	return ck
}

// readShape asks for every property (AllProperties), bodies as text, and
// what AllProperties may leave out: the key property and, for calendar
// items, the time zones and a master's recurrence, modified and deleted
// occurrences.
func readShape(kind model.Kind) itemShape {
	sh := itemShape{BaseShape: "AllProperties", BodyType: "Text", Additional: &additionalProps{Extended: []extendedFieldURI{keyURI}}}
	if kind == model.Events {
		sh.Additional.Extended = append(sh.Additional.Extended, ruleURI)
		sh.Additional.Fields = []fieldURI{{FieldURI: "calendar:StartTimeZone"}, {FieldURI: "calendar:EndTimeZone"},
			{FieldURI: "calendar:Recurrence"}, {FieldURI: "calendar:ModifiedOccurrences"}, {FieldURI: "calendar:DeletedOccurrences"}}
	}
	return sh
}

// getItems reads ids with GetItem in batches of GetBatch. Ids that no
// longer exist (ErrorItemNotFound, or not in the folder) are left out;
// any other failure fails the whole read.
func (c *Connector) getItems(ctx context.Context, s connector.Scope, what string, ids []string) (map[string]*fetched, error) {
	out := make(map[string]*fetched, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), c.getBatch)
		batch := ids[:n]
		ids = ids[n:]
		for try := 0; len(batch) > 0; try++ {
			got, _, err := c.getBatch1(ctx, s, what, batch)
			var g *goneError
			if errors.As(err, &g) && try == 0 {
				// The gateway did not know some ids and the folder no
				// longer holds them: read the others.
				drop := map[string]bool{}
				for _, id := range g.ids {
					drop[id] = true
				}
				var rest []string
				for _, id := range batch {
					if !drop[id] {
						rest = append(rest, id)
					}
				}
				batch = rest
				continue
			}
			if err != nil {
				return nil, err
			}
			for id, f := range got {
				out[id] = f
			}
			break
		}
	}
	return out, nil
}

// getBatch1 is one GetItem of ids; gone holds the ErrNotFound error of
// each id Exchange no longer has (ErrorItemNotFound).
func (c *Connector) getBatch1(ctx context.Context, s connector.Scope, what string, ids []string) (got map[string]*fetched, gone []error, err error) {
	req := getItemReq{ItemShape: readShape(s.Kind)}
	for _, id := range ids {
		req.ItemIDs.IDs = append(req.ItemIDs.IDs, tItemID{ID: id})
	}
	cl := call{op: "GetItem", what: what, body: req, n: len(ids), ids: ids}
	msgs, rid, err := c.exec(ctx, ref(s), cl)
	if err != nil {
		return nil, nil, err
	}
	out := map[string]*fetched{}
	for i := range msgs {
		m := &msgs[i]
		if !ok(m) {
			if m.ResponseCode == "ErrorItemNotFound" {
				gone = append(gone, msgError(cl, m, rid))
				continue
			}
			return nil, nil, msgError(cl, m, rid)
		}
		f := &fetched{}
		switch {
		case m.Items != nil && len(m.Items.Contacts) == 1 && len(m.Items.CalendarItems) == 0 && len(m.Items.Other) == 0:
			f.contact = &m.Items.Contacts[0]
		case m.Items != nil && len(m.Items.CalendarItems) == 1 && len(m.Items.Contacts) == 0 && len(m.Items.Other) == 0:
			f.cal = &m.Items.CalendarItems[0]
		case m.Items != nil && len(m.Items.Other) == 1 && len(m.Items.Contacts)+len(m.Items.CalendarItems) == 0:
			continue // another class (a distribution list, a meeting message): not synced
		default:
			return nil, nil, fmt.Errorf("%s: malformed response: a message without exactly one item", what)
		}
		out[ids[i]] = f
	}
	return out, gone, nil
}

// getOne reads one item: ErrNotFound when it no longer exists.
func (c *Connector) getOne(ctx context.Context, s connector.Scope, what, id string) (*fetched, error) {
	if id == "" {
		return nil, errors.New(what + ": empty id")
	}
	got, gone, err := c.getBatch1(ctx, s, what, []string{id})
	if err != nil {
		return nil, err
	}
	if len(gone) > 0 {
		return nil, gone[0]
	}
	f := got[id]
	if f == nil {
		return nil, fmt.Errorf("%w: ews: the item is not a %s item", connector.ErrUnsupported, folderOf(s.Kind))
	}
	return f, nil
}

// Get reads one item; ErrNotFound when it no longer exists (or is no
// longer in the folder).
func (c *Connector) Get(ctx context.Context, s connector.Scope, id string) (*model.Item, error) {
	if err := checkScope(s); err != nil {
		return nil, err
	}
	f, err := c.getOne(ctx, s, "ews get "+itemWord(s.Kind), id)
	if err != nil {
		return nil, err
	}
	return c.toItem(ctx, s, f)
}

func itemWord(k model.Kind) string {
	if k == model.Events {
		return "calendar item"
	}
	return "contact"
}

// FindByKey finds the item whose key extended property equals key with
// FindItem (Traversal Shallow, a Restriction IsEqualTo on the property),
// or nil, nil.
func (c *Connector) FindByKey(ctx context.Context, s connector.Scope, key string) (*model.Item, error) {
	if err := checkScope(s); err != nil {
		return nil, err
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	what := "ews find " + itemWord(s.Kind) + " by key"
	cl := call{op: "FindItem", what: what, n: 1, body: findItemReq{
		Traversal:   "Shallow",
		ItemShape:   itemShape{BaseShape: "IdOnly", Additional: &additionalProps{Extended: []extendedFieldURI{keyURI}}},
		View:        indexedPageItemView{MaxEntriesReturned: 10, Offset: 0, BasePoint: "Beginning"},
		Restriction: &restriction{IsEqualTo: isEqualTo{Extended: keyURI, Constant: fieldURIOrConstant{Constant: constant{Value: key}}}},
		Parents:     folderRef{Folder: distinguishedFolderID{ID: folderOf(s.Kind)}},
	}}
	msgs, rid, err := c.exec(ctx, ref(s), cl)
	if err != nil {
		return nil, err
	}
	m := &msgs[0]
	if !ok(m) {
		return nil, msgError(cl, m, rid)
	}
	if m.RootFolder == nil {
		return nil, fmt.Errorf("%s: malformed response: no RootFolder", what)
	}
	// The store compares strings without case: keep exact matches only.
	var ids []string
	for _, it := range m.RootFolder.Items.Contacts {
		if id, _ := it.id(); id != "" && it.keyOf() == key {
			ids = append(ids, id)
		}
	}
	for _, it := range m.RootFolder.Items.CalendarItems {
		if id, _ := it.id(); id != "" && it.keyOf() == key {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		f, err := c.getOne(ctx, s, what, id)
		if errors.Is(err, connector.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		it, err := c.toItem(ctx, s, f)
		if err != nil {
			return nil, err
		}
		if it.Key == key {
			return it, nil
		}
	}
	return nil, nil
}

// Create writes a new contact or single calendar item (no attendees)
// carrying key into the distinguished folder and returns it as stored.
func (c *Connector) Create(ctx context.Context, s connector.Scope, key string, it *model.Item) (*model.Item, error) {
	if err := checkScope(s); err != nil {
		return nil, err
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	what := "ews create " + itemWord(s.Kind)
	req := createItemReq{SavedItemFolderID: folderRef{Folder: distinguishedFolderID{ID: folderOf(s.Kind)}}}
	switch {
	case s.Kind == model.Contacts && it != nil && it.Contact != nil:
		req.Items.Contact = newContact(*it.Contact, key)
	case s.Kind == model.Events && it != nil && it.Event != nil:
		switch it.Event.Series {
		case "":
		case "master":
			return c.createSeries(ctx, s, key, *it.Event)
		default:
			return nil, fmt.Errorf("%w: %s: an occurrence is written through its series master", connector.ErrUnsupported, what)
		}
		w, err := c.newCalendarItem(*it.Event, key)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		req.Items.CalendarItem = w
		req.SendMeetingInvitations = "SendToNone"
	default:
		return nil, fmt.Errorf("%s: item is not a %s", what, s.Kind)
	}
	id, err := c.createItem(ctx, s, what, req)
	if err != nil {
		return nil, err
	}
	out, err := c.Get(ctx, s, id)
	if err != nil {
		return nil, err
	}
	out.Key = key
	return out, nil
}

// Update writes the synced fields of id that differ from it, if its
// ChangeKey still is marker: ErrConflict when it moved (checked before
// writing, and by Exchange with ConflictResolution NeverOverwrite),
// ErrNotFound when id is gone, ErrUnsupported for a meeting this mailbox
// organises or a series.
func (c *Connector) Update(ctx context.Context, s connector.Scope, id, marker string, it *model.Item) (*model.Item, error) {
	if err := checkScope(s); err != nil {
		return nil, err
	}
	if marker == "" {
		return nil, errors.New("ews: update without a marker")
	}
	what := "ews update " + itemWord(s.Kind)
	if it == nil || s.Kind == model.Contacts && it.Contact == nil || s.Kind == model.Events && it.Event == nil {
		return nil, fmt.Errorf("%s: item is not a %s", what, s.Kind)
	}
	cur, err := c.getOne(ctx, s, what, id)
	if err != nil {
		return nil, err
	}
	if _, err := cur.item(s); err != nil {
		return nil, err
	}
	if cur.changeKey() != marker {
		return nil, fmt.Errorf("%w: %s: ChangeKey moved", connector.ErrConflict, what)
	}
	var ups []any
	req := updateItemReq{ConflictResolution: "NeverOverwrite"}
	if s.Kind == model.Contacts {
		ups = contactUpdates(*it.Contact, cur.contact)
	} else {
		if cur.cal.organisedMeeting(s.User) {
			return nil, fmt.Errorf("%w: %s: a meeting with attendees organised by this mailbox", connector.ErrUnsupported, what)
		}
		if it.Event.Series == "master" {
			return c.updateSeries(ctx, s, id, marker, cur.cal, *it.Event)
		}
		if err := c.writableEvent(what, s, cur.cal); err != nil {
			return nil, err
		}
		if it.Event.Series != "" {
			return nil, fmt.Errorf("%w: %s: an occurrence is written through its series master", connector.ErrUnsupported, what)
		}
		if ups, err = c.eventUpdates(*it.Event, cur.cal); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		req.SendMeetingInvitationsOrCancellations = "SendToNone"
	}
	if len(ups) == 0 {
		return cur.item(s) // already as wanted: nothing to write
	}
	req.ItemChanges.Change = itemChange{ItemID: &tItemID{ID: id, ChangeKey: marker}, Updates: updates{List: ups}}
	cl := call{op: "UpdateItem", what: what, body: req, n: 1, ids: []string{id}}
	msgs, rid, err := c.exec(ctx, ref(s), cl)
	if err != nil {
		return nil, err
	}
	if m := &msgs[0]; !ok(m) {
		return nil, msgError(cl, m, rid)
	}
	return c.Get(ctx, s, id)
}

// writableEvent refuses calendar items syncgate must not write as single
// events: meetings this mailbox organises (a write notifies attendees),
// series masters (written as series) and occurrences (written through
// their master).
func (c *Connector) writableEvent(what string, s connector.Scope, cal *rCalendarItem) error {
	if cal.organisedMeeting(s.User) {
		return fmt.Errorf("%w: %s: a meeting with attendees organised by this mailbox", connector.ErrUnsupported, what)
	}
	if t := cal.CalendarItemType; t != "" && t != "Single" {
		return fmt.Errorf("%w: %s: a series master or occurrence is not written as a single event", connector.ErrUnsupported, what)
	}
	return nil
}

// Delete removes id with DeleteItem (Options.DeleteType, default
// MoveToDeletedItems): ErrNotFound when it is already gone, ErrConflict
// when marker is set and the ChangeKey moved, ErrUnsupported for a
// meeting this mailbox organises or a series.
func (c *Connector) Delete(ctx context.Context, s connector.Scope, id, marker string) error {
	if err := checkScope(s); err != nil {
		return err
	}
	what := "ews delete " + itemWord(s.Kind)
	cur, err := c.getOne(ctx, s, what, id)
	if err != nil {
		return err
	}
	if _, err := cur.item(s); err != nil {
		return err
	}
	if marker != "" && cur.changeKey() != marker {
		return fmt.Errorf("%w: %s: ChangeKey moved", connector.ErrConflict, what)
	}
	req := deleteItemReq{DeleteType: c.deleteType, ItemIDs: itemIDs{IDs: []tItemID{{ID: id}}}}
	if s.Kind == model.Events {
		// A series is deleted whole through its master; an occurrence is
		// cancelled by an update of the master, never deleted on its own.
		if cur.cal.CalendarItemType != "RecurringMaster" {
			if err := c.writableEvent(what, s, cur.cal); err != nil {
				return err
			}
		} else if cur.cal.organisedMeeting(s.User) {
			return fmt.Errorf("%w: %s: a meeting with attendees organised by this mailbox", connector.ErrUnsupported, what)
		}
		req.SendMeetingCancellations = "SendToNone"
	}
	cl := call{op: "DeleteItem", what: what, body: req, n: 1, ids: []string{id}}
	msgs, rid, err := c.exec(ctx, ref(s), cl)
	if err != nil {
		return err
	}
	if m := &msgs[0]; !ok(m) {
		return msgError(cl, m, rid)
	}
	return nil
}

// createItem sends one CreateItem and returns the new item's id.
func (c *Connector) createItem(ctx context.Context, s connector.Scope, what string, req createItemReq) (string, error) {
	cl := call{op: "CreateItem", what: what, body: req, n: 1}
	msgs, rid, err := c.exec(ctx, ref(s), cl)
	if err != nil {
		return "", err
	}
	m := &msgs[0]
	if !ok(m) {
		return "", msgError(cl, m, rid)
	}
	var ids []*itemID
	if m.Items != nil {
		ids = m.Items.allIDs()
	}
	if len(ids) != 1 {
		return "", fmt.Errorf("%s: malformed response: no ItemId", what)
	}
	return ids[0].ID, nil
}
