package main

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/syncgate/syncgate/emulate/microsoft"
	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/engine"
	"github.com/syncgate/syncgate/sync/model"
)

// TestSyncInvalidDeltaStateIsAFullRelistWithoutDuplicates: Graph forgets
// every delta token (410 SyncStateNotFound); the next pass lists again and
// matches through the state: no creates, no deletes, a resync record.
func TestSyncInvalidDeltaStateIsAFullRelistWithoutDuplicates(t *testing.T) {
	const alice = "alice@corp.example"
	st, cfg, rt := startSyncWorld(t, alice)
	round(t, rt, cfg)
	before := map[model.Kind]int{}
	for _, k := range []model.Kind{model.Contacts, model.Events} {
		p, _ := rt.store.Pairs(context.Background(), alice, k)
		before[k] = len(p)
	}
	st.set.Microsoft.InvalidateDeltaTokens()
	res := round(t, rt, cfg)
	if w := writes(res); w != 0 {
		t.Fatalf("a resync wrote %d items", w)
	}
	for _, k := range []model.Kind{model.Contacts, model.Events} {
		p, _ := rt.store.Pairs(context.Background(), alice, k)
		if len(p) != before[k] {
			t.Fatalf("%s pairs %d -> %d", k, before[k], len(p))
		}
	}
	if n := testutil.ToFloat64(rt.metrics.ItemsCounter(model.Contacts, "", engine.ActResync)); n < 1 {
		t.Fatalf("no resync recorded (%v)", n)
	}
}

// TestSyncThrottledPassStopsCleanly: Graph answers 429 with Retry-After to
// everything; the engine honours it (bounded retries, counted), then stops
// the pass without writing or moving cursors, and the next pass recovers.
func TestSyncThrottledPassStopsCleanly(t *testing.T) {
	const alice = "alice@corp.example"
	st, cfg, rt := startSyncWorld(t, alice)
	st.set.Microsoft.SetFaults(microsoft.Faults{Throttle: true, RetryAfter: 1})
	res := (&schedulerFor{rt, cfg}).once(context.Background())
	for _, o := range res {
		var te *connector.ThrottledError
		if !errors.As(o.Err, &te) {
			t.Fatalf("%s: %v, want a throttled pass", o.Job.Kind, o.Err)
		}
		if o.Result.Writes() != 0 {
			t.Fatal("a throttled pass wrote")
		}
	}
	if n := testutil.ToFloat64(rt.metrics.ThrottleCounter()); n < 4 {
		t.Fatalf("throttle retries counted %v, want the client's retries", n)
	}
	st.set.Microsoft.SetFaults(microsoft.Faults{})
	if writes(round(t, rt, cfg)) == 0 {
		t.Fatal("the pass after the throttle moved nothing")
	}
}

// TestSyncOrgLimitPausesTheRound: Salesforce answers REQUEST_LIMIT_EXCEEDED;
// the round stops for every user of the org.
func TestSyncOrgLimitPausesTheRound(t *testing.T) {
	st, cfg, rt := startSyncWorld(t, "alice@corp.example", "bob@corp.example")
	st.set.Salesforce.ExhaustAPILimit()
	res := (&schedulerFor{rt, cfg}).once(context.Background())
	if len(res) != 4 {
		t.Fatalf("%d outcomes", len(res))
	}
	for _, o := range res {
		if !errors.Is(o.Err, connector.ErrOrgLimit) {
			t.Fatalf("%s %s: %v, want the org limit", o.Job.User, o.Job.Kind, o.Err)
		}
	}
}
