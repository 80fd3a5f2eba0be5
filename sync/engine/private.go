package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/syncgate/syncgate/sync/model"
	"github.com/syncgate/syncgate/sync/state"
)

// Busy placeholders (private: busy_only).
//
// A private event is written to the other side as a placeholder: the same
// times or all-day dates, Private, ShowAs busy, Subject "Busy", nothing
// else. The pair remembers which side holds the placeholder by a mark on
// that side's stored hash (placeholderMark + hash; hashOf strips it, so
// every comparison sees the plain hash). The rules:
//   - the placeholder side never flows back: a change there (even one that
//     makes it look like a real event) is recorded as a skip and its new
//     hash remembered; in a both-sides change the event's side is taken;
//     a conflict is always won by the event's side; a placeholder edit does
//     not beat a deletion of the event;
//   - a change of the event rewrites the placeholder when the placeholder
//     changes (times, all-day), and writes nothing otherwise;
//   - an event that stops being private is written in full, which makes
//     the side an ordinary copy again; one that becomes private is reduced
//     to a placeholder;
//   - deletions follow the delete rules of the kind, on either side (a
//     placeholder is deleted without its marker check: edits to it do not
//     count).
//
// The mark outlives a change of setting: placeholders written under
// busy_only are protected under sync and skip too.
const (
	placeholderMark = "busy:"
	// PlaceholderSubject is the subject of a busy placeholder.
	PlaceholderSubject = "Busy"
)

func (p *pass) busyOnly() bool {
	return p.j.Kind == model.Events && p.j.Settings.Private == PrivateBusyOnly
}

// placeholderOf is the busy placeholder of event item it.
func placeholderOf(it *model.Item) *model.Item {
	c := it.Clone()
	e := it.Event
	c.Event = &model.Event{Subject: PlaceholderSubject, AllDay: e.AllDay, Start: e.Start, End: e.End,
		StartDate: e.StartDate, EndDate: e.EndDate, Private: true, Series: e.Series}
	if e.Recurrence != nil {
		// A series' placeholder keeps the rule and the times of its
		// exceptions, none of their content.
		r := e.Recurrence.Clone()
		for i, x := range r.Exceptions {
			r.Exceptions[i] = model.Exception{OriginalStart: x.OriginalStart, Cancelled: x.Cancelled,
				Start: x.Start, End: x.End, StartDate: x.StartDate, EndDate: x.EndDate}
		}
		c.Event.Recurrence = r
	}
	return c
}

// looksLikePlaceholder reports whether e has a placeholder's content.
func looksLikePlaceholder(e *model.Event) bool {
	n := e.Normalize()
	return n.Private && n.Subject == PlaceholderSubject && n.Location == "" && n.Description == "" && n.ShowAs == ""
}

// outgoing is what writing it on the other side puts there: the item, or
// under busy_only its placeholder when it is private (ph true).
func (p *pass) outgoing(it *model.Item) (out *model.Item, ph bool) {
	if p.busyOnly() && it.Event != nil && it.Event.Private {
		return placeholderOf(it), true
	}
	return it, false
}

func isPlaceholderSide(pr *state.Pair, s model.Side) bool {
	return strings.HasPrefix(rawHash(pr, s), placeholderMark)
}

// placeholderSide returns the side of pr that holds a placeholder, if one
// (and only one) does.
func placeholderSide(pr *state.Pair) (model.Side, bool) {
	c, m := isPlaceholderSide(pr, model.CRM), isPlaceholderSide(pr, model.Mail)
	switch {
	case c && !m:
		return model.CRM, true
	case m && !c:
		return model.Mail, true
	}
	return "", false
}

func markPlaceholder(pr *state.Pair, s model.Side) {
	if !isPlaceholderSide(pr, s) {
		h := placeholderMark + rawHash(pr, s)
		if s == model.CRM {
			pr.CRMHash = h
		} else {
			pr.MailHash = h
		}
	}
}

// placeholderChanged records a change of a placeholder: it stays where it
// is and is remembered, so it is neither sent back nor reported again.
func (p *pass) placeholderChanged(ctx context.Context, pr *state.Pair, s model.Side, it *model.Item) error {
	setSide(pr, s, it.ID, it.Marker, placeholderMark+stored(it))
	p.dirty[pr] = true
	crm, mail := ids(s, it.ID, idOf(pr, s.Other()))
	p.res.Skipped++
	return p.record(ctx, Action{Action: ActSkip, Direction: dirTo(s.Other()), CRMID: crm, MailID: mail,
		Reason: fmt.Sprintf("changed in %s, which holds the busy placeholder of a private event; a placeholder never flows back", s)})
}

// linkPlaceholder recognises, when two items are paired (by key after a
// lost state, or by content), a private event and its placeholder: the
// placeholder side is marked. It reports the event's side when the
// placeholder must be rewritten (its times differ).
func (p *pass) linkPlaceholder(pr *state.Pair, crmIt, mailIt *model.Item) (model.Side, bool) {
	if !p.busyOnly() || crmIt.Event == nil || mailIt.Event == nil {
		return "", false
	}
	for _, s := range []model.Side{model.CRM, model.Mail} {
		ev, ph := crmIt, mailIt
		if s == model.Mail {
			ev, ph = mailIt, crmIt
		}
		if !ev.Event.Private || looksLikePlaceholder(ev.Event) || !looksLikePlaceholder(ph.Event) {
			continue
		}
		markPlaceholder(pr, s.Other())
		out, _ := p.outgoing(ev)
		return s, out.Hash() != ph.Hash()
	}
	return "", false
}
