package engine

import (
	"os"
	"testing"

	"github.com/syncgate/syncgate/sync/model"
	"github.com/syncgate/syncgate/sync/state"
)

// TestSplitNewSeriesDeletedUnseen: a person splits a series at its first
// occurrence in the window ("this and following") and deletes the new
// series before a pass reads it — in effect ends the series there. The
// original, left without an occurrence in the window, is no longer listed
// (split.go), and no new series makes the engine read it: the other side
// keeps every later occurrence. Expected: the truncation reaches the other
// side. Known to fail (TestSeriesMachine keeps the sequence out); runs
// with SYNCGATE_KNOWN_ISSUES=1.
func TestSplitNewSeriesDeletedUnseen(t *testing.T) {
	if os.Getenv("SYNCGATE_KNOWN_ISSUES") == "" {
		t.Skip("known issue: a truncation that leaves a series without an occurrence in the window is seen only through a new series; SYNCGATE_KNOWN_ISSUES=1 runs it")
	}
	forEachStore(t, func(t *testing.T, st state.Store) {
		w := seriesWorld(t, st)
		ks := KindSettings{Direction: Both, Deletes: true, Series: true}
		id := w.crm.Put(w.user, "", weekly(t, "Standup"))
		w.mustPass(model.Events, ks)
		orig := w.only(t, w.crm)
		// The window's first occurrence is 2 November 2026.
		trunc, next := splitAt(t, orig, "2026-11-02T08:00:00Z", "", false)
		nid := w.crm.Put(w.user, "", next)
		w.crm.Remove(w.user, nid)
		w.crm.Put(w.user, id, trunc)
		w.mustPass(model.Events, ks)
		from, to := seriesNow.AddDate(0, 0, -30), seriesNow.AddDate(1, 0, 0)
		if d := setDiff(occurrenceSet(t, w.mail.Live(w.user), from, to), occurrenceSet(t, w.crm.Live(w.user), from, to)); d != "" {
			t.Fatalf("the mailbox's occurrences differ from the CRM's: %s", d)
		}
	})
}
