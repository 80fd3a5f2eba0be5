package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
	"github.com/syncgate/syncgate/sync/state"
)

// "This and following" splits.
//
// No service has a split API. Outlook and Graph clients end the original
// series (its recurrence range ends the day before the split occurrence;
// the exceptions after it vanish) and create a new series from the split
// occurrence on; Google's guide to recurring events ("Modifying all
// following instances",
// https://developers.google.com/workspace/calendar/api/guides/recurringevents)
// puts an UNTIL on the original's RRULE and inserts a new recurring event,
// as Calendar's UI does; Salesforce Lightning's "This and following events"
// ends the original series and creates a new one (the REST API's
// "Delete Lightning Experience Event Series" ends a series from an
// occurrence on: DELETE /sobjects/Event/{id}/fromThisEventOnwards). The
// engine sees a changed master and a new one, in either order, possibly in
// different passes.
//
// The new series is a new item and is created as such: it is never
// adopted by the original's pair (pairs are only made for items no pair
// knows, and an idempotency key copied from the original names a source
// that is already paired). The trap is the original: when its truncation
// leaves it without an occurrence in the window (the split happened at the
// first occurrence in the window), a SeriesCapable connector no longer
// lists it (Graph's delta reports "@removed" with reason "changed": the
// item left the view, it is not a deletion; Google's connector lists only
// masters with an occurrence in the window), and the other side would keep
// the untruncated rule: every later occurrence twice. So:
//
//   - a SeriesCapable connector reports such a master, changed since the
//     cursor with no occurrence left in the window, in Changes.Departed;
//     the pass takes it as a change of its pair (an update of the other
//     side, never a create or a delete; an unpaired one is ignored) and as
//     listed. That alone covers a new series deleted before any pass read
//     it. The rules below remain for what a side's feed does not say: a
//     truncation that arrives in a later round than the new series, or a
//     connector that reports no departed masters;
//   - the pair remembers which of its sides are series masters (seriesMark
//     on the stored hash);
//   - a pass in which a side lists a new series master reads (Get) every
//     paired series master of that side that it did not list, and takes a
//     changed one as a change: its truncation is written to the other side
//     as an update, never a delete, even when it has no occurrence left in
//     the window;
//   - an unchanged master that the new series may continue (an occurrence
//     of the original within a day of the new series' first start) is
//     watched (watchMark with a deadline): later passes read it again while
//     it is not listed, so a truncation that arrives after the new series
//     (a later delta round, a client's failed or conflicting first try) is
//     still seen. The watch ends when the master changes or at its deadline.
//
// A full listing (first pass, resync) already reads every paired item it
// does not list. Pairs recorded before the series mark existed get it when
// their side is next listed or read.
const (
	// seriesMark marks a side whose item is a series master.
	seriesMark = "series:"
	// watchMark, followed by a Unix deadline and ":", marks a series master
	// that a newer series may have split.
	watchMark = "watch:"
	// watchFor is how long a possibly split master is watched: far longer
	// than any client takes to finish the two writes of a split.
	watchFor = 72 * time.Hour
)

// hashMarks are the marks the engine keeps on a side's stored hash, in
// their canonical order: placeholderMark, seriesMark, watchMark.
type hashMarks struct {
	busy, series bool
	watch        int64 // Unix deadline; 0 = not watched
}

// parseHash splits a stored hash into its marks and the content hash.
func parseHash(raw string) (hashMarks, string) {
	var m hashMarks
	for {
		switch {
		case strings.HasPrefix(raw, placeholderMark):
			m.busy, raw = true, raw[len(placeholderMark):]
		case strings.HasPrefix(raw, seriesMark):
			m.series, raw = true, raw[len(seriesMark):]
		case strings.HasPrefix(raw, watchMark):
			rest := raw[len(watchMark):]
			i := strings.IndexByte(rest, ':')
			if i < 0 {
				return m, raw
			}
			m.watch, _ = strconv.ParseInt(rest[:i], 10, 64)
			raw = rest[i+1:]
		default:
			return m, raw
		}
	}
}

func (m hashMarks) format(h string) string {
	var b strings.Builder
	if m.busy {
		b.WriteString(placeholderMark)
	}
	if m.series {
		b.WriteString(seriesMark)
	}
	if m.watch != 0 {
		b.WriteString(watchMark + strconv.FormatInt(m.watch, 10) + ":")
	}
	b.WriteString(h)
	return b.String()
}

// stored is what the pair keeps of item it: its content hash, marked when
// it is a series master.
func stored(it *model.Item) string {
	h := it.Hash()
	if isSeriesMaster(it) {
		return seriesMark + h
	}
	return h
}

func isSeriesMaster(it *model.Item) bool {
	return it != nil && it.Event != nil && it.Event.Recurrence != nil
}

func isSeriesSide(pr *state.Pair, s model.Side) bool {
	m, _ := parseHash(rawHash(pr, s))
	return m.series
}

// setWatch sets (deadline > 0) or clears (0) the watch on side s.
func setWatch(pr *state.Pair, s model.Side, deadline int64) {
	m, h := parseHash(rawHash(pr, s))
	m.watch = deadline
	if s == model.CRM {
		pr.CRMHash = m.format(h)
	} else {
		pr.MailHash = m.format(h)
	}
}

// continues reports whether series n may continue series s after a split:
// s has an occurrence within a day of n's first start. A split may move
// the time, so the instants need not be equal.
func continues(s, n *model.Item) bool {
	start := n.Event.Start
	if n.Event.AllDay {
		d, err := time.Parse(time.DateOnly, n.Event.StartDate)
		if err != nil {
			return false
		}
		start = d
	}
	keys, err := s.Event.OriginalStarts(start.Add(-24*time.Hour), start.Add(24*time.Hour))
	return err == nil && len(keys) > 0
}

// checkSeries reads the paired series masters of side that this pass did
// not list, when side lists a new series master or a master is watched;
// see the comment at the top of this file. deleted and listed are the
// side's ids this pass already accounts for.
func (p *pass) checkSeries(ctx context.Context, side model.Side, ch *connector.Changes, fresh []*model.Item, deleted map[string]bool, got func(*state.Pair) *obs, seen map[*state.Pair]*obs) error {
	if !p.seriesSync() {
		return nil
	}
	listed := map[string]*model.Item{}
	for _, it := range slices.Concat(ch.Items, ch.Departed) {
		listed[it.ID] = it
	}
	var news []*model.Item
	for _, it := range fresh {
		if isSeriesMaster(it) {
			news = append(news, it)
		}
	}
	now := p.e.now().Unix()
	for _, pr := range p.pairs {
		id := idOf(pr, side)
		if id == "" || deleted[id] || p.isTombstone(pr) || !isSeriesSide(pr, side) {
			continue
		}
		if it := listed[id]; it != nil {
			// Listed unchanged (the echo of our own write, say): no need
			// to read it, but a new series may continue it all the same.
			if it.Hash() == hashOf(pr, side) {
				p.watchIfContinued(pr, side, it, news)
			}
			continue
		}
		if o := seen[pr]; o != nil && (side == model.CRM && (o.crm != nil || o.crmDel) || side == model.Mail && (o.mail != nil || o.mailDel)) {
			continue // read already (an unseen write of ours)
		}
		m, _ := parseHash(rawHash(pr, side))
		watched := m.watch > now
		if m.watch != 0 && !watched {
			setWatch(pr, side, 0) // the deadline passed: stop reading it
			p.dirty[pr] = true
		}
		if len(news) == 0 && !watched {
			continue
		}
		it, err := p.conn(side).Get(p.withSubject(ctx), p.scope, id)
		switch {
		case errors.Is(err, connector.ErrNotFound):
			o := got(pr)
			if side == model.CRM {
				o.crmDel = true
			} else {
				o.mailDel = true
			}
			continue
		case err != nil:
			return fmt.Errorf("read %s series master not listed (possible split): %w", side, err)
		}
		if it.Hash() != hashOf(pr, side) {
			// Truncated (or otherwise changed) while out of the listing:
			// a change like any other; recording it drops the watch.
			o := got(pr)
			if side == model.CRM {
				o.crm = it
			} else {
				o.mail = it
			}
			continue
		}
		if !watched {
			p.watchIfContinued(pr, side, it, news)
		}
	}
	return nil
}

// watchListed watches, once the pass decided, the paired series masters
// it listed that a series new in this pass may continue. checkSeries
// watches those listed unchanged; this covers the others: a master first
// paired in this pass (a split made before either series was paired), and
// one changed in this pass (a rename before a split, say), whose write or
// new hash dropped the watch. Either would otherwise never be read again
// when the split's truncation later takes it out of the listing.
func (p *pass) watchListed(listed, fresh map[model.Side][]*model.Item) {
	if !p.seriesSync() {
		return
	}
	for side, items := range listed {
		var news []*model.Item
		for _, n := range fresh[side] {
			if isSeriesMaster(n) {
				news = append(news, n)
			}
		}
		if len(news) == 0 {
			continue
		}
		for _, it := range items {
			pr := p.pairOf(side, it.ID)
			if pr == nil || !isSeriesMaster(it) || p.isTombstone(pr) || !isSeriesSide(pr, side) {
				continue
			}
			others := make([]*model.Item, 0, len(news))
			for _, n := range news {
				if n.ID != it.ID {
					others = append(others, n)
				}
			}
			p.watchIfContinued(pr, side, it, others)
		}
	}
}

// watchIfContinued watches side s of pr, whose unchanged master is it, when
// one of the new series news may continue it.
func (p *pass) watchIfContinued(pr *state.Pair, s model.Side, it *model.Item, news []*model.Item) {
	if !isSeriesMaster(it) {
		return
	}
	for _, n := range news {
		if continues(it, n) {
			setWatch(pr, s, p.e.now().Add(watchFor).Unix())
			p.dirty[pr] = true
			p.log.Debug().Str("side", string(s)).Str("id", it.ID).Msg("series master may have been split; watching it")
			return
		}
	}
}
