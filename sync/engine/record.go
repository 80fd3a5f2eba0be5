package engine

import (
	"context"
	"strings"

	"github.com/syncgate/syncgate/audit"
	"github.com/syncgate/syncgate/sync/model"
)

// Action names in the sync audit log.
const (
	ActCreate     = "create"
	ActUpdate     = "update"
	ActDelete     = "delete"
	ActConflict   = "conflict"
	ActSkip       = "skip"
	ActUnresolved = "unresolved"
	ActLink       = "link"   // paired without a write (identical, or found by key)
	ActUnlink     = "unlink" // deleted on one side, deletes disabled: survivor left alone
	ActPause      = "pause"  // mass-delete guard
	ActResync     = "resync" // a side's cursor was invalid; full re-list
	ActRelate     = "relate" // a CRM event related to its attendees' contacts or lead
)

// Action is one item action of the engine, one record in the sync audit.
type Action struct {
	User      string
	Kind      model.Kind
	Direction string // crm_to_mail | mail_to_crm | ""
	Action    string
	CRMID     string
	MailID    string
	Reason    string
	// RequestIDs are the gateway's Syncgate-Request-Id of every call made
	// for this action: the join key with the gateway's audit log.
	RequestIDs []string
}

// Recorder writes the engine's audit.
type Recorder interface {
	Record(ctx context.Context, a Action) error
}

// AuditRecorder writes actions as hash-chained records (kind "sync") with
// the audit package, verifiable with `syncgate audit verify`.
type AuditRecorder struct {
	W *audit.Writer
}

// Record writes one action; it returns after the writer's durability rule
// (fsync always or batch) is met.
func (a AuditRecorder) Record(ctx context.Context, act Action) error {
	d := map[string]string{
		"sync_kind": string(act.Kind),
		"action":    act.Action,
	}
	put := func(k, v string) {
		if v != "" {
			d[k] = v
		}
	}
	put("direction", act.Direction)
	put("crm_id", act.CRMID)
	put("mail_id", act.MailID)
	put("reason", act.Reason)
	put("request_ids", strings.Join(act.RequestIDs, ","))
	return a.W.Write(ctx, &audit.Record{Kind: audit.KindSync, Subject: act.User, Detail: d})
}

// Recorders fans out to several recorders (e.g. the audit log and a test).
type Recorders []Recorder

func (rs Recorders) Record(ctx context.Context, a Action) error {
	for _, r := range rs {
		if err := r.Record(ctx, a); err != nil {
			return err
		}
	}
	return nil
}
