package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/syncgate/syncgate/sync/model"
)

// ErrDuplicate is wrapped by PutPair when another pair of the same user
// and kind already holds the CRM id or the mailbox id.
var ErrDuplicate = errors.New("state: duplicate")

// errInvalid is wrapped by a write refused before it reached the database
// (an argument the schema would reject anyway).
var errInvalid = errors.New("invalid")

// maxTxAttempts bounds how often Tx runs fn when the database reports a
// conflict with a concurrent transaction (PostgreSQL serialization
// failure or deadlock, SQLite busy after busy_timeout).
const maxTxAttempts = 10

// queryer is what both *sql.DB and *sql.Tx offer.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// sqlStore is the Store of both dialects.
type sqlStore struct {
	ops // reads outside Tx
	d   *dialect
	wdb *sql.DB // write transactions; for SQLite its only writer connection
	rdb *sql.DB // reads outside Tx; for PostgreSQL the same pool as wdb
	// retryMu: first attempts of Tx share it, retries hold it alone.
	retryMu sync.RWMutex
}

// ops are the reads and writes over one queryer: the store's read pool or
// a transaction.
type ops struct {
	q queryer
	d *dialect
	// snapshot runs several reads that must agree (Status) on one view.
	snapshot func(ctx context.Context, fn func(q queryer) error) error
}

func newSQLStore(d *dialect, wdb, rdb *sql.DB) *sqlStore {
	s := &sqlStore{d: d, wdb: wdb, rdb: rdb}
	s.ops = ops{q: rdb, d: d, snapshot: func(ctx context.Context, fn func(q queryer) error) error {
		tx, err := rdb.BeginTx(ctx, d.readOpts)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := fn(tx); err != nil {
			return err
		}
		return tx.Commit()
	}}
	return s
}

// Close closes both pools.
func (s *sqlStore) Close() error {
	err := s.wdb.Close()
	if s.rdb != s.wdb {
		err = errors.Join(err, s.rdb.Close())
	}
	return err
}

// Tx runs fn in one transaction. When the database reports a conflict
// with a concurrent transaction (PostgreSQL serialization failure or
// deadlock, SQLite busy after busy_timeout), fn runs again from the start,
// at most maxTxAttempts times in all, so fn must have no effect outside w
// and must not call Tx itself. The IDs and times the store set on the
// caller's structs in an attempt that rolled back are reset to what they
// were before it.
//
// A first attempt runs alongside the process's other transactions; a
// retry runs alone in the process (it waits for the attempts in flight and
// holds new ones back), so transactions of one process that keep colliding
// on the same rows still finish, each after at most one retry, and only
// another process can make a retry fail again.
func (s *sqlStore) Tx(ctx context.Context, fn func(ctx context.Context, w Writer) error) error {
	backoff := 2 * time.Millisecond
	for attempt := 1; ; attempt++ {
		var err error
		if attempt == 1 {
			s.retryMu.RLock()
			err = s.try(ctx, fn)
			s.retryMu.RUnlock()
		} else {
			s.retryMu.Lock()
			err = s.try(ctx, fn)
			s.retryMu.Unlock()
		}
		if err == nil || !s.d.retryable(err) || ctx.Err() != nil {
			return err
		}
		if attempt == maxTxAttempts {
			return fmt.Errorf("state: gave up after %d attempts: %w", attempt, err)
		}
		// Full jitter: contenders from other processes spread out.
		t := time.NewTimer(rand.N(backoff) + time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		backoff = min(backoff*2, 500*time.Millisecond)
	}
}

// try is one attempt of Tx.
func (s *sqlStore) try(ctx context.Context, fn func(ctx context.Context, w Writer) error) (err error) {
	tx, err := s.wdb.BeginTx(ctx, s.d.txOpts)
	if err != nil {
		return fmt.Errorf("state: begin: %w", err)
	}
	w := &txWriter{ops: ops{q: tx, d: s.d}}
	w.ops.snapshot = func(ctx context.Context, fn func(q queryer) error) error { return fn(tx) }
	committed := false
	defer func() {
		if committed {
			return
		}
		tx.Rollback()
		for i := len(w.undo) - 1; i >= 0; i-- {
			w.undo[i]()
		}
		w.closed = true
	}()
	if err := fn(ctx, w); err != nil {
		return err
	}
	if w.failed != nil {
		// fn went on after a database error; the database may already have
		// given up on the transaction (PostgreSQL does), so none of it
		// commits, on either store.
		return fmt.Errorf("state: transaction not committed after an earlier error: %w", w.failed)
	}
	w.closed = true
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("state: commit: %w", err)
	}
	committed = true
	return nil
}

// txWriter is the Writer of one transaction attempt.
type txWriter struct {
	ops
	undo   []func()
	failed error // the first database error: the transaction is spoiled
	closed bool
}

// check refuses work in a spoiled or finished transaction.
func (w *txWriter) check(op string) error {
	if w.closed {
		return fmt.Errorf("state: %s: %w", op, sql.ErrTxDone)
	}
	if w.failed != nil {
		return fmt.Errorf("state: %s: transaction already failed: %w", op, w.failed)
	}
	return nil
}

// note records err as spoiling the transaction unless it is an outcome
// that leaves the transaction usable (not found, refused argument).
func (w *txWriter) note(err error) error {
	if err != nil && w.failed == nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, errInvalid) {
		w.failed = err
	}
	return err
}

func (w *txWriter) Pairs(ctx context.Context, user string, kind model.Kind) ([]Pair, error) {
	if err := w.check("pairs"); err != nil {
		return nil, err
	}
	ps, err := w.ops.Pairs(ctx, user, kind)
	return ps, w.note(err)
}

func (w *txWriter) Cursor(ctx context.Context, user string, kind model.Kind, side model.Side) (string, error) {
	if err := w.check("cursor"); err != nil {
		return "", err
	}
	c, err := w.ops.Cursor(ctx, user, kind, side)
	return c, w.note(err)
}

func (w *txWriter) Intents(ctx context.Context, user string, kind model.Kind) ([]Intent, error) {
	if err := w.check("intents"); err != nil {
		return nil, err
	}
	is, err := w.ops.Intents(ctx, user, kind)
	return is, w.note(err)
}

func (w *txWriter) Run(ctx context.Context, user string, kind model.Kind) (Run, error) {
	if err := w.check("run"); err != nil {
		return Run{}, err
	}
	r, err := w.ops.Run(ctx, user, kind)
	return r, w.note(err)
}

func (w *txWriter) Conflicts(ctx context.Context, user string, kind model.Kind) ([]Conflict, error) {
	if err := w.check("conflicts"); err != nil {
		return nil, err
	}
	cs, err := w.ops.Conflicts(ctx, user, kind)
	return cs, w.note(err)
}

func (w *txWriter) Unresolved(ctx context.Context, user string, kind model.Kind) ([]Unresolved, error) {
	if err := w.check("unresolved"); err != nil {
		return nil, err
	}
	us, err := w.ops.Unresolved(ctx, user, kind)
	return us, w.note(err)
}

func (w *txWriter) Status(ctx context.Context, user string) ([]Status, error) {
	if err := w.check("status"); err != nil {
		return nil, err
	}
	st, err := w.ops.Status(ctx, user)
	return st, w.note(err)
}

func (w *txWriter) PutPair(ctx context.Context, p *Pair) error {
	if err := w.check("put pair"); err != nil {
		return err
	}
	id, updated := p.ID, p.Updated
	if err := w.note(w.ops.putPair(ctx, p)); err != nil {
		p.ID, p.Updated = id, updated
		return err
	}
	w.undo = append(w.undo, func() { p.ID, p.Updated = id, updated })
	return nil
}

func (w *txWriter) DeletePair(ctx context.Context, id int64) error {
	if err := w.check("delete pair"); err != nil {
		return err
	}
	return w.note(w.ops.deletePair(ctx, id))
}

func (w *txWriter) SetCursor(ctx context.Context, user string, kind model.Kind, side model.Side, cursor string) error {
	if err := w.check("set cursor"); err != nil {
		return err
	}
	return w.note(w.ops.setCursor(ctx, user, kind, side, cursor))
}

func (w *txWriter) ResetCursors(ctx context.Context, user string, kind model.Kind) error {
	if err := w.check("reset cursors"); err != nil {
		return err
	}
	return w.note(w.ops.resetCursors(ctx, user, kind))
}

func (w *txWriter) AddIntent(ctx context.Context, in *Intent) error {
	if err := w.check("add intent"); err != nil {
		return err
	}
	id, created := in.ID, in.Created
	if err := w.note(w.ops.addIntent(ctx, in)); err != nil {
		in.ID, in.Created = id, created
		return err
	}
	w.undo = append(w.undo, func() { in.ID, in.Created = id, created })
	return nil
}

func (w *txWriter) DoneIntent(ctx context.Context, id int64) error {
	if err := w.check("done intent"); err != nil {
		return err
	}
	return w.note(w.ops.doneIntent(ctx, id))
}

func (w *txWriter) AddConflict(ctx context.Context, c *Conflict) error {
	if err := w.check("add conflict"); err != nil {
		return err
	}
	id, at := c.ID, c.At
	if err := w.note(w.ops.addConflict(ctx, c)); err != nil {
		c.ID, c.At = id, at
		return err
	}
	w.undo = append(w.undo, func() { c.ID, c.At = id, at })
	return nil
}

func (w *txWriter) SetUnresolved(ctx context.Context, u Unresolved) error {
	if err := w.check("set unresolved"); err != nil {
		return err
	}
	return w.note(w.ops.setUnresolved(ctx, u))
}

func (w *txWriter) ClearUnresolved(ctx context.Context, user string, kind model.Kind, side model.Side, itemID string) error {
	if err := w.check("clear unresolved"); err != nil {
		return err
	}
	return w.note(w.ops.clearUnresolved(ctx, user, kind, side, itemID))
}

func (w *txWriter) SetRun(ctx context.Context, r Run) error {
	if err := w.check("set run"); err != nil {
		return err
	}
	return w.note(w.ops.setRun(ctx, r))
}

// ---- reads ----

func (o ops) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return o.q.ExecContext(ctx, o.d.rebind(q), args...)
}

func (o ops) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return o.q.QueryContext(ctx, o.d.rebind(q), args...)
}

const pairCols = `id, user_name, kind, crm_id, mail_id, crm_marker, mail_marker, crm_hash, mail_hash, idem_key, updated_at`

func (o ops) Pairs(ctx context.Context, user string, kind model.Kind) ([]Pair, error) {
	rows, err := o.query(ctx, `SELECT `+pairCols+` FROM pairs WHERE user_name = ? AND kind = ? ORDER BY id`, user, string(kind))
	if err != nil {
		return nil, fmt.Errorf("state: pairs: %w", err)
	}
	defer rows.Close()
	var ps []Pair
	for rows.Next() {
		var p Pair
		if err := rows.Scan(&p.ID, &p.User, &p.Kind, &p.CRMID, &p.MailID, &p.CRMMarker, &p.MailMarker,
			&p.CRMHash, &p.MailHash, &p.Key, timeCol{&p.Updated}); err != nil {
			return nil, fmt.Errorf("state: pairs: %w", err)
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state: pairs: %w", err)
	}
	return ps, nil
}

func (o ops) Cursor(ctx context.Context, user string, kind model.Kind, side model.Side) (string, error) {
	var c string
	err := o.q.QueryRowContext(ctx, o.d.rebind(`SELECT value FROM cursors WHERE user_name = ? AND kind = ? AND side = ?`),
		user, string(kind), string(side)).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("state: cursor: %w", err)
	}
	return c, nil
}

const intentCols = `id, user_name, kind, op, target, idem_key, pair_id, source_id, payload, created_at`

func (o ops) Intents(ctx context.Context, user string, kind model.Kind) ([]Intent, error) {
	rows, err := o.query(ctx, `SELECT `+intentCols+` FROM intents WHERE user_name = ? AND kind = ? ORDER BY id`, user, string(kind))
	if err != nil {
		return nil, fmt.Errorf("state: intents: %w", err)
	}
	defer rows.Close()
	var is []Intent
	for rows.Next() {
		var in Intent
		if err := rows.Scan(&in.ID, &in.User, &in.Kind, &in.Op, &in.Target, &in.Key, &in.PairID, &in.SourceID,
			&in.Payload, timeCol{&in.Created}); err != nil {
			return nil, fmt.Errorf("state: intents: %w", err)
		}
		is = append(is, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state: intents: %w", err)
	}
	return is, nil
}

func (o ops) Run(ctx context.Context, user string, kind model.Kind) (Run, error) {
	r := Run{User: user, Kind: kind}
	err := o.q.QueryRowContext(ctx, o.d.rebind(`SELECT last_start, last_end, last_error, paused, pause_reason, force
FROM runs WHERE user_name = ? AND kind = ?`), user, string(kind)).
		Scan(timeCol{&r.LastStart}, timeCol{&r.LastEnd}, &r.LastError, &r.Paused, &r.PauseReason, &r.Force)
	if errors.Is(err, sql.ErrNoRows) {
		return Run{User: user, Kind: kind}, nil
	}
	if err != nil {
		return Run{}, fmt.Errorf("state: run: %w", err)
	}
	return r, nil
}

func (o ops) Conflicts(ctx context.Context, user string, kind model.Kind) ([]Conflict, error) {
	rows, err := o.query(ctx, `SELECT id, user_name, kind, crm_id, mail_id, winner, loser, reason, at
FROM conflicts WHERE user_name = ? AND kind = ? ORDER BY id DESC`, user, string(kind))
	if err != nil {
		return nil, fmt.Errorf("state: conflicts: %w", err)
	}
	defer rows.Close()
	var cs []Conflict
	for rows.Next() {
		var c Conflict
		if err := rows.Scan(&c.ID, &c.User, &c.Kind, &c.CRMID, &c.MailID, &c.Winner, &c.Loser, &c.Reason, timeCol{&c.At}); err != nil {
			return nil, fmt.Errorf("state: conflicts: %w", err)
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state: conflicts: %w", err)
	}
	return cs, nil
}

func (o ops) Unresolved(ctx context.Context, user string, kind model.Kind) ([]Unresolved, error) {
	rows, err := o.query(ctx, `SELECT user_name, kind, side, item_id, reason, candidates, at
FROM unresolved WHERE user_name = ? AND kind = ? ORDER BY side, item_id`, user, string(kind))
	if err != nil {
		return nil, fmt.Errorf("state: unresolved: %w", err)
	}
	defer rows.Close()
	var us []Unresolved
	for rows.Next() {
		var u Unresolved
		var cands string
		if err := rows.Scan(&u.User, &u.Kind, &u.Side, &u.ItemID, &u.Reason, &cands, timeCol{&u.At}); err != nil {
			return nil, fmt.Errorf("state: unresolved: %w", err)
		}
		if err := json.Unmarshal([]byte(cands), &u.Candidates); err != nil {
			return nil, fmt.Errorf("state: unresolved: candidates of %s: %w", u.ItemID, err)
		}
		if len(u.Candidates) == 0 {
			u.Candidates = nil
		}
		us = append(us, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state: unresolved: %w", err)
	}
	return us, nil
}

// Status builds one row per (user, kind) that any table mentions, from one
// consistent snapshot.
func (o ops) Status(ctx context.Context, user string) ([]Status, error) {
	where, args := "", []any(nil)
	if user != "" {
		where = " WHERE user_name = ?"
	}
	var keys []string
	for _, t := range []string{"runs", "pairs", "intents", "conflicts", "unresolved", "cursors"} {
		keys = append(keys, "SELECT user_name, kind FROM "+t+where)
		if user != "" {
			args = append(args, user)
		}
	}
	count := func(t string) string {
		return "(SELECT COUNT(*) FROM " + t + " x WHERE x.user_name = k.user_name AND x.kind = k.kind)"
	}
	q := `WITH k AS (` + strings.Join(keys, " UNION ") + `)
SELECT k.user_name, k.kind, r.last_start, r.last_end, COALESCE(r.last_error, ''), COALESCE(r.paused, false),
       COALESCE(r.pause_reason, ''), COALESCE(r.force, false),
       ` + count("pairs") + `, ` + count("intents") + `, ` + count("conflicts") + `, ` + count("unresolved") + `
FROM k LEFT JOIN runs r ON r.user_name = k.user_name AND r.kind = k.kind
ORDER BY k.user_name, k.kind`
	var out []Status
	err := o.snapshot(ctx, func(tx queryer) error {
		rows, err := tx.QueryContext(ctx, o.d.rebind(q), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		index := map[[2]string]int{}
		for rows.Next() {
			var s Status
			if err := rows.Scan(&s.User, &s.Kind, timeCol{&s.LastStart}, timeCol{&s.LastEnd}, &s.LastError, &s.Paused,
				&s.PauseReason, &s.Force, &s.Pairs, &s.Pending, &s.Conflicts, &s.Unresolved); err != nil {
				return err
			}
			s.Cursors = map[model.Side]string{}
			index[[2]string{s.User, string(s.Kind)}] = len(out)
			out = append(out, s)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		crows, err := tx.QueryContext(ctx, o.d.rebind(`SELECT user_name, kind, side, value FROM cursors`+where), args[:min(len(args), 1)]...)
		if err != nil {
			return err
		}
		defer crows.Close()
		for crows.Next() {
			var u, k, side, v string
			if err := crows.Scan(&u, &k, &side, &v); err != nil {
				return err
			}
			if i, ok := index[[2]string{u, k}]; ok {
				out[i].Cursors[model.Side(side)] = v
			}
		}
		return crows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("state: status: %w", err)
	}
	return out, nil
}

// ---- writes (only reachable through txWriter) ----

func validUserKind(user string, kind model.Kind) error {
	if user == "" {
		return fmt.Errorf("%w: empty user", errInvalid)
	}
	if kind == "" {
		return fmt.Errorf("%w: empty kind", errInvalid)
	}
	return nil
}

func validSide(what string, s model.Side) error {
	if s != model.CRM && s != model.Mail {
		return fmt.Errorf("%w: %s %q is not crm or mail", errInvalid, what, s)
	}
	return nil
}

func (o ops) putPair(ctx context.Context, p *Pair) error {
	if err := validUserKind(p.User, p.Kind); err != nil {
		return fmt.Errorf("state: put pair: %w", err)
	}
	if p.CRMID == "" && p.MailID == "" {
		return fmt.Errorf("state: put pair: %w: neither a crm id nor a mail id", errInvalid)
	}
	t := now()
	args := []any{p.User, string(p.Kind), p.CRMID, p.MailID, p.CRMMarker, p.MailMarker, p.CRMHash, p.MailHash, p.Key, o.d.timeArg(t)}
	if p.ID == 0 {
		var id int64
		err := o.q.QueryRowContext(ctx, o.d.rebind(`INSERT INTO pairs
(user_name, kind, crm_id, mail_id, crm_marker, mail_marker, crm_hash, mail_hash, idem_key, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`), args...).Scan(&id)
		if err != nil {
			return o.pairErr(p, err)
		}
		p.ID, p.Updated = id, t
		return nil
	}
	res, err := o.exec(ctx, `UPDATE pairs SET user_name = ?, kind = ?, crm_id = ?, mail_id = ?, crm_marker = ?, mail_marker = ?,
crm_hash = ?, mail_hash = ?, idem_key = ?, updated_at = ? WHERE id = ?`, append(args, p.ID)...)
	if err != nil {
		return o.pairErr(p, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("state: put pair %d: %w", p.ID, err)
	} else if n == 0 {
		return fmt.Errorf("state: put pair %d: %w", p.ID, ErrNotFound)
	}
	p.Updated = t
	return nil
}

func (o ops) pairErr(p *Pair, err error) error {
	if o.d.duplicate(err) {
		return fmt.Errorf("state: put pair (user %s, %s, crm %q, mail %q): %w: another pair holds one of these ids: %w",
			p.User, p.Kind, p.CRMID, p.MailID, ErrDuplicate, err)
	}
	return fmt.Errorf("state: put pair: %w", err)
}

func (o ops) deletePair(ctx context.Context, id int64) error {
	return deleteOne(ctx, o, "delete pair", `DELETE FROM pairs WHERE id = ?`, id)
}

func (o ops) doneIntent(ctx context.Context, id int64) error {
	return deleteOne(ctx, o, "done intent", `DELETE FROM intents WHERE id = ?`, id)
}

// deleteOne runs a delete of one row by id and reports ErrNotFound when
// there was none: a second DoneIntent for the same intent means two
// workers finished it, which the caller must hear about.
func deleteOne(ctx context.Context, o ops, op, q string, id int64) error {
	res, err := o.exec(ctx, q, id)
	if err != nil {
		return fmt.Errorf("state: %s %d: %w", op, id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("state: %s %d: %w", op, id, err)
	}
	if n == 0 {
		return fmt.Errorf("state: %s %d: %w", op, id, ErrNotFound)
	}
	return nil
}

func (o ops) setCursor(ctx context.Context, user string, kind model.Kind, side model.Side, cursor string) error {
	if err := validUserKind(user, kind); err != nil {
		return fmt.Errorf("state: set cursor: %w", err)
	}
	if err := validSide("side", side); err != nil {
		return fmt.Errorf("state: set cursor: %w", err)
	}
	var err error
	if cursor == "" {
		// "" is what Cursor returns for none: store none.
		_, err = o.exec(ctx, `DELETE FROM cursors WHERE user_name = ? AND kind = ? AND side = ?`, user, string(kind), string(side))
	} else {
		_, err = o.exec(ctx, `INSERT INTO cursors (user_name, kind, side, value, updated_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (user_name, kind, side) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			user, string(kind), string(side), cursor, o.d.timeArg(now()))
	}
	if err != nil {
		return fmt.Errorf("state: set cursor (%s, %s, %s): %w", user, kind, side, err)
	}
	return nil
}

func (o ops) resetCursors(ctx context.Context, user string, kind model.Kind) error {
	if _, err := o.exec(ctx, `DELETE FROM cursors WHERE user_name = ? AND kind = ?`, user, string(kind)); err != nil {
		return fmt.Errorf("state: reset cursors (%s, %s): %w", user, kind, err)
	}
	return nil
}

func (o ops) addIntent(ctx context.Context, in *Intent) error {
	if err := validUserKind(in.User, in.Kind); err != nil {
		return fmt.Errorf("state: add intent: %w", err)
	}
	switch in.Op {
	case OpCreate, OpUpdate, OpDelete:
	default:
		return fmt.Errorf("state: add intent: %w: op %q", errInvalid, in.Op)
	}
	if err := validSide("target", in.Target); err != nil {
		return fmt.Errorf("state: add intent: %w", err)
	}
	created := in.Created
	if created.IsZero() {
		created = now()
	}
	var id int64
	err := o.q.QueryRowContext(ctx, o.d.rebind(`INSERT INTO intents
(user_name, kind, op, target, idem_key, pair_id, source_id, payload, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		in.User, string(in.Kind), string(in.Op), string(in.Target), in.Key, in.PairID, in.SourceID, in.Payload,
		o.d.timeArg(created)).Scan(&id)
	if err != nil {
		return fmt.Errorf("state: add intent (%s, %s, %s %s): %w", in.User, in.Kind, in.Op, in.Target, err)
	}
	in.ID, in.Created = id, created
	return nil
}

func (o ops) addConflict(ctx context.Context, c *Conflict) error {
	if err := validUserKind(c.User, c.Kind); err != nil {
		return fmt.Errorf("state: add conflict: %w", err)
	}
	if err := validSide("winner", c.Winner); err != nil {
		return fmt.Errorf("state: add conflict: %w", err)
	}
	at := c.At
	if at.IsZero() {
		at = now()
	}
	var id int64
	err := o.q.QueryRowContext(ctx, o.d.rebind(`INSERT INTO conflicts (user_name, kind, crm_id, mail_id, winner, loser, reason, at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		c.User, string(c.Kind), c.CRMID, c.MailID, string(c.Winner), c.Loser, c.Reason, o.d.timeArg(at)).Scan(&id)
	if err != nil {
		return fmt.Errorf("state: add conflict (%s, %s): %w", c.User, c.Kind, err)
	}
	c.ID, c.At = id, at
	return nil
}

func (o ops) setUnresolved(ctx context.Context, u Unresolved) error {
	if err := validUserKind(u.User, u.Kind); err != nil {
		return fmt.Errorf("state: set unresolved: %w", err)
	}
	if err := validSide("side", u.Side); err != nil {
		return fmt.Errorf("state: set unresolved: %w", err)
	}
	if u.ItemID == "" {
		return fmt.Errorf("state: set unresolved: %w: empty item id", errInvalid)
	}
	cands := u.Candidates
	if cands == nil {
		cands = []string{}
	}
	b, err := json.Marshal(cands)
	if err != nil {
		return fmt.Errorf("state: set unresolved: %w", err)
	}
	at := u.At
	if at.IsZero() {
		at = now()
	}
	_, err = o.exec(ctx, `INSERT INTO unresolved (user_name, kind, side, item_id, reason, candidates, at) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (user_name, kind, side, item_id) DO UPDATE SET reason = excluded.reason, candidates = excluded.candidates, at = excluded.at`,
		u.User, string(u.Kind), string(u.Side), u.ItemID, u.Reason, string(b), o.d.timeArg(at))
	if err != nil {
		return fmt.Errorf("state: set unresolved (%s, %s, %s %s): %w", u.User, u.Kind, u.Side, u.ItemID, err)
	}
	return nil
}

func (o ops) clearUnresolved(ctx context.Context, user string, kind model.Kind, side model.Side, itemID string) error {
	_, err := o.exec(ctx, `DELETE FROM unresolved WHERE user_name = ? AND kind = ? AND side = ? AND item_id = ?`,
		user, string(kind), string(side), itemID)
	if err != nil {
		return fmt.Errorf("state: clear unresolved (%s, %s, %s %s): %w", user, kind, side, itemID, err)
	}
	return nil
}

func (o ops) setRun(ctx context.Context, r Run) error {
	if err := validUserKind(r.User, r.Kind); err != nil {
		return fmt.Errorf("state: set run: %w", err)
	}
	_, err := o.exec(ctx, `INSERT INTO runs (user_name, kind, last_start, last_end, last_error, paused, pause_reason, force)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (user_name, kind) DO UPDATE SET last_start = excluded.last_start, last_end = excluded.last_end,
last_error = excluded.last_error, paused = excluded.paused, pause_reason = excluded.pause_reason, force = excluded.force`,
		r.User, string(r.Kind), o.d.timeArg(r.LastStart), o.d.timeArg(r.LastEnd), r.LastError, r.Paused, r.PauseReason, r.Force)
	if err != nil {
		return fmt.Errorf("state: set run (%s, %s): %w", r.User, r.Kind, err)
	}
	return nil
}
