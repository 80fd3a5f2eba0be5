package salesforce

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

// cursorPrefix versions the cursor encoding.
const cursorPrefix = "sf1."

// state is what a cursor remembers. Times are Unix milliseconds (the
// precision of SystemModstamp).
type state struct {
	Kind  model.Kind `json:"k"`
	Owner string     `json:"o"`
	// Low is the lower bound of the next read (SystemModstamp >= Low), in
	// whole seconds as SOQL literals have them; 0 means no bound yet.
	Low int64 `json:"l,omitempty"`
	// High is the high-water mark: the newest SystemModstamp seen.
	High int64 `json:"h,omitempty"`
	// Seen maps the ids already reported with a SystemModstamp >= Low to
	// that stamp: they are skipped when read again unchanged, so the
	// overlap below High never repeats an item.
	Seen map[string]int64 `json:"s,omitempty"`
	// WS and WE are the event window the cursor was read with.
	WS int64 `json:"ws,omitempty"`
	WE int64 `json:"we,omitempty"`
	// At is when the cursor was made (the connector's clock).
	At int64 `json:"at"`
}

func encodeCursor(st *state) string {
	b, err := json.Marshal(st)
	if err != nil { // only ints, strings and a map of ints
		panic("salesforce: cursor: " + err.Error())
	}
	return cursorPrefix + base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (*state, bool) {
	rest, ok := strings.CutPrefix(s, cursorPrefix)
	if !ok {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return nil, false
	}
	var st state
	if json.Unmarshal(b, &st) != nil || st.At == 0 || st.Low < 0 || st.High < 0 {
		return nil, false
	}
	return &st, true
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// windowCond restricts events to those overlapping [ws, we); "" when the
// scope has no window.
func windowCond(ws, we time.Time) string {
	var parts []string
	if !we.IsZero() {
		parts = append(parts, "StartDateTime < "+dateTime(we))
	}
	if !ws.IsZero() {
		parts = append(parts, "EndDateTime >= "+dateTime(ws))
	}
	return strings.Join(parts, " AND ")
}

// Changes reads the user's records of the scope's kind (OwnerId = the
// user) changed since cursor; see the package documentation for the
// cursor's design.
func (c *Connector) Changes(ctx context.Context, s connector.Scope, cursor string) (*connector.Changes, error) {
	ctx, obj, err := c.begin(ctx, s)
	if err != nil {
		return nil, err
	}
	uid, err := c.userID(ctx, s.User)
	if err != nil {
		return nil, err
	}
	now := c.now()
	ws, we := time.Time{}, time.Time{}
	if s.Kind == model.Events {
		ws, we = s.WindowStart, s.WindowEnd
	}
	op := "salesforce: query " + obj
	base := []string{"OwnerId = " + quote(uid)}
	if w := windowCond(ws, we); w != "" {
		if c.series && obj == "Event" {
			// A series is listed whatever its first occurrence's date:
			// one that began before the window is neither gone nor cut.
			w = "((" + w + ") OR IsRecurrence2 = true)" // SOQL wants AND and OR parenthesised
		}
		base = append(base, w)
	}
	order := " ORDER BY SystemModstamp ASC, Id ASC"
	sel := "SELECT " + strings.Join(c.fields(obj), ", ") + " FROM " + obj + " WHERE "

	if cursor == "" {
		recs, err := c.query(ctx, op, sel+strings.Join(base, " AND ")+order, false)
		if err != nil {
			return nil, err
		}
		st := &state{Kind: s.Kind, Owner: uid, WS: unixMilli(ws), WE: unixMilli(we), At: now.UnixMilli()}
		return c.result(ctx, obj, st, recs, nil, true)
	}

	st, ok := decodeCursor(cursor)
	if !ok || st.Kind != s.Kind || st.Owner != uid {
		return nil, fmt.Errorf("salesforce: %w", connector.ErrResync)
	}
	if now.Sub(time.UnixMilli(st.At)) > c.maxAge {
		return nil, fmt.Errorf("salesforce: cursor older than the Recycle Bin keeps deletions: %w", connector.ErrResync)
	}
	where := append([]string{}, base...)
	if st.Low > 0 {
		where = append(where, "SystemModstamp >= "+dateTime(time.Unix(st.Low, 0)))
	}
	// queryAll: deleted records (IsDeleted = true, still in the Recycle
	// Bin) come in the same read and the same SystemModstamp order.
	recs, err := c.query(ctx, op, sel+strings.Join(where, " AND ")+order, true)
	if err != nil {
		return nil, err
	}
	// Events whose window moved: the ones now inside it but outside the old
	// one are new to the engine whatever their SystemModstamp.
	var entered []record
	nws, nwe := unixMilli(ws), unixMilli(we)
	if s.Kind == model.Events && (nws != st.WS || nwe != st.WE) && (st.WS != 0 || st.WE != 0) {
		old := windowCond(timeOrZero(st.WS), timeOrZero(st.WE))
		q := sel + strings.Join(base, " AND ") + " AND NOT (" + old + ")" + order
		if entered, err = c.query(ctx, op, q, false); err != nil {
			return nil, err
		}
	}
	next := *st
	next.WS, next.WE, next.At = nws, nwe, now.UnixMilli()
	return c.result(ctx, obj, &next, recs, entered, false)
}

func timeOrZero(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// result filters what was already reported, maps the rest and advances the
// cursor state st (a copy the caller owns).
func (c *Connector) result(ctx context.Context, obj string, st *state, recs, entered []record, full bool) (*connector.Changes, error) {
	out := &connector.Changes{Full: full}
	seen := map[string]int64{}
	for id, ms := range st.Seen {
		seen[id] = ms
	}
	var live, deleted []record
	reported := map[string]bool{}
	for i := range recs {
		r := &recs[i]
		t, ok := parseTime(r.SystemModstamp)
		if !validID(r.ID) || !ok {
			return nil, fmt.Errorf("salesforce: query %s: record without Id or SystemModstamp", obj)
		}
		ms := t.UnixMilli()
		st.High = max(st.High, ms)
		if prev, ok := seen[r.ID]; ok && prev == ms {
			continue // reported before, unchanged since
		}
		seen[r.ID] = ms
		reported[r.ID] = true
		if r.IsDeleted {
			if c.series && obj == "Event" {
				deleted = append(deleted, *r)
				continue
			}
			out.Deleted = append(out.Deleted, r.ID)
			continue
		}
		live = append(live, *r)
	}
	for _, r := range entered {
		if !reported[r.ID] && !r.IsDeleted {
			reported[r.ID] = true
			live = append(live, r)
		}
	}
	var companies map[string]string
	if obj == "Contact" {
		var err error
		if companies, err = c.accountNames(ctx, live, nil); err != nil {
			return nil, err
		}
	}
	out.Items = make([]*model.Item, 0, len(live))
	if c.series && obj == "Event" {
		sc := connector.Scope{WindowStart: timeOrZero(st.WS), WindowEnd: timeOrZero(st.WE)}
		if _, err := c.foldSeries(ctx, sc, out, live, deleted); err != nil {
			return nil, err
		}
	} else {
		for i := range live {
			it, err := toItem(obj, &live[i], companies)
			if err != nil {
				return nil, err
			}
			out.Items = append(out.Items, it)
		}
	}
	// Next read: from the high-water second minus the look-back, skipping
	// what was reported at or after that bound.
	if st.High > 0 {
		hi := time.UnixMilli(st.High).Truncate(time.Second)
		st.Low = hi.Add(-c.lookback).Unix()
		st.Seen = keepFrom(seen, st.Low)
		if len(st.Seen) > maxSeen {
			st.Low = hi.Unix()
			st.Seen = keepFrom(seen, st.Low)
		}
	} else {
		st.Seen = nil
	}
	out.Cursor = encodeCursor(st)
	return out, nil
}

// keepFrom keeps the entries with a stamp at or after low (Unix seconds).
func keepFrom(seen map[string]int64, low int64) map[string]int64 {
	out := map[string]int64{}
	for id, ms := range seen {
		if ms >= low*1000 {
			out[id] = ms
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
