package salesforce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

// Get reads one record by id with the sObject Rows resource.
func (c *Connector) Get(ctx context.Context, s connector.Scope, id string) (*model.Item, error) {
	ctx, obj, err := c.begin(ctx, s)
	if err != nil {
		return nil, err
	}
	it, err := c.get(ctx, obj, id, nil)
	if err != nil {
		return nil, err
	}
	return c.whole(ctx, s, it)
}

// whole reads a series record again with its occurrences (Options.Series).
func (c *Connector) whole(ctx context.Context, s connector.Scope, it *model.Item) (*model.Item, error) {
	if !c.series || it == nil || it.Event == nil || it.Event.Series != "master" {
		return it, nil
	}
	return c.seriesGet(ctx, s, it.ID)
}

// get reads id; known maps account ids to names the caller already has.
func (c *Connector) get(ctx context.Context, obj, id string, known map[string]string) (*model.Item, error) {
	op := "salesforce: get " + obj
	if !validID(id) {
		return nil, fmt.Errorf("%s: malformed id: %w", op, connector.ErrNotFound)
	}
	ref := c.api + "/sobjects/" + obj + "/" + id + "?" + url.Values{"fields": {strings.Join(c.fields(obj), ",")}}.Encode()
	rep, err := c.send(ctx, op, http.MethodGet, ref, nil, nil)
	if err != nil {
		return nil, err
	}
	if notFound(rep) {
		return nil, fmt.Errorf("%w: %w", connector.ErrNotFound, fail(op, rep))
	}
	if rep.status != http.StatusOK {
		return nil, fail(op, rep)
	}
	var r record
	if err := decode(op, rep, &r); err != nil {
		return nil, err
	}
	if r.IsDeleted {
		return nil, fmt.Errorf("%s: %w", op, connector.ErrNotFound)
	}
	return c.one(ctx, obj, &r, known)
}

// one maps a single record, reading its company name when it has one.
func (c *Connector) one(ctx context.Context, obj string, r *record, known map[string]string) (*model.Item, error) {
	var companies map[string]string
	if obj == "Contact" {
		var err error
		if companies, err = c.accountNames(ctx, []record{*r}, known); err != nil {
			return nil, err
		}
	}
	return toItem(obj, r, companies)
}

// FindByKey looks the idempotency key up with SOQL on the external id.
func (c *Connector) FindByKey(ctx context.Context, s connector.Scope, key string) (*model.Item, error) {
	ctx, obj, err := c.begin(ctx, s)
	if err != nil {
		return nil, err
	}
	if key == "" {
		return nil, nil
	}
	op := "salesforce: query " + obj
	recs, err := c.query(ctx, op, "SELECT "+strings.Join(c.fields(obj), ", ")+" FROM "+obj+" WHERE "+ExternalIDField+" = "+quote(key)+" LIMIT 2", false)
	if err != nil {
		return nil, err
	}
	switch len(recs) {
	case 0:
		return nil, nil
	case 1:
		it, err := c.one(ctx, obj, &recs[0], nil)
		if err != nil {
			return nil, err
		}
		return c.whole(ctx, s, it)
	}
	return nil, fmt.Errorf("%s: several records carry one idempotency key", op)
}

// body validates the item for obj and builds the write body; for contacts
// it resolves Company to an AccountId and returns that account's name.
func (c *Connector) body(ctx context.Context, obj string, it *model.Item) (map[string]any, map[string]string, error) {
	switch obj {
	case "Contact":
		if it == nil || it.Contact == nil {
			return nil, nil, fmt.Errorf("%w: not a contact", connector.ErrUnsupported)
		}
		b, err := contactBody(it.Contact)
		if err != nil {
			return nil, nil, err
		}
		acct, err := c.accountByName(ctx, it.Contact.Company)
		if err != nil {
			return nil, nil, err
		}
		known := map[string]string{}
		if acct != "" {
			b["AccountId"] = acct
			known[acct] = strings.TrimSpace(it.Contact.Company)
		}
		return b, known, nil
	case "Event":
		if it == nil || it.Event == nil {
			return nil, nil, fmt.Errorf("%w: not an event", connector.ErrUnsupported)
		}
		if c.series && it.Event.Series == "master" && it.Event.Recurrence != nil {
			b, err := seriesBody(it.Event)
			return b, nil, err
		}
		b, err := eventBody(it.Event)
		return b, nil, err
	}
	return nil, nil, errors.New("salesforce: unsupported object")
}

// Create upserts by the external id field carrying key: PATCH
// sobjects/{type}/Syncgate_Id__c/{key} creates the record, or updates the
// one an interrupted earlier attempt created, so a retry never duplicates.
// It then reads the record back.
func (c *Connector) Create(ctx context.Context, s connector.Scope, key string, it *model.Item) (*model.Item, error) {
	ctx, obj, err := c.begin(ctx, s)
	if err != nil {
		return nil, err
	}
	if !validKey(key) {
		return nil, errors.New("salesforce: idempotency key must be 1-255 letters, digits, '-', '_' or '.'")
	}
	b, known, err := c.body(ctx, obj, it)
	if err != nil {
		return nil, err
	}
	op := "salesforce: upsert " + obj
	rep, err := c.send(ctx, op, http.MethodPatch, c.api+"/sobjects/"+obj+"/"+ExternalIDField+"/"+key, b, nil)
	if err != nil {
		return nil, err
	}
	var id string
	switch rep.status {
	case http.StatusOK, http.StatusCreated:
		var res struct {
			ID string `json:"id"`
		}
		if err := decode(op, rep, &res); err != nil {
			return nil, err
		}
		id = res.ID
	case http.StatusNoContent: // API versions before 46.0 answer an update so
		found, err := c.FindByKey(ctx, s, key)
		if err != nil {
			return nil, err
		}
		if found == nil {
			return nil, fmt.Errorf("%s: record not found after upsert", op)
		}
		id = found.ID
	default:
		return nil, writeFail(op, rep)
	}
	if !validID(id) {
		return nil, fmt.Errorf("%s: answer has no valid id", op)
	}
	if c.series && it.Event != nil && it.Event.Recurrence != nil {
		if err := c.writeExceptions(ctx, s, id, it.Event); err != nil {
			return nil, err
		}
		return c.seriesGet(ctx, s, id)
	}
	return c.get(ctx, obj, id, known)
}

// Update checks the marker, patches the synced fields and reads back.
// The check and the write are two calls: a change in between is not
// detected (the REST API's conditional headers work on whole seconds of
// LastModifiedDate, too coarse for a marker).
func (c *Connector) Update(ctx context.Context, s connector.Scope, id, marker string, it *model.Item) (*model.Item, error) {
	ctx, obj, err := c.begin(ctx, s)
	if err != nil {
		return nil, err
	}
	b, known, err := c.body(ctx, obj, it)
	if err != nil {
		return nil, err
	}
	if err := c.checkMarker(ctx, obj, id, marker); err != nil {
		return nil, err
	}
	op := "salesforce: update " + obj
	rep, err := c.send(ctx, op, http.MethodPatch, c.api+"/sobjects/"+obj+"/"+id, b, nil)
	if err != nil {
		return nil, err
	}
	if notFound(rep) {
		return nil, fmt.Errorf("%w: %w", connector.ErrNotFound, fail(op, rep))
	}
	if rep.status != http.StatusNoContent && rep.status != http.StatusOK {
		return nil, writeFail(op, rep)
	}
	if c.series && it.Event != nil && it.Event.Recurrence != nil {
		if err := c.writeExceptions(ctx, s, id, it.Event); err != nil {
			return nil, err
		}
		return c.seriesGet(ctx, s, id)
	}
	return c.get(ctx, obj, id, known)
}

// checkMarker reads SystemModstamp: ErrNotFound when the record is gone,
// ErrConflict when it moved.
func (c *Connector) checkMarker(ctx context.Context, obj, id, marker string) error {
	op := "salesforce: get " + obj
	if !validID(id) {
		return fmt.Errorf("%s: malformed id: %w", op, connector.ErrNotFound)
	}
	rep, err := c.send(ctx, op, http.MethodGet, c.api+"/sobjects/"+obj+"/"+id+"?fields=Id,SystemModstamp", nil, nil)
	if err != nil {
		return err
	}
	if notFound(rep) {
		return fmt.Errorf("%w: %w", connector.ErrNotFound, fail(op, rep))
	}
	if rep.status != http.StatusOK {
		return fail(op, rep)
	}
	var r record
	if err := decode(op, rep, &r); err != nil {
		return err
	}
	if !sameStamp(r.SystemModstamp, marker) {
		return fmt.Errorf("salesforce: %s %s: %w", obj, id, connector.ErrConflict)
	}
	return nil
}

func sameStamp(a, b string) bool {
	ta, ok1 := parseTime(a)
	tb, ok2 := parseTime(b)
	if ok1 && ok2 {
		return ta.Equal(tb)
	}
	return a == b
}

// Delete removes id (to the Recycle Bin). With a marker, a record changed
// since it was read is not deleted (ErrConflict): the change wins.
func (c *Connector) Delete(ctx context.Context, s connector.Scope, id, marker string) error {
	ctx, obj, err := c.begin(ctx, s)
	if err != nil {
		return err
	}
	if marker != "" {
		if err := c.checkMarker(ctx, obj, id, marker); err != nil {
			return err
		}
	} else if !validID(id) {
		return fmt.Errorf("salesforce: delete %s: malformed id: %w", obj, connector.ErrNotFound)
	}
	op := "salesforce: delete " + obj
	rep, err := c.send(ctx, op, http.MethodDelete, c.api+"/sobjects/"+obj+"/"+id, nil, nil)
	if err != nil {
		return err
	}
	if notFound(rep) {
		return fmt.Errorf("%w: %w", connector.ErrNotFound, fail(op, rep))
	}
	if rep.status != http.StatusNoContent && rep.status != http.StatusOK {
		return fail(op, rep)
	}
	return nil
}
