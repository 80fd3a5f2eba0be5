package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/gateway"
	"github.com/syncgate/syncgate/sync/model"
	"github.com/syncgate/syncgate/sync/state"
)

// decide applies the decision table to one pair that changed.
func (p *pass) decide(ctx context.Context, pr *state.Pair, o *obs) error {
	dir := p.j.Settings.Direction
	switch {
	case o.crmDel && o.mailDel:
		return p.forget(ctx, pr, "deleted on both sides")
	case o.crmDel:
		return p.deleted(ctx, pr, model.CRM, o.mail)
	case o.mailDel:
		return p.deleted(ctx, pr, model.Mail, o.crm)
	case o.crm != nil && o.mail != nil:
		if o.crm.Hash() == o.mail.Hash() {
			// Both moved to the same content: nothing to write.
			setSide(pr, model.CRM, o.crm.ID, o.crm.Marker, stored(o.crm))
			setSide(pr, model.Mail, o.mail.ID, o.mail.Marker, stored(o.mail))
			p.dirty[pr] = true
			return nil
		}
		if ps, ok := placeholderSide(pr); ok {
			// The placeholder's change is set aside; the event's is taken.
			phIt, evIt := o.crm, o.mail
			if ps == model.Mail {
				phIt, evIt = o.mail, o.crm
			}
			if err := p.placeholderChanged(ctx, pr, ps, phIt); err != nil {
				return err
			}
			return p.changed(ctx, pr, ps.Other(), evIt, dir)
		}
		return p.conflict(ctx, pr, o.crm, o.mail, "changed on both sides")
	case o.crm != nil:
		return p.changed(ctx, pr, model.CRM, o.crm, dir)
	case o.mail != nil:
		return p.changed(ctx, pr, model.Mail, o.mail, dir)
	}
	return nil
}

// changed propagates a one-sided change.
func (p *pass) changed(ctx context.Context, pr *state.Pair, src model.Side, it *model.Item, dir Direction) error {
	target := src.Other()
	if isPlaceholderSide(pr, src) && !isPlaceholderSide(pr, target) {
		return p.placeholderChanged(ctx, pr, src, it)
	}
	if skip, why := p.filtered(src, it, true); skip {
		return p.skip(ctx, pr, src, it, why)
	}
	if out, ph := p.outgoing(it); ph && isPlaceholderSide(pr, target) && out.Hash() == hashOf(pr, target) {
		// Only what the placeholder does not show changed: nothing to write.
		setSide(pr, src, it.ID, it.Marker, stored(it))
		p.dirty[pr] = true
		crm, mail := ids(src, it.ID, idOf(pr, target))
		p.res.Skipped++
		return p.record(ctx, Action{Action: ActSkip, Direction: dirTo(target), CRMID: crm, MailID: mail,
			Reason: fmt.Sprintf("private event changed in %s; its busy placeholder in %s shows none of the change", src, target)})
	}
	if !dir.Writes(target) {
		// One-way: the protected side is never written. Remember the new
		// content so the same change is not reported every pass.
		setSide(pr, src, it.ID, it.Marker, stored(it))
		p.dirty[pr] = true
		crm, mail := ids(src, it.ID, idOf(pr, target))
		return p.record(ctx, Action{Action: ActSkip, Direction: dirTo(target), CRMID: crm, MailID: mail,
			Reason: fmt.Sprintf("changed in %s; direction %s does not write %s", src, dir, target)})
	}
	return p.update(ctx, pr, src, it, "changed in "+string(src), upd{})
}

// upd says how an update came about.
type upd struct {
	// cur is the target as this pass read it, if it did: a series written
	// over it keeps its cancellations (see cancel.go) without reading the
	// target again.
	cur *model.Item
	// depth counts re-reads after a conflict seen on write.
	depth int
	// back: writing a merged series back to the side it came from; it is
	// not written back again.
	back bool
}

// update writes src's content over the target side of pr. A series keeps
// the target's cancellations (cancel.go).
func (p *pass) update(ctx context.Context, pr *state.Pair, src model.Side, it *model.Item, reason string, u upd) error {
	target := src.Other()
	ictx, cancel := p.itemCtx(ctx)
	defer cancel()
	ictx, calls := gateway.WithCalls(ictx)
	out, ph := p.outgoing(it)
	if ph {
		reason += "; written as a busy placeholder"
	}
	var kept []string
	if isSeriesMaster(out) && p.seriesSync() {
		cur := u.cur
		if cur == nil {
			var err error
			cur, err = p.conn(target).Get(ictx, p.scope, idOf(pr, target))
			switch {
			case errors.Is(err, connector.ErrNotFound):
				return p.recreate(ctx, pr, src, it, "target gone; the change wins")
			case err != nil:
				return fmt.Errorf("read %s series before writing it: %w", target, err)
			}
		}
		out, kept = keepCancelled(out, cur, p.scope)
		if len(kept) > 0 {
			reason += fmt.Sprintf("; the %s's cancelled %s kept (a cancellation cannot be undone)", target, cancelledList(kept))
		}
		if out.Hash() == cur.Hash() {
			return p.holds(ctx, pr, src, it, cur, ph, kept, reason, u)
		}
	}
	in := &state.Intent{User: p.j.User, Kind: p.j.Kind, Op: state.OpUpdate, Target: target, PairID: pr.ID, SourceID: it.ID, Payload: payload(it)}
	if err := p.e.Store.Tx(ictx, func(ctx context.Context, w state.Writer) error { return w.AddIntent(ctx, in) }); err != nil {
		return fmt.Errorf("record intent: %w", err)
	}
	got, err := p.conn(target).Update(ictx, p.scope, idOf(pr, target), markerOf(pr, target), out)
	crm, mail := ids(src, it.ID, idOf(pr, target))
	switch {
	case err == nil:
	case errors.Is(err, connector.ErrConflict) && u.depth < 2:
		// The target moved since we read it: re-read and re-decide.
		cur, gerr := p.conn(target).Get(ictx, p.scope, idOf(pr, target))
		if derr := p.doneIntent(ictx, in); derr != nil {
			return derr
		}
		switch {
		case errors.Is(gerr, connector.ErrNotFound):
			return p.recreate(ctx, pr, src, it, "target deleted while we wrote; the change wins")
		case gerr != nil:
			return fmt.Errorf("re-read %s after conflict: %w", target, gerr)
		case cur.Hash() == hashOf(pr, target):
			setSide(pr, target, cur.ID, cur.Marker, stored(cur))
			return p.update(ctx, pr, src, it, reason, upd{cur: cur, depth: u.depth + 1, back: u.back})
		default:
			if src == model.CRM {
				return p.conflict(ctx, pr, it, cur, "changed on both sides (seen on write)")
			}
			return p.conflict(ctx, pr, cur, it, "changed on both sides (seen on write)")
		}
	case errors.Is(err, connector.ErrNotFound):
		if derr := p.doneIntent(ictx, in); derr != nil {
			return derr
		}
		return p.recreate(ctx, pr, src, it, "target gone; the change wins")
	case itemLevel(err):
		return p.unresolved(ctx, in, src, it, fmt.Sprintf("%s refused the update: %v", target, err), calls.IDs())
	default:
		return fmt.Errorf("update %s: %w", target, err)
	}
	p.setRead(pr, src, it)
	setWritten(pr, target, got)
	if ph {
		markPlaceholder(pr, target)
	}
	if err := p.e.Store.Tx(ictx, func(ctx context.Context, w state.Writer) error {
		if err := w.PutPair(ctx, pr); err != nil {
			return err
		}
		return w.DoneIntent(ctx, in.ID)
	}); err != nil {
		return fmt.Errorf("commit update: %w", err)
	}
	delete(p.dirty, pr)
	p.res.Updated++
	if err := p.record(ctx, Action{Action: ActUpdate, Direction: dirTo(target), CRMID: crm, MailID: mail, Reason: reason, RequestIDs: calls.IDs()}); err != nil {
		return err
	}
	if target == model.CRM {
		if err := p.relate(ctx, got.ID, it.ID, out); err != nil {
			return err
		}
	}
	return p.writeBack(ctx, pr, src, it, got, ph, kept, u)
}

// holds records that the target already holds what update would write
// (the series with its own cancellations kept): no write. It happens when
// a write was made but its commit lost, and when only what a placeholder
// does not show changed.
func (p *pass) holds(ctx context.Context, pr *state.Pair, src model.Side, it, cur *model.Item, ph bool, kept []string, reason string, u upd) error {
	target := src.Other()
	p.setRead(pr, src, it)
	setSide(pr, target, cur.ID, cur.Marker, stored(cur))
	if ph {
		markPlaceholder(pr, target)
	}
	if err := p.e.Store.Tx(context.WithoutCancel(ctx), func(ctx context.Context, w state.Writer) error { return w.PutPair(ctx, pr) }); err != nil {
		return fmt.Errorf("commit pair: %w", err)
	}
	delete(p.dirty, pr)
	crm, mail := ids(src, it.ID, cur.ID)
	p.res.Skipped++
	if err := p.record(ctx, Action{Action: ActSkip, Direction: dirTo(target), CRMID: crm, MailID: mail,
		Reason: reason + "; " + string(target) + " already holds it, nothing to write"}); err != nil {
		return err
	}
	return p.writeBack(ctx, pr, src, it, cur, ph, kept, u)
}

// writeBack sends a series merged with the target's cancellations (kept)
// back to src, the side it came from, in a two-way job, so both sides
// converge; got is the target as written. A placeholder never flows back,
// and the protected side of a one-way job is never written.
func (p *pass) writeBack(ctx context.Context, pr *state.Pair, src model.Side, it, got *model.Item, ph bool, kept []string, u upd) error {
	target := src.Other()
	if len(kept) == 0 || ph || u.back || !p.j.Settings.Direction.Writes(src) || isPlaceholderSide(pr, src) || isPlaceholderSide(pr, target) {
		return nil
	}
	return p.update(ctx, pr, target, got, fmt.Sprintf("the %s's cancelled %s written back to %s (a cancellation is kept on both sides)", target, cancelledList(kept), src),
		upd{cur: it, back: true})
}

// conflict resolves a both-sides change; the loser is kept in the state.
func (p *pass) conflict(ctx context.Context, pr *state.Pair, crmIt, mailIt *model.Item, reason string) error {
	win := p.winner(crmIt, mailIt)
	if ps, ok := placeholderSide(pr); ok && ps == win {
		win = win.Other() // a placeholder never wins over its event
	}
	winIt, loseIt := crmIt, mailIt
	if win == model.Mail {
		winIt, loseIt = mailIt, crmIt
	}
	c := &state.Conflict{User: p.j.User, Kind: p.j.Kind, CRMID: crmIt.ID, MailID: mailIt.ID, Winner: win,
		Loser: payload(loseIt), Reason: reason, At: p.e.now()}
	if err := p.e.Store.Tx(context.WithoutCancel(ctx), func(ctx context.Context, w state.Writer) error { return w.AddConflict(ctx, c) }); err != nil {
		return fmt.Errorf("keep conflict: %w", err)
	}
	p.res.Conflicts++
	if err := p.record(ctx, Action{Action: ActConflict, Direction: dirTo(win.Other()), CRMID: crmIt.ID, MailID: mailIt.ID,
		Reason: fmt.Sprintf("%s; %s wins, the %s version is kept in the state", reason, win, win.Other())}); err != nil {
		return err
	}
	// The loser's current marker is what the write must match.
	setSide(pr, win.Other(), loseIt.ID, loseIt.Marker, hashOf(pr, win.Other()))
	return p.update(ctx, pr, win, winIt, "conflict: "+string(win)+" wins", upd{cur: loseIt})
}

func (p *pass) winner(crmIt, mailIt *model.Item) model.Side {
	switch p.j.Settings.Direction {
	case CRMToMail:
		return model.CRM
	case MailToCRM:
		return model.Mail
	}
	switch p.j.Settings.Winner {
	case WinMail:
		return model.Mail
	case WinNewest:
		if mailIt.Modified.After(crmIt.Modified) {
			return model.Mail
		}
	}
	return model.CRM
}

// deleted handles a pair whose side del was deleted; changed is the other
// side's change in this pass, if any.
func (p *pass) deleted(ctx context.Context, pr *state.Pair, del model.Side, changed *model.Item) error {
	survivor := del.Other()
	dir := p.j.Settings.Direction
	if changed != nil && isPlaceholderSide(pr, survivor) {
		// An edit of the placeholder does not beat the event's deletion.
		setSide(pr, survivor, changed.ID, changed.Marker, placeholderMark+stored(changed))
		changed = nil
	}
	if changed != nil {
		// A change beats a delete: bring the item back where it was deleted.
		if dir.Writes(del) {
			return p.recreate(ctx, pr, survivor, changed, "deleted in "+string(del)+" but changed in "+string(survivor)+"; the change wins")
		}
		return p.unlink(ctx, pr, del, fmt.Sprintf("deleted in %s, changed in %s; direction %s does not write %s", del, survivor, dir, del))
	}
	if !p.j.Settings.Deletes || !dir.Writes(survivor) {
		return p.unlink(ctx, pr, del, fmt.Sprintf("deleted in %s; deletes are not propagated to %s", del, survivor))
	}
	ictx, cancel := p.itemCtx(ctx)
	defer cancel()
	ictx, calls := gateway.WithCalls(ictx)
	in := &state.Intent{User: p.j.User, Kind: p.j.Kind, Op: state.OpDelete, Target: survivor, PairID: pr.ID, SourceID: idOf(pr, del)}
	if err := p.e.Store.Tx(ictx, func(ctx context.Context, w state.Writer) error { return w.AddIntent(ctx, in) }); err != nil {
		return fmt.Errorf("record intent: %w", err)
	}
	mk := markerOf(pr, survivor)
	if isPlaceholderSide(pr, survivor) {
		mk = "" // edits of a placeholder do not count: delete it as it is
	}
	err := p.conn(survivor).Delete(ictx, p.scope, idOf(pr, survivor), mk)
	if errors.Is(err, connector.ErrConflict) {
		// The survivor changed since we read it: the change wins.
		cur, gerr := p.conn(survivor).Get(ictx, p.scope, idOf(pr, survivor))
		if derr := p.doneIntent(ictx, in); derr != nil {
			return derr
		}
		switch {
		case errors.Is(gerr, connector.ErrNotFound):
			return p.forget(ctx, pr, "deleted on both sides")
		case gerr != nil:
			return fmt.Errorf("re-read %s after conflict: %w", survivor, gerr)
		case dir.Writes(del):
			return p.recreate(ctx, pr, survivor, cur, "deleted in "+string(del)+" but changed in "+string(survivor)+"; the change wins")
		default:
			return p.unlink(ctx, pr, del, "deleted in "+string(del)+" but changed in "+string(survivor))
		}
	}
	if err != nil && !errors.Is(err, connector.ErrNotFound) {
		if itemLevel(err) {
			return p.unresolved(ctx, in, survivor, &model.Item{ID: idOf(pr, survivor)}, fmt.Sprintf("%s refused the delete: %v", survivor, err), calls.IDs())
		}
		return fmt.Errorf("delete in %s: %w", survivor, err)
	}
	crm, mail := pr.CRMID, pr.MailID
	if err := p.e.Store.Tx(ictx, func(ctx context.Context, w state.Writer) error {
		if err := w.DeletePair(ctx, pr.ID); err != nil {
			return err
		}
		return w.DoneIntent(ctx, in.ID)
	}); err != nil {
		return fmt.Errorf("commit delete: %w", err)
	}
	p.gone(pr)
	p.res.Deleted++
	return p.record(ctx, Action{Action: ActDelete, Direction: dirTo(survivor), CRMID: crm, MailID: mail,
		Reason: "deleted in " + string(del), RequestIDs: calls.IDs()})
}

// unlink keeps a tombstone: the survivor is left alone from now on.
func (p *pass) unlink(ctx context.Context, pr *state.Pair, del model.Side, reason string) error {
	crm, mail := pr.CRMID, pr.MailID
	setSide(pr, del, "", "", tombstone)
	if err := p.e.Store.Tx(context.WithoutCancel(ctx), func(ctx context.Context, w state.Writer) error { return w.PutPair(ctx, pr) }); err != nil {
		return fmt.Errorf("unlink: %w", err)
	}
	delete(p.dirty, pr)
	p.res.Unlinked++
	return p.record(ctx, Action{Action: ActUnlink, CRMID: crm, MailID: mail, Reason: reason + "; the survivor is left alone"})
}

// forget drops a pair whose items are gone on both sides.
func (p *pass) forget(ctx context.Context, pr *state.Pair, reason string) error {
	if err := p.e.Store.Tx(context.WithoutCancel(ctx), func(ctx context.Context, w state.Writer) error { return w.DeletePair(ctx, pr.ID) }); err != nil {
		return fmt.Errorf("forget pair: %w", err)
	}
	crm, mail := pr.CRMID, pr.MailID
	p.gone(pr)
	p.res.Skipped++
	return p.record(ctx, Action{Action: ActSkip, CRMID: crm, MailID: mail, Reason: reason})
}

func (p *pass) gone(pr *state.Pair) {
	delete(p.byCRM, pr.CRMID)
	delete(p.byMail, pr.MailID)
	delete(p.dirty, pr)
}

func (p *pass) skip(ctx context.Context, pr *state.Pair, src model.Side, it *model.Item, why string) error {
	crm, mail := ids(src, it.ID, "")
	if pr != nil {
		crm, mail = ids(src, it.ID, idOf(pr, src.Other()))
	}
	p.res.Skipped++
	return p.record(ctx, Action{Action: ActSkip, Direction: dirTo(src.Other()), CRMID: crm, MailID: mail, Reason: why})
}

// seriesSync reports whether this job syncs event series: both ends must
// hold them (connector.SeriesCapable).
func (p *pass) seriesSync() bool {
	return connector.SupportsSeries(p.j.CRM) && connector.SupportsSeries(p.j.Mail)
}

func (p *pass) noSeriesSide() string {
	switch {
	case !connector.SupportsSeries(p.j.CRM) && !connector.SupportsSeries(p.j.Mail):
		return "neither side"
	case !connector.SupportsSeries(p.j.CRM):
		return string(model.CRM)
	}
	return string(model.Mail)
}

// filtered applies the event settings: series, private, selected.
func (p *pass) filtered(src model.Side, it *model.Item, paired bool) (bool, string) {
	ev := it.Event
	if ev == nil {
		return false, ""
	}
	ks := p.j.Settings
	if ev.Series != "" {
		switch {
		case !ks.Series:
			return true, "event series are not synced (series: skip) (" + ev.Series + ")"
		case !p.seriesSync():
			return true, "event series are not synced: " + p.noSeriesSide() + " cannot hold series (" + ev.Series + ")"
		case ev.Series != "master":
			return true, "an occurrence of a series (" + ev.Series + ") syncs with its master"
		case ev.Recurrence == nil:
			return true, "series master without a recurrence the engine can read"
		}
	}
	if ks.Private == PrivateSkip && ev.Private {
		return true, "private event; private events are not synced"
	}
	if ks.Selected && !paired && src == model.Mail && !hasCategory(ev.Categories, ks.SelectCategory) {
		return true, "not selected (no category " + ks.SelectCategory + ")"
	}
	return false, ""
}

func hasCategory(cs []string, want string) bool {
	for _, c := range cs {
		if equalFoldASCII(c, want) {
			return true
		}
	}
	return false
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func (p *pass) doneIntent(ctx context.Context, in *state.Intent) error {
	if err := p.e.Store.Tx(context.WithoutCancel(ctx), func(ctx context.Context, w state.Writer) error { return w.DoneIntent(ctx, in.ID) }); err != nil {
		return fmt.Errorf("close intent: %w", err)
	}
	return nil
}

// unresolved closes an intent whose write the service refused and records
// the item for a person to look at.
func (p *pass) unresolved(ctx context.Context, in *state.Intent, src model.Side, it *model.Item, reason string, reqIDs []string) error {
	u := state.Unresolved{User: p.j.User, Kind: p.j.Kind, Side: src, ItemID: it.ID, Reason: reason, At: p.e.now()}
	if err := p.e.Store.Tx(context.WithoutCancel(ctx), func(ctx context.Context, w state.Writer) error {
		if in != nil && in.ID != 0 {
			if err := w.DoneIntent(ctx, in.ID); err != nil {
				return err
			}
		}
		return w.SetUnresolved(ctx, u)
	}); err != nil {
		return fmt.Errorf("record unresolved: %w", err)
	}
	p.res.Unresolved++
	crm, mail := ids(src, it.ID, "")
	return p.record(ctx, Action{Action: ActUnresolved, CRMID: crm, MailID: mail, Reason: reason, RequestIDs: reqIDs})
}

// recreate brings an item back on the side where it was deleted, under a
// fresh key (the old copy's key may still name the deleted copy).
func (p *pass) recreate(ctx context.Context, pr *state.Pair, src model.Side, it *model.Item, reason string) error {
	key := Key(p.j.User, p.j.Kind, src, it.ID) + "-r" + fmt.Sprint(p.e.now().UnixNano())
	return p.create(ctx, pr, src, it, key, reason)
}

// create writes a copy of it (from side src) on the other side. The intent
// with the key is durable before the remote call; the pair and the closing
// of the intent commit together after it.
func (p *pass) create(ctx context.Context, pr *state.Pair, src model.Side, it *model.Item, key, reason string) error {
	target := src.Other()
	ictx, cancel := p.itemCtx(ctx)
	defer cancel()
	ictx, calls := gateway.WithCalls(ictx)
	in := &state.Intent{User: p.j.User, Kind: p.j.Kind, Op: state.OpCreate, Target: target, Key: key, SourceID: it.ID, Payload: payload(it)}
	if pr != nil {
		in.PairID = pr.ID
	}
	if err := p.e.Store.Tx(ictx, func(ctx context.Context, w state.Writer) error { return w.AddIntent(ctx, in) }); err != nil {
		return fmt.Errorf("record intent: %w", err)
	}
	out, ph := p.outgoing(it)
	if ph {
		reason += "; written as a busy placeholder"
	}
	got, err := p.conn(target).Create(ictx, p.scope, key, out)
	if err != nil {
		if itemLevel(err) {
			return p.unresolved(ctx, in, src, it, fmt.Sprintf("%s refused the create: %v", target, err), calls.IDs())
		}
		// The intent stays open: the next pass finds the copy by its key
		// if the create happened after all.
		return fmt.Errorf("create in %s: %w", target, err)
	}
	if err := p.commitCreate(ictx, in, pr, src, it, got, false, ph); err != nil {
		return err
	}
	p.res.Created++
	crm, mail := ids(src, it.ID, got.ID)
	if err := p.record(ctx, Action{Action: ActCreate, Direction: dirTo(target), CRMID: crm, MailID: mail, Reason: reason, RequestIDs: calls.IDs()}); err != nil {
		return err
	}
	if target == model.CRM {
		return p.relate(ctx, got.ID, it.ID, out)
	}
	return nil
}

func (p *pass) commitCreate(ctx context.Context, in *state.Intent, pr *state.Pair, src model.Side, it, got *model.Item, recovered, ph bool) error {
	if pr == nil {
		pr = &state.Pair{User: p.j.User, Kind: p.j.Kind}
	}
	if recovered {
		// Read by an earlier pass: checked against this pass's feed.
		setSide(pr, src, it.ID, unseen+it.Marker, stored(it))
	} else {
		p.setRead(pr, src, it)
	}
	setWritten(pr, src.Other(), got)
	if ph {
		markPlaceholder(pr, src.Other())
	}
	pr.Key = in.Key
	if err := p.e.Store.Tx(ctx, func(ctx context.Context, w state.Writer) error {
		if err := w.PutPair(ctx, pr); err != nil {
			return err
		}
		if err := w.ClearUnresolved(ctx, p.j.User, p.j.Kind, src, it.ID); err != nil {
			return err
		}
		return w.DoneIntent(ctx, in.ID)
	}); err != nil {
		return fmt.Errorf("commit create: %w", err)
	}
	p.byCRM[pr.CRMID], p.byMail[pr.MailID] = pr, pr
	delete(p.dirty, pr)
	return nil
}

// recoverIntents finishes what a previous run left open. A create is
// looked up by its key: found, the pair is recorded; not found, the intent
// is dropped and this pass (whose cursor did not move) decides again.
// Updates and deletes are re-derived from the unmoved cursors.
func (p *pass) recoverIntents(ctx context.Context) error {
	ins, err := p.e.Store.Intents(ctx, p.j.User, p.j.Kind)
	if err != nil {
		return err
	}
	byID := map[int64]*state.Pair{}
	for _, pr := range p.pairs {
		byID[pr.ID] = pr
	}
	for i := range ins {
		in := &ins[i]
		if in.Op != state.OpCreate {
			if err := p.doneIntent(ctx, in); err != nil {
				return err
			}
			continue
		}
		ictx, cancel := p.itemCtx(ctx)
		ictx, calls := gateway.WithCalls(ictx)
		got, err := p.conn(in.Target).FindByKey(ictx, p.scope, in.Key)
		if err != nil {
			cancel()
			return fmt.Errorf("look up key of an interrupted create: %w", err)
		}
		if got == nil {
			err = p.doneIntent(ictx, in)
			cancel()
			if err != nil {
				return err
			}
			continue
		}
		var src model.Item
		if err := json.Unmarshal(in.Payload, &src); err != nil {
			cancel()
			return fmt.Errorf("intent %d payload: %w", in.ID, err)
		}
		var pr *state.Pair
		if in.PairID != 0 {
			pr = byID[in.PairID]
		}
		// The copy may have been edited since we wrote it: record what we
		// wrote, so an edit shows up as a change of that side next read.
		out, ph := p.outgoing(&src)
		wrote := got.Clone()
		wrote.Contact, wrote.Event = out.Contact, out.Event
		err = p.commitCreate(ictx, in, pr, in.Target.Other(), &src, wrote, true, ph)
		cancel()
		if err != nil {
			return err
		}
		if p.recovered == nil {
			p.recovered = map[model.Side][]*model.Item{}
		}
		p.recovered[in.Target.Other()] = append(p.recovered[in.Target.Other()], &src)
		p.res.Created++
		crm, mail := ids(in.Target.Other(), src.ID, got.ID)
		if err := p.record(ctx, Action{Action: ActCreate, Direction: dirTo(in.Target), CRMID: crm, MailID: mail,
			Reason: "interrupted create found by its key and recorded", RequestIDs: calls.IDs()}); err != nil {
			return err
		}
	}
	return nil
}
