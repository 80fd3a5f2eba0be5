package google

import (
	"context"
	"errors"
	"fmt"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

// Changes reads everything changed since cursor ("" = a full listing of
// the contacts, or of the scope's window of the primary calendar).
func (c *Connector) Changes(ctx context.Context, s connector.Scope, cursor string) (*connector.Changes, error) {
	if err := checkScope(s, s.Kind); err != nil {
		return nil, err
	}
	switch s.Kind {
	case model.Contacts:
		return c.contactChanges(ctx, s, cursor)
	case model.Events:
		return c.eventChanges(ctx, s, cursor)
	}
	return nil, fmt.Errorf("google: unknown kind %q", s.Kind)
}

// Get reads one item; ErrNotFound when it no longer exists.
func (c *Connector) Get(ctx context.Context, s connector.Scope, id string) (*model.Item, error) {
	if err := checkScope(s, s.Kind); err != nil {
		return nil, err
	}
	switch s.Kind {
	case model.Contacts:
		return c.getContactItem(ctx, s, id)
	case model.Events:
		return c.getEventItem(ctx, s, id)
	}
	return nil, fmt.Errorf("google: unknown kind %q", s.Kind)
}

// FindByKey returns the item carrying key, or nil, nil.
func (c *Connector) FindByKey(ctx context.Context, s connector.Scope, key string) (*model.Item, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := checkScope(s, s.Kind); err != nil {
		return nil, err
	}
	switch s.Kind {
	case model.Contacts:
		return c.findContact(ctx, s, key)
	case model.Events:
		return c.findEvent(ctx, s, key)
	}
	return nil, fmt.Errorf("google: unknown kind %q", s.Kind)
}

// Create writes a new contact or single event carrying key (no attendees,
// no notification) and returns it as stored. Creating the same key again
// returns the first item.
func (c *Connector) Create(ctx context.Context, s connector.Scope, key string, it *model.Item) (*model.Item, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if it == nil {
		return nil, errors.New("google: create: nil item")
	}
	if err := checkScope(s, s.Kind); err != nil {
		return nil, err
	}
	switch s.Kind {
	case model.Contacts:
		return c.createContact(ctx, s, key, it)
	case model.Events:
		return c.createEvent(ctx, s, key, it)
	}
	return nil, fmt.Errorf("google: unknown kind %q", s.Kind)
}

// Update writes the synced fields of id that differ from it, if id's etag
// still is marker: ErrConflict when it moved, ErrNotFound when id is gone.
func (c *Connector) Update(ctx context.Context, s connector.Scope, id, marker string, it *model.Item) (*model.Item, error) {
	if it == nil {
		return nil, errors.New("google: update: nil item")
	}
	if marker == "" {
		return nil, errors.New("google: update without a marker")
	}
	if err := checkScope(s, s.Kind); err != nil {
		return nil, err
	}
	switch s.Kind {
	case model.Contacts:
		return c.updateContact(ctx, s, id, marker, it)
	case model.Events:
		return c.updateEvent(ctx, s, id, marker, it)
	}
	return nil, fmt.Errorf("google: unknown kind %q", s.Kind)
}

// Delete removes id (held to marker when it is not ""): ErrNotFound when
// it is already gone, ErrConflict when its etag moved.
func (c *Connector) Delete(ctx context.Context, s connector.Scope, id, marker string) error {
	if err := checkScope(s, s.Kind); err != nil {
		return err
	}
	switch s.Kind {
	case model.Contacts:
		return c.deleteContact(ctx, s, id, marker)
	case model.Events:
		return c.deleteEvent(ctx, s, id, marker)
	}
	return fmt.Errorf("google: unknown kind %q", s.Kind)
}
