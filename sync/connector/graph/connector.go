package graph

import (
	"context"
	"errors"
	"fmt"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

// Get reads one item; ErrNotFound when it no longer exists.
func (c *Connector) Get(ctx context.Context, s connector.Scope, id string) (*model.Item, error) {
	switch s.Kind {
	case model.Contacts:
		if err := checkScope(s, model.Contacts); err != nil {
			return nil, err
		}
		return c.getContactItem(ctx, s, id)
	case model.Events:
		if err := checkScope(s, model.Events); err != nil {
			return nil, err
		}
		return c.getEventItem(ctx, s, id)
	}
	return nil, fmt.Errorf("graph: unknown kind %q", s.Kind)
}

// FindByKey returns the item whose key extended property equals key (in
// the default contacts folder or among the calendar's events), or nil.
func (c *Connector) FindByKey(ctx context.Context, s connector.Scope, key string) (*model.Item, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	switch s.Kind {
	case model.Contacts:
		if err := checkScope(s, model.Contacts); err != nil {
			return nil, err
		}
		return c.findContact(ctx, s, key)
	case model.Events:
		if err := checkScope(s, model.Events); err != nil {
			return nil, err
		}
		return c.findEvent(ctx, s, key)
	}
	return nil, fmt.Errorf("graph: unknown kind %q", s.Kind)
}

// Create writes a new contact (default folder) or single event (default
// calendar, no attendees) carrying key and returns it as stored.
func (c *Connector) Create(ctx context.Context, s connector.Scope, key string, it *model.Item) (*model.Item, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if it == nil {
		return nil, errors.New("graph: create: nil item")
	}
	switch s.Kind {
	case model.Contacts:
		if err := checkScope(s, model.Contacts); err != nil {
			return nil, err
		}
		return c.createContact(ctx, s, key, it)
	case model.Events:
		if err := checkScope(s, model.Events); err != nil {
			return nil, err
		}
		return c.createEvent(ctx, s, key, it)
	}
	return nil, fmt.Errorf("graph: unknown kind %q", s.Kind)
}

// Update writes the synced fields of id that differ from it, with If-Match
// marker: ErrConflict when the marker moved, ErrNotFound when id is gone.
func (c *Connector) Update(ctx context.Context, s connector.Scope, id, marker string, it *model.Item) (*model.Item, error) {
	if it == nil {
		return nil, errors.New("graph: update: nil item")
	}
	if marker == "" {
		return nil, errors.New("graph: update without a marker")
	}
	switch s.Kind {
	case model.Contacts:
		if err := checkScope(s, model.Contacts); err != nil {
			return nil, err
		}
		return c.updateContact(ctx, s, id, marker, it)
	case model.Events:
		if err := checkScope(s, model.Events); err != nil {
			return nil, err
		}
		return c.updateEvent(ctx, s, id, marker, it)
	}
	return nil, fmt.Errorf("graph: unknown kind %q", s.Kind)
}

// Delete removes id, with If-Match marker when marker is not "":
// ErrNotFound when it is already gone, ErrConflict when the marker moved.
func (c *Connector) Delete(ctx context.Context, s connector.Scope, id, marker string) error {
	if id == "" {
		return errors.New("graph: delete: empty id")
	}
	switch s.Kind {
	case model.Contacts:
		if err := checkScope(s, model.Contacts); err != nil {
			return err
		}
		return c.deleteContact(ctx, s, id, marker)
	case model.Events:
		if err := checkScope(s, model.Events); err != nil {
			return err
		}
		return c.deleteEvent(ctx, s, id, marker)
	}
	return fmt.Errorf("graph: unknown kind %q", s.Kind)
}
