package engine

import (
	"strings"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

// Cancellations are sticky.
//
// The engine writes a series whole, and the version it writes to a side
// may lack an occurrence a person cancelled on that side: a conflict won
// by the other side (the CRM renames the series while the mailbox cancels
// an occurrence), a one-way job writing its source over a copy in which a
// person cancelled an occurrence, a busy placeholder rewritten after a
// person cancelled one of its occurrences. Writing that version would ask
// the target to restore ("un-cancel") the occurrence, and no service here
// can do that reliably:
//   - Graph has no call that brings a deleted instance back; a PATCH of
//     the master leaves the cancellation in place (the connector keeps it
//     and returns the series as stored, so the pair settles apart);
//   - EWS lists it in the master's DeletedOccurrences, which no update
//     can empty short of rewriting the whole recurrence;
//   - a Salesforce occurrence record that was deleted is gone (the
//     connector refuses with ErrUnsupported and the pair stays unresolved);
//   - Google could (an instance's status back to "confirmed"), but a
//     series must behave alike wherever it lives.
//
// So a cancellation is a one-way street, and the engine never asks for
// the impossible: the version written to a side is the chosen content plus
// the target's current cancellations in the window (the union of the
// cancellations; for an occurrence moved on one side and cancelled on the
// other, cancelled wins). Then:
//   - in a two-way job the merged version also flows back to the side it
//     came from, so both sides hold the same series (the winner of a
//     conflict gets the loser's cancellation; the rest of the loser's
//     version is lost as before and kept in the state's conflict record);
//   - in a one-way job the protected source is never written: the copy
//     keeps its extra cancellation, and the pair records the copy's hash as
//     written, so the difference is not taken for a change again;
//   - a busy placeholder keeps the person's cancellation and never flows
//     back (private.go);
//   - a write whose merged version the target already holds is not made
//     (a re-run of a write that happened before its commit was lost, or a
//     placeholder that already shows everything): the pair records the
//     target as it is, and a write back follows if one is due.
//
// Nothing is flattened or deleted: a cancelled occurrence is a change of
// the master, not a delete, so none of this counts toward the mass-delete
// guard. A cancellation whose occurrence the written rule no longer has (a
// series ended early by a split, a changed rule) is not carried over: the
// occurrence is gone with the rule, there is nothing to restore.

// keepCancelled returns out with the cancellations of cur (the target as
// it is) in the window of sc that out lacks, and their keys; out itself
// (not a copy) and no keys when there are none. Both must be series.
func keepCancelled(out, cur *model.Item, sc connector.Scope) (*model.Item, []string) {
	if !isSeriesMaster(out) || !isSeriesMaster(cur) {
		return out, nil
	}
	in, _ := cur.Event.Recurrence.SplitExceptions(sc.WindowStart, sc.WindowEnd)
	has := map[string]int{} // occurrence key → index in out's exceptions
	for i, x := range out.Event.Recurrence.Exceptions {
		has[occKey(x.OriginalStart)] = i
	}
	var merged *model.Item
	var keys []string
	for _, x := range in {
		if !x.Cancelled {
			continue
		}
		k := occKey(x.OriginalStart)
		i, ok := has[k]
		if ok && out.Event.Recurrence.Exceptions[i].Cancelled {
			continue
		}
		if !ok && !isOccurrence(out.Event, k) {
			continue // the written rule has no such occurrence: nothing to keep
		}
		if merged == nil {
			merged = out.Clone()
		}
		c := model.Exception{OriginalStart: x.OriginalStart, Cancelled: true}
		if ok {
			merged.Event.Recurrence.Exceptions[i] = c // cancelled beats moved
		} else {
			merged.Event.Recurrence.Exceptions = append(merged.Event.Recurrence.Exceptions, c)
			has[k] = len(merged.Event.Recurrence.Exceptions) - 1
		}
		keys = append(keys, k)
	}
	if merged == nil {
		return out, nil
	}
	return merged, keys
}

// occKey is an occurrence key in one spelling: instants as RFC 3339 UTC
// to the second, dates as they are.
func occKey(k string) string {
	k = strings.TrimSpace(k)
	if t, err := time.Parse(time.RFC3339, k); err == nil {
		return t.UTC().Truncate(time.Second).Format(time.RFC3339)
	}
	return k
}

// isOccurrence reports whether key k (see occKey) is an original start of
// ev's series.
func isOccurrence(ev *model.Event, k string) bool {
	var from, to time.Time
	if t, err := time.Parse(time.RFC3339, k); err == nil {
		from, to = t, t.Add(time.Second)
	} else if d, err := time.Parse(time.DateOnly, k); err == nil {
		from, to = d, d.Add(24*time.Hour)
	} else {
		return false
	}
	keys, err := ev.OriginalStarts(from, to)
	if err != nil {
		return false
	}
	for _, o := range keys {
		if occKey(o) == k {
			return true
		}
	}
	return false
}

// cancelledList names the kept cancellations for an audit reason.
func cancelledList(keys []string) string {
	if len(keys) == 1 {
		return "occurrence " + keys[0]
	}
	return "occurrences " + strings.Join(keys, ", ")
}
