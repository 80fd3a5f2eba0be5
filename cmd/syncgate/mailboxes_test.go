package main

import (
	"testing"

	"github.com/syncgate/syncgate/sync/model"
)

// TestSyncEveryMailboxKind: one user on each mailbox kind (Graph, Google,
// EWS) syncs with Salesforce through the gateway; a second pass writes
// nothing.
func TestSyncEveryMailboxKind(t *testing.T) {
	st, cfg, rt := startSyncWorld(t, "alice@corp.example=graph", "bob@corp.example=google", "carol@corp.example=ews")
	_ = st
	first := round(t, rt, cfg)
	for _, o := range first {
		t.Logf("%s %s %+v", o.Job.User, o.Job.Kind, o.Result)
	}
	if w := writes(round(t, rt, cfg)); w != 0 {
		t.Fatalf("second pass wrote %d", w)
	}
	for _, u := range []string{"alice@corp.example", "bob@corp.example", "carol@corp.example"} {
		for _, k := range []model.Kind{model.Contacts, model.Events} {
			p, err := rt.store.Pairs(t.Context(), u, k)
			if err != nil || len(p) == 0 {
				t.Errorf("%s %s: no pairs (%v)", u, k, err)
			}
		}
	}
}
