package connector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/syncgate/syncgate/sync/model"
)

// Scope says whose items and which of them a call is about.
type Scope struct {
	User string     // the acting user's address (Syncgate-Subject)
	Kind model.Kind // contacts or events
	// Events only: the window a mailbox is read in. Items outside it are
	// neither listed nor reported as deleted.
	WindowStart, WindowEnd time.Time
}

// Changes is the result of one complete read. A connector returns it only
// when every page was read; a partial read is an error, never a shorter
// list (a short list would look like deletions).
type Changes struct {
	// Items changed or created since the cursor, with full content.
	Items []*model.Item
	// Deleted are ids the side reports as deleted (tombstones). A Graph
	// @removed with reason "changed" (left the window) is not a deletion.
	Deleted []string
	// Departed are series masters changed since the cursor that have no
	// occurrence in the window any more (a truncated original after a
	// "this and following" split), with full content. The engine uses
	// them only to update an existing pair: never to create, never to
	// delete. Only a SeriesCapable connector reports them, and only on an
	// incremental read; single events that leave the window stay
	// unreported.
	Departed []*model.Item
	// Full is true when Items is the complete current set (no cursor, or
	// after a resync): anything paired but absent may have been deleted and
	// the engine confirms with Get before treating it so.
	Full bool
	// Cursor is what to pass next time; stored only after the pass commits.
	Cursor string
}

// Connector is one end of a sync for one service.
type Connector interface {
	// Side reports which side this connector is.
	Side() model.Side
	// Changes reads everything changed since cursor ("" = full listing).
	// ErrResync means the cursor is no longer valid: call again with "".
	Changes(ctx context.Context, s Scope, cursor string) (*Changes, error)
	// Get reads one item; ErrNotFound when it no longer exists.
	Get(ctx context.Context, s Scope, id string) (*model.Item, error)
	// FindByKey returns the item carrying syncgate's idempotency key, or
	// nil, nil when there is none. It is how an interrupted create is
	// finished without a duplicate.
	FindByKey(ctx context.Context, s Scope, key string) (*model.Item, error)
	// Create writes a new item carrying key and returns it as stored (id,
	// marker and content as the side now holds them). It must not invite
	// attendees or send anything.
	Create(ctx context.Context, s Scope, key string, it *model.Item) (*model.Item, error)
	// Update replaces the synced fields of id if its marker still is
	// marker (ErrConflict otherwise) and returns the item as stored.
	Update(ctx context.Context, s Scope, id, marker string, it *model.Item) (*model.Item, error)
	// Delete removes id. ErrNotFound when it is already gone.
	Delete(ctx context.Context, s Scope, id, marker string) error
}

// Relater is implemented by a CRM connector that can relate an event to
// the people who attend it (Lightning Sync's "automatically relate
// contacts or one lead to events"). It is optional: the engine relates
// only when the CRM connector has it and the setting is on.
type Relater interface {
	// Relate relates event eventID to the CRM's people whose e-mail is in
	// emails (lower-case addresses): every matching contact (up to the
	// CRM's limit), else at most one lead. Unmatched addresses are left
	// alone. It is idempotent: what is already related is not related
	// again. It reports how many contacts the event is related to and
	// whether it is related to a lead because of emails.
	Relate(ctx context.Context, s Scope, eventID string, emails []string) (contacts int, lead bool, err error)
}

// SeriesCapable is implemented by a mailbox or CRM connector that reads and
// writes event series as one item: the master (model.Event.Series
// "master") with its model.Recurrence, its moved or edited occurrences
// (exceptions) and its cancelled occurrences folded into the master, so
// that cancelling an occurrence is an update of the master and never a
// delete. Such a connector lists a master whenever the series has an
// occurrence in the scope's window, even when its first occurrence lies
// before it, and never lists the series' occurrences as items of their
// own. On an incremental read it reports a master that changed and has no
// occurrence left in the window in Changes.Departed instead of dropping it,
// so that a truncation (a split's original) reaches the engine even when
// nothing else makes it look. A rule it cannot express is refused on write with ErrUnsupported
// (recorded as unresolved, never flattened into single events).
//
// Exceptions are reported only when their original start lies in the
// scope's window (model.Recurrence.SplitExceptions), whatever the side
// knows beyond it, so both ends hash a series alike; and Create/Update
// write only those, leaving a series' exceptions outside the window as
// they are.
//
// The engine syncs series only when both ends of a job report
// SupportsSeries; otherwise it skips them and records why.
type SeriesCapable interface {
	SupportsSeries() bool
}

// SupportsSeries reports whether c syncs event series (SeriesCapable).
func SupportsSeries(c Connector) bool {
	sc, ok := c.(SeriesCapable)
	return ok && sc.SupportsSeries()
}

// Sentinel errors the engine acts on. Wrap them with %w.
var (
	// ErrNotFound: the item does not exist (any more).
	ErrNotFound = errors.New("item not found")
	// ErrConflict: the marker moved since it was read (HTTP 412, EWS
	// ErrorIrresolvableConflict); re-read and re-decide.
	ErrConflict = errors.New("item changed since it was read")
	// ErrResync: the stored cursor is invalid (Graph 410, Google 410,
	// EWS ErrorInvalidSyncStateData); list everything again.
	ErrResync = errors.New("sync cursor no longer valid; full resync required")
	// ErrOrgLimit: the organisation is out of API calls (Salesforce
	// REQUEST_LIMIT_EXCEEDED): pause every user of this org.
	ErrOrgLimit = errors.New("organisation API limit exceeded")
	// ErrUnsupported: the item cannot be represented on this side (e.g.
	// a recurrence pattern); recorded as unresolved, not retried.
	ErrUnsupported = errors.New("item not representable on this side")
)

// ThrottledError is returned when the service kept answering 429/503 after
// the client's bounded retries; RetryAfter is the service's last word.
type ThrottledError struct {
	Status     int
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("throttled (HTTP %d, retry after %s)", e.Status, e.RetryAfter)
}

// HTTPError is an unexpected answer from a service, kept short and free of
// bodies that could carry data: status, the service's error code, and the
// gateway request id so the operator can find the call in the audit log.
type HTTPError struct {
	Op        string
	Status    int
	Code      string
	RequestID string
}

func (e *HTTPError) Error() string {
	s := fmt.Sprintf("%s: HTTP %d", e.Op, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.RequestID != "" {
		s += " (gateway request " + e.RequestID + ")"
	}
	return s
}
