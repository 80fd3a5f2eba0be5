package ews

import (
	"context"
	"errors"
	"fmt"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

// Changes reads one complete SyncFolderItems round on the kind's
// distinguished folder: from the stored SyncState (cursor) or, with cursor
// "", from none (every item, Full). Pages of MaxChangesReturned are read
// until IncludesLastItemInRange; Create and Update changes are then read
// in full with GetItem in batches, Delete changes are tombstones and
// ReadFlagChange is ignored. Any failure on any page or batch fails the
// whole call; nothing partial is returned.
func (c *Connector) Changes(ctx context.Context, s connector.Scope, cur string) (*connector.Changes, error) {
	if err := checkScope(s); err != nil {
		return nil, err
	}
	if err := checkWindow(s); err != nil {
		return nil, err
	}
	what := "ews sync " + folderOf(s.Kind)
	state, full := "", true
	if cur != "" {
		cu, err := parseCursor(cur, s)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", connector.ErrResync, err)
		}
		// A SyncState knows nothing of the window: when the window moved,
		// items that entered it unchanged would never be reported, so
		// the new window is listed afresh.
		if s.Kind == model.Contacts || cu.sameWindow(s) {
			state, full = cu.state, false
		}
	}
	type entry struct {
		id      string
		deleted bool
	}
	var order []*entry
	byID := map[string]*entry{}
	note := func(id string, deleted bool) {
		e := byID[id]
		if e == nil {
			e = &entry{id: id}
			byID[id] = e
			order = append(order, e)
		}
		e.deleted = deleted
	}
	for page := 0; ; page++ {
		if page >= c.maxPages {
			return nil, fmt.Errorf("%s: round longer than %d pages", what, c.maxPages)
		}
		cl := call{op: "SyncFolderItems", what: what, n: 1, body: syncFolderItemsReq{
			ItemShape:          itemShape{BaseShape: "IdOnly"},
			SyncFolderID:       folderRef{Folder: distinguishedFolderID{ID: folderOf(s.Kind)}},
			SyncState:          state,
			MaxChangesReturned: c.pageSize,
		}}
		msgs, rid, err := c.exec(ctx, ref(s), cl)
		if err != nil {
			return nil, err
		}
		m := &msgs[0]
		if !ok(m) {
			return nil, msgError(cl, m, rid)
		}
		if !validSyncState(m.SyncState) {
			return nil, fmt.Errorf("%s: malformed response: no SyncState", what)
		}
		if m.Changes != nil {
			for _, ch := range m.Changes.List {
				if ch.XMLName.Space != NSTypes {
					return nil, fmt.Errorf("%s: malformed response: change in a foreign namespace", what)
				}
				switch ch.XMLName.Local {
				case "Create", "Update":
					if len(ch.Items) != 1 || ch.Items[0].ItemID == nil || ch.Items[0].ItemID.ID == "" {
						return nil, fmt.Errorf("%s: malformed response: %s without one item", what, ch.XMLName.Local)
					}
					if x := ch.Items[0].XMLName; x.Space == NSTypes && (x.Local == "Contact" && s.Kind == model.Contacts || x.Local == "CalendarItem" && s.Kind == model.Events) {
						note(ch.Items[0].ItemID.ID, false)
					}
					// Other classes (distribution lists, meeting messages)
					// are not synced.
				case "Delete":
					if ch.ItemID == nil || ch.ItemID.ID == "" {
						return nil, fmt.Errorf("%s: malformed response: Delete without ItemId", what)
					}
					note(ch.ItemID.ID, true)
				case "ReadFlagChange":
				default:
					return nil, fmt.Errorf("%s: malformed response: unknown change", what)
				}
			}
		}
		state = m.SyncState
		switch m.IncludesLastItemInRange {
		case "true":
		case "false":
			continue
		default:
			return nil, fmt.Errorf("%s: malformed response: IncludesLastItemInRange missing", what)
		}
		break
	}
	var ids []string
	out := &connector.Changes{Full: full, Cursor: makeCursor(state, s)}
	for _, e := range order {
		if e.deleted {
			out.Deleted = append(out.Deleted, e.id)
		} else {
			ids = append(ids, e.id)
		}
	}
	got, err := c.getItems(ctx, s, "ews get "+itemWord(s.Kind)+"s", ids)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		f := got[id]
		if f == nil {
			continue // gone since the round, or not a synced class
		}
		if s.Kind == model.Contacts {
			it, err := f.item(s)
			if err != nil {
				return nil, err
			}
			out.Items = append(out.Items, it)
			continue
		}
		// Series masters are listed when the series has an occurrence in
		// the window; occurrences and exceptions never on their own.
		it, listed, err := c.calendarItem(ctx, s, f)
		if errors.Is(err, connector.ErrNotFound) {
			continue // a master deleted while its exceptions were read: its tombstone comes next round
		}
		if err != nil {
			return nil, err
		}
		if it != nil && !listed && !full && it.Event != nil && it.Event.Recurrence != nil {
			// SyncFolderItems reports changes whatever the window: a
			// master changed so that the series has no occurrence left in
			// it (a split's truncated original) is departed.
			out.Departed = append(out.Departed, it)
			continue
		}
		if it == nil || !listed {
			continue // outside the window: neither listed nor deleted
		}
		out.Items = append(out.Items, it)
	}
	return out, nil
}
