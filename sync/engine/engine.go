package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/gateway"
	"github.com/syncgate/syncgate/sync/model"
	"github.com/syncgate/syncgate/sync/state"
)

// Engine runs passes. It holds no credential and no socket of its own: the
// connectors reach their services through the gateway.
type Engine struct {
	Store   state.Store
	Audit   Recorder
	Log     zerolog.Logger
	Metrics *Metrics // optional
	Now     func() time.Time
	// ItemTimeout bounds one item's writes. An item in flight is finished
	// even when the pass's context is cancelled (SIGTERM), so a stop never
	// leaves a remote write without its state commit. Default 2 minutes.
	ItemTimeout time.Duration
}

// Job is one pass: one user, one kind, a CRM and a mailbox.
type Job struct {
	User     string
	Kind     model.Kind
	CRM      connector.Connector
	Mail     connector.Connector
	Settings KindSettings
	// Force lets this pass exceed the mass-delete guard (--force).
	Force bool
}

// Result counts what a pass did.
type Result struct {
	Created, Updated, Deleted, Conflicts, Skipped, Unresolved, Linked, Unlinked int
	// Related counts CRM events whose attendees were related to contacts or
	// a lead (not a write of synced content: not in Writes).
	Related int
}

// Writes is the number of remote writes the pass made.
func (r Result) Writes() int { return r.Created + r.Updated + r.Deleted }

// ErrPaused: the user and kind are paused by the mass-delete guard until
// `syncgate sync resync` or --force.
var ErrPaused = errors.New("paused by the mass-delete guard")

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Run makes one pass for a job and records its outcome in the run record.
func (e *Engine) Run(ctx context.Context, j Job) (Result, error) {
	j.Settings = j.Settings.Defaults()
	if err := j.Settings.Validate(j.Kind); err != nil {
		return Result{}, err
	}
	run, err := e.Store.Run(ctx, j.User, j.Kind)
	if err != nil {
		return Result{}, fmt.Errorf("sync %s %s: %w", j.User, j.Kind, err)
	}
	if run.Paused && !j.Force && !run.Force {
		return Result{}, fmt.Errorf("sync %s %s: %w: %s", j.User, j.Kind, ErrPaused, run.PauseReason)
	}
	start := e.now()
	p := &pass{e: e, j: j, log: e.Log.With().Str("user", j.User).Str("kind", string(j.Kind)).Logger()}
	p.scope = connector.Scope{User: j.User, Kind: j.Kind}
	if j.Kind == model.Events {
		p.scope.WindowStart = start.Add(-j.Settings.WindowPast).UTC().Truncate(time.Hour)
		p.scope.WindowEnd = start.Add(j.Settings.WindowFuture).UTC().Truncate(time.Hour)
	}
	perr := p.run(ctx, run.Force || j.Force)
	run.User, run.Kind = j.User, j.Kind
	run.LastStart, run.LastEnd = start, e.now()
	run.LastError = ""
	if perr != nil {
		run.LastError = perr.Error()
	}
	if perr == nil || !errors.Is(perr, ErrPaused) {
		// A pass that ran to the end used up a one-time force.
		if perr == nil {
			run.Force = false
			run.Paused, run.PauseReason = false, ""
		}
	} else {
		run.Paused, run.PauseReason, run.Force = true, p.pauseReason, false
	}
	// Record the outcome even if the run context is done: it is what
	// `sync status` shows about this stop.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := e.Store.Tx(wctx, func(ctx context.Context, w state.Writer) error { return w.SetRun(ctx, run) }); err != nil && perr == nil {
		perr = fmt.Errorf("record run: %w", err)
	}
	e.Metrics.observe(j, p.res, perr, run.LastEnd)
	if perr != nil {
		return p.res, fmt.Errorf("sync %s %s: %w", j.User, j.Kind, perr)
	}
	return p.res, nil
}

type pass struct {
	e           *Engine
	j           Job
	scope       connector.Scope
	log         zerolog.Logger
	res         Result
	pauseReason string

	pairs  []*state.Pair
	byCRM  map[string]*state.Pair
	byMail map[string]*state.Pair
	// dirty pairs only changed marker or hash (an echo of our own write,
	// or a change the direction does not propagate): committed with the
	// cursors at the end of the pass.
	dirty map[*state.Pair]bool
	// confirm lists the sides of pairs committed in this pass from what
	// this pass read: they carry the unseen mark until the pass commits
	// its cursors, because a feed re-read from the old cursor would not
	// report them if they were created and deleted in between.
	confirm map[*state.Pair][]model.Side
	// recovered are the source items of creates an earlier pass made and
	// this one recorded (recoverIntents): new to the pairs like newItems,
	// so a split's new series among them is looked for like one (split.go).
	recovered map[model.Side][]*model.Item
}

// obs is what a pass saw of one pair.
type obs struct {
	crm, mail       *model.Item // changed content (hash moved)
	crmDel, mailDel bool
}

func (p *pass) conn(s model.Side) connector.Connector {
	if s == model.CRM {
		return p.j.CRM
	}
	return p.j.Mail
}

func (p *pass) run(ctx context.Context, force bool) error {
	if err := p.load(ctx); err != nil {
		return err
	}
	if err := p.recoverIntents(ctx); err != nil {
		return fmt.Errorf("finish open intents: %w", err)
	}
	if err := p.load(ctx); err != nil {
		return err
	}
	crmCh, err := p.read(ctx, model.CRM)
	if err != nil {
		return err
	}
	mailCh, err := p.read(ctx, model.Mail)
	if err != nil {
		return err
	}
	seen := map[*state.Pair]*obs{}
	get := func(pr *state.Pair) *obs {
		o := seen[pr]
		if o == nil {
			o = &obs{}
			seen[pr] = o
		}
		return o
	}
	newItems := map[model.Side][]*model.Item{}
	for _, side := range []model.Side{model.CRM, model.Mail} {
		ch := crmCh
		if side == model.Mail {
			ch = mailCh
		}
		listed := map[string]bool{}
		for _, it := range ch.Items {
			listed[it.ID] = true
			pr := p.pairOf(side, it.ID)
			if pr == nil {
				newItems[side] = append(newItems[side], it)
				continue
			}
			if p.isTombstone(pr) {
				continue // the survivor of an unlinked pair is left alone
			}
			if it.Hash() == hashOf(pr, side) {
				// Our own write coming back, or a change outside the synced
				// fields: not a change. Keep the newer marker (and mark a
				// series side recorded before the engine marked them).
				if it.Marker != rawMarker(pr, side) || isSeriesMaster(it) && !isSeriesSide(pr, side) {
					setSide(pr, side, it.ID, it.Marker, stored(it))
					p.dirty[pr] = true
				}
				continue
			}
			o := get(pr)
			if side == model.CRM {
				o.crm = it
			} else {
				o.mail = it
			}
		}
		// Series masters that changed and left the window (a split's
		// truncated original): a change of their pair like any other, but
		// never a new item, and their absence from the listing is no
		// deletion. They count as listed, so split.go need not read them.
		for _, it := range ch.Departed {
			pr := p.pairOf(side, it.ID)
			if pr == nil || listed[it.ID] || p.isTombstone(pr) {
				continue
			}
			listed[it.ID] = true
			if it.Hash() == hashOf(pr, side) {
				if it.Marker != rawMarker(pr, side) || isSeriesMaster(it) && !isSeriesSide(pr, side) {
					setSide(pr, side, it.ID, it.Marker, stored(it))
					p.dirty[pr] = true
				}
				continue
			}
			o := get(pr)
			if side == model.CRM {
				o.crm = it
			} else {
				o.mail = it
			}
		}
		// Writes of ours that did not come back: ask whether they exist.
		deleted := map[string]bool{}
		for _, id := range ch.Deleted {
			deleted[id] = true
		}
		for _, pr := range p.pairs {
			id := idOf(pr, side)
			if ch.Full || id == "" || listed[id] || deleted[id] || !isUnseen(pr, side) {
				continue
			}
			it, err := p.conn(side).Get(p.withSubject(ctx), p.scope, id)
			switch {
			case errors.Is(err, connector.ErrNotFound):
				deleted[id] = true
				ch.Deleted = append(ch.Deleted, id)
			case err != nil:
				return fmt.Errorf("confirm our %s write: %w", side, err)
			case it.Hash() == hashOf(pr, side):
				setSide(pr, side, it.ID, it.Marker, stored(it))
				p.dirty[pr] = true
			default:
				o := get(pr)
				if side == model.CRM {
					o.crm = it
				} else {
					o.mail = it
				}
			}
		}
		for _, id := range ch.Deleted {
			pr := p.pairOf(side, id)
			if pr == nil || listed[id] {
				continue
			}
			if p.isTombstone(pr) {
				p.dropTombstone(pr)
				continue
			}
			o := get(pr)
			if side == model.CRM {
				o.crmDel = true
			} else {
				o.mailDel = true
			}
		}
		if ch.Full {
			// A full listing has no tombstones: a pair whose item is not
			// listed may have been deleted during the gap, or may only be
			// outside the window. Ask; never infer a delete from absence.
			for _, pr := range p.pairs {
				id := idOf(pr, side)
				if id == "" || listed[id] || p.isTombstone(pr) {
					continue
				}
				if o := seen[pr]; o != nil && (o.crmDel && side == model.CRM || o.mailDel && side == model.Mail) {
					continue
				}
				it, err := p.conn(side).Get(p.withSubject(ctx), p.scope, id)
				switch {
				case errors.Is(err, connector.ErrNotFound):
					o := get(pr)
					if side == model.CRM {
						o.crmDel = true
					} else {
						o.mailDel = true
					}
				case err != nil:
					return fmt.Errorf("confirm %s item absent from full listing: %w", side, err)
				case it.Hash() != hashOf(pr, side):
					o := get(pr)
					if side == model.CRM {
						o.crm = it
					} else {
						o.mail = it
					}
				}
			}
		} else if err := p.checkSeries(ctx, side, ch, slices.Concat(newItems[side], p.recovered[side]), deleted, get, seen); err != nil {
			return err
		}
	}
	if err := p.guard(ctx, seen, force); err != nil {
		return err
	}
	order := make([]*state.Pair, 0, len(seen))
	for pr := range seen {
		order = append(order, pr)
	}
	sort.Slice(order, func(a, b int) bool { return order[a].ID < order[b].ID })
	for _, pr := range order {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := p.decide(ctx, pr, seen[pr]); err != nil {
			return err
		}
	}
	if err := p.newItems(ctx, newItems[model.CRM], newItems[model.Mail]); err != nil {
		return err
	}
	p.watchListed(map[model.Side][]*model.Item{model.CRM: crmCh.Items, model.Mail: mailCh.Items}, map[model.Side][]*model.Item{
		model.CRM:  slices.Concat(newItems[model.CRM], p.recovered[model.CRM]),
		model.Mail: slices.Concat(newItems[model.Mail], p.recovered[model.Mail]),
	})
	// Every decision is committed: now the cursors may move.
	return p.e.Store.Tx(context.WithoutCancel(ctx), func(ctx context.Context, w state.Writer) error {
		for pr, sides := range p.confirm {
			for _, sd := range sides {
				if isUnseen(pr, sd) {
					setSide(pr, sd, idOf(pr, sd), markerOf(pr, sd), hashOf(pr, sd))
				}
			}
			p.dirty[pr] = true
		}
		for pr := range p.dirty {
			if pr.ID == 0 {
				continue
			}
			if pr.CRMHash == tombstone && pr.MailHash == tombstone {
				if err := w.DeletePair(ctx, pr.ID); err != nil {
					return err
				}
				continue
			}
			if err := w.PutPair(ctx, pr); err != nil {
				return err
			}
		}
		if err := w.SetCursor(ctx, p.j.User, p.j.Kind, model.CRM, crmCh.Cursor); err != nil {
			return err
		}
		return w.SetCursor(ctx, p.j.User, p.j.Kind, model.Mail, mailCh.Cursor)
	})
}

func (p *pass) load(ctx context.Context) error {
	prs, err := p.e.Store.Pairs(ctx, p.j.User, p.j.Kind)
	if err != nil {
		return fmt.Errorf("load pairs: %w", err)
	}
	p.pairs = p.pairs[:0]
	p.byCRM, p.byMail = map[string]*state.Pair{}, map[string]*state.Pair{}
	p.dirty = map[*state.Pair]bool{}
	p.confirm = map[*state.Pair][]model.Side{}
	for i := range prs {
		pr := &prs[i]
		p.pairs = append(p.pairs, pr)
		if pr.CRMID != "" {
			p.byCRM[pr.CRMID] = pr
		}
		if pr.MailID != "" {
			p.byMail[pr.MailID] = pr
		}
	}
	return nil
}

func (p *pass) pairOf(s model.Side, id string) *state.Pair {
	if s == model.CRM {
		return p.byCRM[id]
	}
	return p.byMail[id]
}

// A tombstone is a pair one of whose sides was deleted while deletes were
// disabled: the survivor is remembered so that it is left alone instead of
// being taken for a new item and re-created on the other side.
const tombstone = "unlinked"

func (p *pass) isTombstone(pr *state.Pair) bool {
	return pr.CRMHash == tombstone || pr.MailHash == tombstone
}

func (p *pass) dropTombstone(pr *state.Pair) {
	pr.CRMHash, pr.MailHash = tombstone, tombstone // marks for deletion at commit
	p.dirty[pr] = true
}

func idOf(pr *state.Pair, s model.Side) string {
	if s == model.CRM {
		return pr.CRMID
	}
	return pr.MailID
}

// hashOf is the side's content hash as last synced.
func hashOf(pr *state.Pair, s model.Side) string {
	_, h := parseHash(rawHash(pr, s))
	return h
}

// rawHash is the stored hash with its marks: the placeholder mark if the
// side holds a busy placeholder (see private.go), the series and watch
// marks (see split.go).
func rawHash(pr *state.Pair, s model.Side) string {
	if s == model.CRM {
		return pr.CRMHash
	}
	return pr.MailHash
}

// markerOf returns the side's change marker as the service knows it.
func markerOf(pr *state.Pair, s model.Side) string {
	return strings.TrimPrefix(rawMarker(pr, s), unseen)
}

func rawMarker(pr *state.Pair, s model.Side) string {
	if s == model.CRM {
		return pr.CRMMarker
	}
	return pr.MailMarker
}

// unseen prefixes the marker of a side the engine wrote and has not yet
// seen again in that side's change feed. Every write must come back as a
// change (its echo); one that never does was deleted before the feed could
// report it (Graph folds a create and a delete between two delta rounds
// into nothing), so the next pass asks for it instead of trusting silence.
const unseen = "?"

func isUnseen(pr *state.Pair, s model.Side) bool { return strings.HasPrefix(rawMarker(pr, s), unseen) }

// setWritten records what a write on side s left there.
func setWritten(pr *state.Pair, s model.Side, got *model.Item) {
	setSide(pr, s, got.ID, unseen+got.Marker, stored(got))
}

// setRead records a side as this pass read it; see pass.confirm.
func (p *pass) setRead(pr *state.Pair, s model.Side, it *model.Item) {
	setSide(pr, s, it.ID, unseen+it.Marker, stored(it))
	p.confirm[pr] = append(p.confirm[pr], s)
}

// setSide records a side; hash is a content hash, possibly with marks.
func setSide(pr *state.Pair, s model.Side, id, marker, hash string) {
	// The marks of a side (placeholder, series, watch) stay while its
	// content is what was stored; new content keeps only the marks given.
	if hash != tombstone && hash != "" {
		om, oh := parseHash(rawHash(pr, s))
		nm, nh := parseHash(hash)
		if oh == nh {
			nm.busy = nm.busy || om.busy
			nm.series = nm.series || om.series
			if nm.watch == 0 {
				nm.watch = om.watch
			}
		}
		hash = nm.format(nh)
	}
	if s == model.CRM {
		pr.CRMID, pr.CRMMarker, pr.CRMHash = id, marker, hash
	} else {
		pr.MailID, pr.MailMarker, pr.MailHash = id, marker, hash
	}
}

// read returns a side's complete changes; an invalid cursor becomes a full
// listing, recorded in the audit.
func (p *pass) read(ctx context.Context, s model.Side) (*connector.Changes, error) {
	cur, err := p.e.Store.Cursor(ctx, p.j.User, p.j.Kind, s)
	if err != nil {
		return nil, fmt.Errorf("load %s cursor: %w", s, err)
	}
	cctx, calls := gateway.WithCalls(p.withSubject(ctx))
	ch, err := p.conn(s).Changes(cctx, p.scope, cur)
	if errors.Is(err, connector.ErrResync) && cur != "" {
		p.log.Warn().Str("side", string(s)).Msg("cursor no longer valid; listing everything and matching through the state")
		if err := p.record(ctx, Action{Action: ActResync, Reason: string(s) + " cursor no longer valid; full re-list", RequestIDs: calls.IDs()}); err != nil {
			return nil, err
		}
		cctx, calls = gateway.WithCalls(p.withSubject(ctx))
		ch, err = p.conn(s).Changes(cctx, p.scope, "")
		_ = calls
	}
	if err != nil {
		// A failed or partial read is never taken as deletions: the pass
		// stops here and the cursor stays where it was.
		return nil, fmt.Errorf("read %s changes: %w", s, err)
	}
	if ch == nil {
		return nil, fmt.Errorf("read %s changes: connector returned nothing", s)
	}
	return ch, nil
}

func (p *pass) withSubject(ctx context.Context) context.Context {
	return gateway.WithSubject(ctx, p.j.User)
}

// itemCtx detaches an item's writes from the pass's cancellation so that a
// stop finishes the item in flight, bounded by ItemTimeout.
func (p *pass) itemCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	d := p.e.ItemTimeout
	if d <= 0 {
		d = 2 * time.Minute
	}
	return context.WithTimeout(p.withSubject(context.WithoutCancel(ctx)), d)
}

// guard stops a pass that would delete or unlink too much at once.
func (p *pass) guard(ctx context.Context, seen map[*state.Pair]*obs, force bool) error {
	n := 0
	for _, o := range seen {
		if (o.crmDel && o.mail == nil && !o.mailDel) || (o.mailDel && o.crm == nil && !o.crmDel) {
			n++
		}
	}
	total := len(p.pairs)
	ks := p.j.Settings
	if n < ks.GuardMin || float64(n)*100 <= ks.GuardPercent*float64(total) {
		return nil
	}
	reason := fmt.Sprintf("%d of %d paired %s deleted on one side in one pass (guard: more than %g%% and at least %d)", n, total, p.j.Kind, ks.GuardPercent, ks.GuardMin)
	if force {
		p.log.Warn().Int("deletes", n).Int("pairs", total).Msg("mass-delete guard exceeded; proceeding because forced")
		return nil
	}
	p.pauseReason = reason + "; run `syncgate sync resync` or pass --force after checking"
	p.log.Error().Int("deletes", n).Int("pairs", total).Msg("mass-delete guard: pausing this user and kind")
	if err := p.record(ctx, Action{Action: ActPause, Reason: reason}); err != nil {
		return err
	}
	return ErrPaused
}

func (p *pass) record(ctx context.Context, a Action) error {
	a.User, a.Kind = p.j.User, p.j.Kind
	if p.e.Audit == nil {
		return nil
	}
	if err := p.e.Audit.Record(context.WithoutCancel(ctx), a); err != nil {
		return fmt.Errorf("sync audit: %w", err)
	}
	p.e.Metrics.action(p.j.Kind, a.Direction, a.Action)
	return nil
}

func dirTo(target model.Side) string {
	if target == model.Mail {
		return "crm_to_mail"
	}
	return "mail_to_crm"
}

func ids(s model.Side, id, other string) (crm, mail string) {
	if s == model.CRM {
		return id, other
	}
	return other, id
}

// itemLevel reports whether err concerns only this item (the service
// refused it), so the pass records it as unresolved and goes on, rather
// than stopping with the cursor unmoved.
func itemLevel(err error) bool {
	if errors.Is(err, connector.ErrUnsupported) {
		return true
	}
	var he *connector.HTTPError
	if errors.As(err, &he) {
		switch he.Status {
		case 400, 409, 413, 422:
			return true
		}
	}
	return false
}

// Key is syncgate's idempotency key for the copy of a source item: derived
// from the source, so the copy can be found again without any state.
func Key(user string, kind model.Kind, src model.Side, srcID string) string {
	sum := sha256.Sum256([]byte("syncgate/v1\x00" + strings.ToLower(user) + "\x00" + string(kind) + "\x00" + string(src) + "\x00" + srcID))
	return hex.EncodeToString(sum[:16])
}

// baseKey strips a re-creation suffix ("-r…").
func baseKey(k string) string {
	if i := strings.IndexByte(k, '-'); i >= 0 {
		return k[:i]
	}
	return k
}

func payload(it *model.Item) []byte {
	b, _ := json.Marshal(it)
	return b
}

// ScopeOf is the scope a pass of j would use at now (tools and tests list
// a side with it).
func ScopeOf(j Job, now time.Time) connector.Scope {
	ks := j.Settings.Defaults()
	sc := connector.Scope{User: j.User, Kind: j.Kind}
	if j.Kind == model.Events {
		sc.WindowStart = now.Add(-ks.WindowPast).UTC().Truncate(time.Hour)
		sc.WindowEnd = now.Add(ks.WindowFuture).UTC().Truncate(time.Hour)
	}
	return sc
}
