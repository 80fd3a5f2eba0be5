package salesforce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

var _ connector.Relater = (*Connector)(nil)

// Salesforce's limits on the people an event is related to with Shared
// Activities: up to 50 contacts or one lead (EventRelation and
// EventWhoRelation reference).
const (
	MaxRelatedContacts = 50
	// relateChunk bounds the addresses in one SOQL IN list (the query
	// travels in the URL).
	relateChunk = 100
)

// Key prefixes of the record ids a relation can name.
const (
	contactPrefix = "003"
	leadPrefix    = "00Q"
)

// Relate relates the event to the contacts whose Email is one of emails,
// as Lightning Sync does with Shared Activities: one EventRelation per
// contact with IsParent true (related, not invited: IsInvitee false, so
// nobody is invited), up to 50 contacts, and WhoId (the primary contact)
// set to the first of them when the event has none. When no contact
// matches, at most one lead that is not converted is related the same way.
// Addresses that match nothing are left alone; nothing is ever created.
//
// It is idempotent: the event's existing relations are read first; a
// person already related is not related again (a row that only invites
// them gets IsParent set instead of a second row), a WhoId someone set is
// kept, and an event already related to a lead gets no contacts (and one
// with contacts no lead): Salesforce allows contacts or one lead, not both.
//
// SOQL's = and IN on text ignore case, so the addresses match whatever
// case the CRM stores them in.
func (c *Connector) Relate(ctx context.Context, s connector.Scope, eventID string, emails []string) (int, bool, error) {
	if s.Kind != model.Events {
		return 0, false, errors.New("salesforce: relate: events only")
	}
	ctx, _, err := c.begin(ctx, s)
	if err != nil {
		return 0, false, err
	}
	if !validID(eventID) {
		return 0, false, fmt.Errorf("salesforce: relate: malformed event id: %w", connector.ErrNotFound)
	}
	emails = model.AttendeeList(s.User, emails)
	if len(emails) == 0 {
		return 0, false, nil
	}
	// Existing relations and the event's WhoId.
	rels, err := c.query(ctx, "salesforce: query EventRelation",
		"SELECT Id, RelationId, IsParent FROM EventRelation WHERE EventId = "+quote(eventID), false)
	if err != nil {
		return 0, false, err
	}
	evs, err := c.query(ctx, "salesforce: query Event", "SELECT Id, WhoId FROM Event WHERE Id = "+quote(eventID), false)
	if err != nil {
		return 0, false, err
	}
	if len(evs) != 1 {
		return 0, false, fmt.Errorf("salesforce: relate: event %s: %w", eventID, connector.ErrNotFound)
	}
	whoID := evs[0].WhoID
	existing := map[string]record{} // 15-character body of RelationId → row
	parentContacts, parentLead := 0, false
	for _, r := range rels {
		existing[id15(r.RelationID)] = r
		if r.IsParent {
			switch {
			case strings.HasPrefix(r.RelationID, contactPrefix):
				parentContacts++
			case strings.HasPrefix(r.RelationID, leadPrefix):
				parentLead = true
			}
		}
	}

	contacts, err := c.peopleByEmail(ctx, "Contact", emails, "")
	if err != nil {
		return 0, false, err
	}
	if len(contacts) > 0 {
		if parentLead {
			return 0, false, nil // related to a lead already: no contacts beside it
		}
		n, first := 0, ""
		for _, ct := range contacts {
			row, ok := existing[id15(ct.ID)]
			if ok && row.IsParent {
				n++
				if first == "" {
					first = ct.ID
				}
				continue
			}
			if parentContacts >= MaxRelatedContacts {
				continue // Salesforce's limit: the rest stay unrelated
			}
			if err := c.relateOne(ctx, eventID, ct.ID, row, ok); err != nil {
				return n, false, err
			}
			parentContacts++
			n++
			if first == "" {
				first = ct.ID
			}
		}
		if whoID == "" && first != "" {
			if err := c.setWho(ctx, eventID, first); err != nil {
				return n, false, err
			}
		}
		return n, false, nil
	}

	if parentContacts > 0 {
		return 0, false, nil // related to contacts already: no lead beside them
	}
	leads, err := c.peopleByEmail(ctx, "Lead", emails, " AND IsConverted = false")
	if err != nil {
		return 0, false, err
	}
	if len(leads) == 0 {
		return 0, false, nil
	}
	if parentLead {
		// One lead at most: the one already related stays, whichever it is.
		row, ok := existing[id15(leads[0].ID)]
		return 0, ok && row.IsParent, nil
	}
	lead := leads[0].ID
	row, ok := existing[id15(lead)]
	if err := c.relateOne(ctx, eventID, lead, row, ok); err != nil {
		return 0, false, err
	}
	if whoID == "" {
		if err := c.setWho(ctx, eventID, lead); err != nil {
			return 0, true, err
		}
	}
	return 0, true, nil
}

// peopleByEmail returns the obj records (Contact or Lead) whose Email is
// one of emails, in the order of emails (sorted) and then of their ids, so
// that "the first" is the same on every run.
func (c *Connector) peopleByEmail(ctx context.Context, obj string, emails []string, extra string) ([]record, error) {
	var out []record
	for rest := emails; len(rest) > 0; {
		n := min(len(rest), relateChunk)
		chunk := rest[:n]
		rest = rest[n:]
		lits := make([]string, len(chunk))
		for i, e := range chunk {
			lits[i] = quote(e)
		}
		recs, err := c.query(ctx, "salesforce: query "+obj,
			"SELECT Id, Email FROM "+obj+" WHERE Email IN ("+strings.Join(lits, ", ")+")"+extra+" ORDER BY Id", false)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if validID(r.ID) && !r.IsDeleted {
				out = append(out, r)
			}
		}
	}
	rank := map[string]int{}
	for i, e := range emails {
		rank[e] = i
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := rank[strings.ToLower(strings.TrimSpace(out[i].Email))], rank[strings.ToLower(strings.TrimSpace(out[j].Email))]
		if a != b {
			return a < b
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// relateOne makes who a related person (IsParent) of the event: a new
// EventRelation row, or IsParent on the row that already names them (an
// invitee). IsInvitee is never set: relating invites nobody.
func (c *Connector) relateOne(ctx context.Context, eventID, who string, row record, exists bool) error {
	if exists {
		const op = "salesforce: update EventRelation"
		if !validID(row.ID) {
			return fmt.Errorf("%s: existing relation without a valid id", op)
		}
		rep, err := c.send(ctx, op, http.MethodPatch, c.api+"/sobjects/EventRelation/"+row.ID, map[string]any{"IsParent": true}, nil)
		if err != nil {
			return err
		}
		if rep.status != http.StatusNoContent && rep.status != http.StatusOK {
			return writeFail(op, rep)
		}
		return nil
	}
	const op = "salesforce: create EventRelation"
	rep, err := c.send(ctx, op, http.MethodPost, c.api+"/sobjects/EventRelation",
		map[string]any{"EventId": eventID, "RelationId": who, "IsParent": true, "IsInvitee": false}, nil)
	if err != nil {
		return err
	}
	if rep.status != http.StatusCreated && rep.status != http.StatusOK {
		return writeFail(op, rep)
	}
	return nil
}

// setWho sets the event's primary person (WhoId).
func (c *Connector) setWho(ctx context.Context, eventID, who string) error {
	const op = "salesforce: update Event"
	rep, err := c.send(ctx, op, http.MethodPatch, c.api+"/sobjects/Event/"+eventID, map[string]any{"WhoId": who}, nil)
	if err != nil {
		return err
	}
	if notFound(rep) {
		return fmt.Errorf("%w: %w", connector.ErrNotFound, fail(op, rep))
	}
	if rep.status != http.StatusNoContent && rep.status != http.StatusOK {
		return writeFail(op, rep)
	}
	return nil
}

// id15 is the case-sensitive 15-character body of an id, so that a 15-
// and an 18-character reference to one record compare equal.
func id15(id string) string {
	if len(id) == 18 {
		return id[:15]
	}
	return id
}
