package memory

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

type rec struct {
	item    *model.Item
	ver     int
	seq     int64
	created int64 // seq of the create
	deleted bool
}

// Side is one in-memory service holding every user's items.
type Side struct {
	side model.Side
	// Series makes the side connector.SeriesCapable: it then holds series
	// masters with their recurrence and lists a master when the series has
	// an occurrence in the scope's window (single events are listed
	// whatever the window, as before); an incremental read reports a
	// changed master without one in Changes.Departed.
	Series bool
	// RefuseRule, when set, makes Create and Update refuse a series whose
	// rule it returns true for with connector.ErrUnsupported (a pattern
	// this side cannot express).
	RefuseRule func(*model.Recurrence) bool

	mu     sync.Mutex
	seq    int64
	minSeq int64 // cursors older than this are expired (ErrResync)
	nextID int
	recs   map[string]map[string]*rec // user → id → record
	writes int
	faults map[string][]error

	relates []RelateCall
	// RelateFunc answers Relate (after the call is recorded); nil answers
	// every address as one related contact.
	RelateFunc func(eventID string, emails []string) (contacts int, lead bool, err error)
}

// RelateCall is one call of Relate.
type RelateCall struct {
	User, EventID string
	Emails        []string
}

var _ connector.Relater = (*Side)(nil)

// Relate implements connector.Relater by recording the call; a fault
// queued for "relate" is returned first.
func (s *Side) Relate(_ context.Context, sc connector.Scope, eventID string, emails []string) (int, bool, error) {
	s.mu.Lock()
	s.relates = append(s.relates, RelateCall{User: sc.User, EventID: eventID, Emails: append([]string(nil), emails...)})
	err := s.fault("relate")
	fn := s.RelateFunc
	s.mu.Unlock()
	if err != nil {
		return 0, false, err
	}
	if fn != nil {
		return fn(eventID, emails)
	}
	return len(emails), false, nil
}

// Relates returns the Relate calls so far.
func (s *Side) Relates() []RelateCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RelateCall(nil), s.relates...)
}

// New returns an empty side.
func New(side model.Side) *Side {
	return &Side{side: side, recs: map[string]map[string]*rec{}, faults: map[string][]error{}}
}

var (
	_ connector.Connector     = (*Side)(nil)
	_ connector.SeriesCapable = (*Side)(nil)
)

// SupportsSeries implements connector.SeriesCapable.
func (s *Side) SupportsSeries() bool { return s.Series }

// refuses reports why it cannot hold it, if it cannot.
func (s *Side) refuses(it *model.Item) error {
	if it.Event == nil || it.Event.Recurrence == nil {
		return nil
	}
	if !s.Series {
		return fmt.Errorf("memory: series: %w", connector.ErrUnsupported)
	}
	if s.RefuseRule != nil && s.RefuseRule(it.Event.Recurrence) {
		return fmt.Errorf("memory: recurrence %s: %w", it.Event.Recurrence.RRULE(), connector.ErrUnsupported)
	}
	return nil
}

// listed reports whether a live item is in the scope's listing: a series
// master only when it has an occurrence in the window (when the side holds
// series and the scope has one).
func (s *Side) listed(sc connector.Scope, it *model.Item) bool {
	if !s.Series || it.Event == nil || it.Event.Recurrence == nil || sc.WindowEnd.IsZero() {
		return true
	}
	occ, err := it.Event.OriginalStarts(sc.WindowStart, sc.WindowEnd)
	return err != nil || len(occ) > 0
}

// Side reports the side.
func (s *Side) Side() model.Side { return s.side }

// Fail makes the next call of op ("changes", "get", "find", "create",
// "update", "delete", "relate") return err; several calls queue several failures.
func (s *Side) Fail(op string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[op] = append(s.faults[op], err)
}

func (s *Side) fault(op string) error {
	if q := s.faults[op]; len(q) > 0 {
		s.faults[op] = q[1:]
		return q[0]
	}
	return nil
}

// ExpireCursors makes every cursor handed out so far invalid.
func (s *Side) ExpireCursors() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.minSeq = s.seq + 1
}

// Writes counts engine writes (Create, Update, Delete that changed data).
func (s *Side) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

func (s *Side) user(u string) map[string]*rec {
	m := s.recs[u]
	if m == nil {
		m = map[string]*rec{}
		s.recs[u] = m
	}
	return m
}

func (s *Side) out(r *rec) *model.Item {
	it := r.item.Clone()
	it.Marker = "v" + strconv.Itoa(r.ver)
	return it
}

// outIn is out as the scope sees it: a series side reports only the
// exceptions whose original start is in the window (connector.SeriesCapable).
func (s *Side) outIn(sc connector.Scope, r *rec) *model.Item {
	it := s.out(r)
	if s.Series && it.Event != nil && it.Event.Recurrence != nil {
		in, _ := it.Event.Recurrence.SplitExceptions(sc.WindowStart, sc.WindowEnd)
		it.Event.Recurrence.Exceptions = in
	}
	return it
}

// merged is it with the stored series' exceptions outside the window kept.
func (s *Side) merged(sc connector.Scope, r *rec, it *model.Item) *model.Item {
	if !s.Series || r == nil || r.item == nil || r.item.Event == nil || r.item.Event.Recurrence == nil ||
		it.Event == nil || it.Event.Recurrence == nil {
		return it
	}
	_, keep := r.item.Event.Recurrence.SplitExceptions(sc.WindowStart, sc.WindowEnd)
	in, _ := it.Event.Recurrence.SplitExceptions(sc.WindowStart, sc.WindowEnd)
	c := it.Clone()
	c.Event.Recurrence.Exceptions = append(in, keep...)
	return c
}

// Put is an outside change (a person editing): creates when id is "" and
// returns the id.
func (s *Side) Put(user, id string, it *model.Item) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.put(user, id, "", it)
}

func (s *Side) put(user, id, key string, it *model.Item) string {
	m := s.user(user)
	s.seq++
	if id == "" {
		s.nextID++
		id = fmt.Sprintf("%s-%d", s.side, s.nextID)
	}
	r := m[id]
	if r == nil || r.deleted {
		r = &rec{created: s.seq}
		m[id] = r
	}
	c := it.Clone()
	c.ID, c.Marker = id, ""
	if key != "" {
		c.Key = key
	} else if r.item != nil {
		c.Key = r.item.Key
	}
	r.item, r.ver, r.seq, r.deleted = c, r.ver+1, s.seq, false
	return id
}

// Remove is an outside deletion.
func (s *Side) Remove(user, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.user(user)[id]
	if r == nil || r.deleted {
		return false
	}
	s.seq++
	r.deleted, r.seq = true, s.seq
	return true
}

// Live returns the user's current items, sorted by id.
func (s *Side) Live(user string) []*model.Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*model.Item
	for _, r := range s.user(user) {
		if !r.deleted {
			out = append(out, s.out(r))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Changes implements connector.Connector.
func (s *Side) Changes(_ context.Context, sc connector.Scope, cursor string) (*connector.Changes, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fault("changes"); err != nil {
		return nil, err
	}
	ch := &connector.Changes{Cursor: strconv.FormatInt(s.seq, 10)}
	var since int64
	if cursor == "" {
		ch.Full = true
	} else {
		n, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil || n < s.minSeq-1 {
			return nil, connector.ErrResync
		}
		since = n
	}
	ids := make([]string, 0, len(s.user(sc.User)))
	for id := range s.user(sc.User) {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		r := s.recs[sc.User][id]
		if r.item.Kind() != sc.Kind {
			continue
		}
		switch {
		case ch.Full && !r.deleted:
			if s.listed(sc, r.item) {
				ch.Items = append(ch.Items, s.outIn(sc, r))
			}
		case !ch.Full && r.seq > since && r.deleted && r.created > since:
			// Created and deleted since the cursor: like Graph's delta,
			// the feed reports nothing at all.
		case !ch.Full && r.seq > since && r.deleted:
			ch.Deleted = append(ch.Deleted, id)
		case !ch.Full && r.seq > since:
			switch {
			case s.listed(sc, r.item):
				ch.Items = append(ch.Items, s.outIn(sc, r))
			case r.item.Event != nil && r.item.Event.Recurrence != nil:
				// A changed master with no occurrence left in the window
				// (connector.Changes.Departed).
				ch.Departed = append(ch.Departed, s.outIn(sc, r))
			}
		}
	}
	return ch, nil
}

// Get implements connector.Connector.
func (s *Side) Get(_ context.Context, sc connector.Scope, id string) (*model.Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fault("get"); err != nil {
		return nil, err
	}
	r := s.user(sc.User)[id]
	if r == nil || r.deleted {
		return nil, connector.ErrNotFound
	}
	return s.outIn(sc, r), nil
}

// FindByKey implements connector.Connector.
func (s *Side) FindByKey(_ context.Context, sc connector.Scope, key string) (*model.Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fault("find"); err != nil {
		return nil, err
	}
	for _, r := range s.user(sc.User) {
		if !r.deleted && r.item.Key == key && r.item.Kind() == sc.Kind {
			return s.outIn(sc, r), nil
		}
	}
	return nil, nil
}

// Create implements connector.Connector. Like Salesforce's upsert by
// external id, a create with a key that already exists returns that item.
func (s *Side) Create(_ context.Context, sc connector.Scope, key string, it *model.Item) (*model.Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fault("create"); err != nil {
		return nil, err
	}
	if err := s.refuses(it); err != nil {
		return nil, err
	}
	for _, r := range s.user(sc.User) {
		if !r.deleted && r.item.Key == key {
			return s.outIn(sc, r), nil
		}
	}
	id := s.put(sc.User, "", key, it)
	s.writes++
	// A fault after the write: the item exists but the caller never hears.
	if err := s.fault("create-after"); err != nil {
		return nil, err
	}
	return s.outIn(sc, s.recs[sc.User][id]), nil
}

// Update implements connector.Connector.
func (s *Side) Update(_ context.Context, sc connector.Scope, id, marker string, it *model.Item) (*model.Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fault("update"); err != nil {
		return nil, err
	}
	if err := s.refuses(it); err != nil {
		return nil, err
	}
	r := s.user(sc.User)[id]
	if r == nil || r.deleted {
		return nil, connector.ErrNotFound
	}
	if marker != "v"+strconv.Itoa(r.ver) {
		return nil, connector.ErrConflict
	}
	s.put(sc.User, id, "", s.merged(sc, r, it))
	s.writes++
	if err := s.fault("update-after"); err != nil {
		return nil, err
	}
	return s.outIn(sc, r), nil
}

// Delete implements connector.Connector.
func (s *Side) Delete(_ context.Context, sc connector.Scope, id, marker string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fault("delete"); err != nil {
		return err
	}
	r := s.user(sc.User)[id]
	if r == nil || r.deleted {
		return connector.ErrNotFound
	}
	if marker != "" && marker != "v"+strconv.Itoa(r.ver) {
		return connector.ErrConflict
	}
	s.seq++
	r.deleted, r.seq = true, s.seq
	s.writes++
	return s.fault("delete-after")
}
