package state

import (
	"context"
	"errors"
	"time"

	"github.com/syncgate/syncgate/sync/model"
)

// Pair links one CRM record with one mailbox item of a user and kind, with
// what the engine last saw and wrote on each side.
type Pair struct {
	ID         int64
	User       string
	Kind       model.Kind
	CRMID      string // "" while only the intent to create on the CRM exists
	MailID     string // "" while only the intent to create in the mailbox exists
	CRMMarker  string
	MailMarker string
	CRMHash    string // content hash of the CRM side as last synced
	MailHash   string // content hash of the mailbox side as last synced
	Key        string // syncgate's idempotency key carried by the created side
	Updated    time.Time
}

// Op is what an intent does.
type Op string

const (
	OpCreate Op = "create"
	OpUpdate Op = "update"
	OpDelete Op = "delete"
)

// Intent is a durable outbox entry: written before a remote write, marked
// done in the same transaction that records the write's result. An open
// intent after a crash is finished or reconciled by its key.
type Intent struct {
	ID       int64
	User     string
	Kind     model.Kind
	Op       Op
	Target   model.Side // the side to write
	Key      string     // idempotency key (creates)
	PairID   int64      // 0 for a create without a pair yet
	SourceID string     // the id on the other side that caused it
	Payload  []byte     // JSON of the item to write (model.Item)
	Created  time.Time
}

// Conflict keeps the losing version of a both-sides change.
type Conflict struct {
	ID     int64
	User   string
	Kind   model.Kind
	CRMID  string
	MailID string
	Winner model.Side
	Loser  []byte // JSON of the losing side's item, never dropped
	Reason string
	At     time.Time
}

// Unresolved is an item the engine would not decide alone (ambiguous
// match, a pattern the other side cannot express).
type Unresolved struct {
	User       string
	Kind       model.Kind
	Side       model.Side
	ItemID     string
	Reason     string
	Candidates []string
	At         time.Time
}

// Run is the engine's record of the last pass of a user and kind.
type Run struct {
	User        string
	Kind        model.Kind
	LastStart   time.Time
	LastEnd     time.Time
	LastError   string // "" when the last pass succeeded
	Paused      bool   // stopped by the mass-delete guard
	PauseReason string
	Force       bool // the next pass may exceed the mass-delete guard once
}

// Status is one row of `syncgate sync status`.
type Status struct {
	Run
	Pairs      int
	Pending    int // open intents (outbound writes not yet confirmed)
	Conflicts  int
	Unresolved int
	Cursors    map[model.Side]string
}

// ErrNotFound is returned by single-row reads that find nothing.
var ErrNotFound = errors.New("state: not found")

// Reader is the read side of the store.
type Reader interface {
	// Pairs returns every pair of a user and kind.
	Pairs(ctx context.Context, user string, kind model.Kind) ([]Pair, error)
	// Cursor returns the stored cursor ("" when none).
	Cursor(ctx context.Context, user string, kind model.Kind, side model.Side) (string, error)
	// Intents returns the open intents of a user and kind, oldest first.
	Intents(ctx context.Context, user string, kind model.Kind) ([]Intent, error)
	// Run returns the run record (zero Run with User/Kind set when none).
	Run(ctx context.Context, user string, kind model.Kind) (Run, error)
	// Conflicts returns the kept losing versions, newest first.
	Conflicts(ctx context.Context, user string, kind model.Kind) ([]Conflict, error)
	// Unresolved returns the open unresolved items.
	Unresolved(ctx context.Context, user string, kind model.Kind) ([]Unresolved, error)
	// Status returns one row per (user, kind) known to the store; user ""
	// means every user.
	Status(ctx context.Context, user string) ([]Status, error)
}

// Writer is the write side; every method runs inside a transaction.
type Writer interface {
	Reader
	// PutPair inserts (ID 0; ID is set) or updates a pair. Unique per
	// (user, kind, crm id) and per (user, kind, mail id) when non-empty.
	PutPair(ctx context.Context, p *Pair) error
	DeletePair(ctx context.Context, id int64) error
	SetCursor(ctx context.Context, user string, kind model.Kind, side model.Side, cursor string) error
	// ResetCursors forgets both cursors of a user and kind (resync).
	ResetCursors(ctx context.Context, user string, kind model.Kind) error
	// AddIntent records an intent (ID is set).
	AddIntent(ctx context.Context, in *Intent) error
	// DoneIntent removes a finished or reconciled intent.
	DoneIntent(ctx context.Context, id int64) error
	AddConflict(ctx context.Context, c *Conflict) error
	// SetUnresolved records (or refreshes) an unresolved item.
	SetUnresolved(ctx context.Context, u Unresolved) error
	// ClearUnresolved removes one; no error when absent.
	ClearUnresolved(ctx context.Context, user string, kind model.Kind, side model.Side, itemID string) error
	// SetRun replaces the run record of (r.User, r.Kind).
	SetRun(ctx context.Context, r Run) error
}

// Store is a state store: SQLite (embedded default) or PostgreSQL.
type Store interface {
	Reader
	// Tx runs fn in one transaction: all of its writes commit or none.
	// fn may run more than once (a serialization failure is retried), so
	// it must act only through w and must not call Tx.
	Tx(ctx context.Context, fn func(ctx context.Context, w Writer) error) error
	Close() error
}
