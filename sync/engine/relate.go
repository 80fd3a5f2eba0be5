package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/gateway"
	"github.com/syncgate/syncgate/sync/model"
)

// relate relates the CRM event crmID, just created or updated from the
// mailbox event mailID with content out, to its attendees' contacts or
// lead (auto-relate). Nothing happens when the setting is off, the CRM
// connector cannot relate, or the event has no attendees (a placeholder
// never has). A refusal of the CRM for this event is recorded as
// unresolved; any other error stops the pass like a failed write.
func (p *pass) relate(ctx context.Context, crmID, mailID string, out *model.Item) error {
	if !p.j.Settings.AutoRelate || out == nil || out.Event == nil || len(out.Event.Attendees) == 0 || crmID == "" {
		return nil
	}
	rel, ok := p.j.CRM.(connector.Relater)
	if !ok {
		return nil
	}
	ictx, cancel := p.itemCtx(ctx)
	defer cancel()
	ictx, calls := gateway.WithCalls(ictx)
	n, lead, err := rel.Relate(ictx, p.scope, crmID, out.Event.Attendees)
	switch {
	case errors.Is(err, connector.ErrNotFound):
		return nil // deleted meanwhile: the next read tells
	case err != nil && itemLevel(err):
		return p.unresolved(ctx, nil, model.Mail, &model.Item{ID: mailID}, fmt.Sprintf("crm refused relating the event's attendees: %v", err), calls.IDs())
	case err != nil:
		return fmt.Errorf("relate attendees in crm: %w", err)
	case n == 0 && !lead:
		return nil
	}
	reason := fmt.Sprintf("related %d contacts", n)
	if n == 1 {
		reason = "related 1 contact"
	}
	if lead {
		reason = "related lead"
	}
	p.res.Related++
	return p.record(ctx, Action{Action: ActRelate, Direction: dirTo(model.CRM), CRMID: crmID, MailID: mailID, Reason: reason, RequestIDs: calls.IDs()})
}
