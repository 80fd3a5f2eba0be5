package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

// gContact is the part of Graph's contact resource syncgate reads.
type gContact struct {
	ID              string    `json:"id"`
	ETag            string    `json:"@odata.etag"`
	ChangeKey       string    `json:"changeKey"`
	GivenName       string    `json:"givenName"`
	Surname         string    `json:"surname"`
	CompanyName     string    `json:"companyName"`
	JobTitle        string    `json:"jobTitle"`
	Department      string    `json:"department"`
	MobilePhone     string    `json:"mobilePhone"`
	PersonalNotes   string    `json:"personalNotes"`
	EmailAddresses  []gEmail  `json:"emailAddresses"`
	BusinessPhones  []string  `json:"businessPhones"`
	BusinessAddress *gAddress `json:"businessAddress"`
	Ext             []extProp `json:"singleValueExtendedProperties"`
}

type gEmail struct {
	Name    string `json:"name,omitempty"`
	Address string `json:"address"`
}

type gAddress struct {
	Street          string `json:"street"`
	City            string `json:"city"`
	State           string `json:"state"`
	PostalCode      string `json:"postalCode"`
	CountryOrRegion string `json:"countryOrRegion"`
}

// sameMarker compares markers by the change key they carry, so W/"ck",
// "ck" and ck are one marker.
func sameMarker(a, b string) bool {
	strip := func(m string) string { return strings.Trim(strings.TrimPrefix(strings.TrimSpace(m), "W/"), `"`) }
	return strip(a) == strip(b)
}

// marker is the item's @odata.etag (what If-Match takes), or one made from
// the change key when the etag is missing.
func marker(etag, changeKey string) string {
	if etag != "" {
		return etag
	}
	if changeKey != "" {
		return `W/"` + changeKey + `"`
	}
	return ""
}

func (g *gContact) contact() model.Contact {
	c := model.Contact{
		FirstName:   g.GivenName,
		LastName:    g.Surname,
		Company:     g.CompanyName,
		Title:       g.JobTitle,
		Department:  g.Department,
		MobilePhone: g.MobilePhone,
		Notes:       g.PersonalNotes,
	}
	if len(g.EmailAddresses) > 0 {
		c.Email = g.EmailAddresses[0].Address
	}
	if len(g.BusinessPhones) > 0 {
		c.Phone = g.BusinessPhones[0]
	}
	if a := g.BusinessAddress; a != nil {
		c.Street, c.City, c.State, c.PostalCode, c.Country = a.Street, a.City, a.State, a.PostalCode, a.CountryOrRegion
	}
	return c.Normalize()
}

func (g *gContact) item() *model.Item {
	c := g.contact()
	return &model.Item{ID: g.ID, Marker: marker(g.ETag, g.ChangeKey), Key: keyOf(g.Ext), Contact: &c}
}

// nullable writes "" as null, which clears a Graph string property.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// contactPatch is the body that makes the synced fields of cur equal to c,
// naming only the fields that differ (for a create, cur is nil: the
// non-empty fields). Only the first e-mail address and the first business phone are
// synced: the others, home phones and every unsynced property are left
// as they are.
func contactPatch(c model.Contact, cur *gContact) map[string]any {
	c = c.Normalize()
	var was model.Contact
	if cur != nil {
		was = cur.contact()
	}
	m := map[string]any{}
	set := func(name string, v, old string) {
		switch {
		case cur == nil && v != "":
			m[name] = v
		case cur != nil && v != old:
			m[name] = nullable(v)
		}
	}
	set("givenName", c.FirstName, was.FirstName)
	set("surname", c.LastName, was.LastName)
	set("companyName", c.Company, was.Company)
	set("jobTitle", c.Title, was.Title)
	set("department", c.Department, was.Department)
	set("mobilePhone", c.MobilePhone, was.MobilePhone)
	set("personalNotes", c.Notes, was.Notes)
	var emails []gEmail
	var phones []string
	if cur != nil {
		emails, phones = cur.EmailAddresses, cur.BusinessPhones
	}
	if c.Email != was.Email {
		m["emailAddresses"] = replaceFirstEmail(emails, c.Email)
	}
	if c.Phone != was.Phone {
		m["businessPhones"] = replaceFirst(phones, c.Phone)
	}
	if c.Street != was.Street || c.City != was.City || c.State != was.State || c.PostalCode != was.PostalCode || c.Country != was.Country {
		m["businessAddress"] = gAddress{Street: c.Street, City: c.City, State: c.State, PostalCode: c.PostalCode, CountryOrRegion: c.Country}
	}
	return m
}

// replaceFirstEmail puts addr first and keeps the rest; "" removes the
// first entry. An unchanged first address keeps its display name.
func replaceFirstEmail(list []gEmail, addr string) []gEmail {
	var rest []gEmail
	if len(list) > 0 {
		rest = list[1:]
	}
	out := make([]gEmail, 0, len(list)+1)
	if addr != "" {
		first := gEmail{Name: addr, Address: addr}
		if len(list) > 0 && strings.EqualFold(strings.TrimSpace(list[0].Address), addr) {
			first = list[0]
		}
		out = append(out, first)
	}
	return append(out, rest...)
}

func replaceFirst(list []string, v string) []string {
	var rest []string
	if len(list) > 0 {
		rest = list[1:]
	}
	out := make([]string, 0, len(list)+1)
	if v != "" {
		out = append(out, v)
	}
	return append(out, rest...)
}

func decodeContact(op string, b []byte) (*gContact, error) {
	var g gContact
	if err := json.Unmarshal(b, &g); err != nil || g.ID == "" {
		return nil, fmt.Errorf("%s: malformed contact", op)
	}
	return &g, nil
}

// getContact reads a contact with its key property.
func (c *Connector) getContact(ctx context.Context, s connector.Scope, id string) (*gContact, error) {
	const op = "graph get contact"
	if id == "" {
		return nil, errors.New(op + ": empty id")
	}
	resp, err := c.do(ctx, s, request{op: op, method: http.MethodGet, url: withQuery(c.userURL(s, "contacts", id), "$expand", expandKey)})
	if err != nil {
		return nil, err
	}
	return decodeContact(op, resp.body)
}

func (c *Connector) getContactItem(ctx context.Context, s connector.Scope, id string) (*model.Item, error) {
	g, err := c.getContact(ctx, s, id)
	if err != nil {
		return nil, err
	}
	return g.item(), nil
}

func (c *Connector) findContact(ctx context.Context, s connector.Scope, key string) (*model.Item, error) {
	raws, err := c.list(ctx, s, "graph find contact by key",
		withQuery(c.userURL(s, "contacts"), "$filter", keyFilter(key), "$expand", expandKey), false)
	if err != nil {
		return nil, err
	}
	if len(raws) == 0 {
		return nil, nil
	}
	g, err := decodeContact("graph find contact by key", raws[0])
	if err != nil {
		return nil, err
	}
	it := g.item()
	it.Key = key
	return it, nil
}

func (c *Connector) createContact(ctx context.Context, s connector.Scope, key string, it *model.Item) (*model.Item, error) {
	const op = "graph create contact"
	if it.Contact == nil {
		return nil, errors.New(op + ": item is not a contact")
	}
	body := contactPatch(*it.Contact, nil)
	body["singleValueExtendedProperties"] = []extProp{{ID: KeyPropertyID, Value: key}}
	resp, err := c.do(ctx, s, request{op: op, method: http.MethodPost, url: c.userURL(s, "contacts"), body: body})
	if err != nil {
		return nil, err
	}
	g, err := decodeContact(op, resp.body)
	if err != nil {
		return nil, err
	}
	out := g.item()
	out.Key = key // Graph does not return extended properties from a create
	return out, nil
}

func (c *Connector) updateContact(ctx context.Context, s connector.Scope, id, mark string, it *model.Item) (*model.Item, error) {
	const op = "graph update contact"
	if it.Contact == nil {
		return nil, errors.New(op + ": item is not a contact")
	}
	// The current list of addresses and phones is needed to replace only
	// their first entries; reading it also catches a moved marker early.
	cur, err := c.getContact(ctx, s, id)
	if err != nil {
		return nil, err
	}
	if !sameMarker(marker(cur.ETag, cur.ChangeKey), mark) {
		return nil, fmt.Errorf("%w: %s: marker moved", connector.ErrConflict, op)
	}
	body := contactPatch(*it.Contact, cur)
	if len(body) == 0 {
		return cur.item(), nil // already as wanted: nothing to write
	}
	resp, err := c.do(ctx, s, request{op: op, method: http.MethodPatch, url: c.userURL(s, "contacts", id), body: body, ifMatch: mark})
	if err != nil {
		return nil, err
	}
	g, err := decodeContact(op, resp.body)
	if err != nil {
		return nil, err
	}
	out := g.item()
	out.Key = keyOf(cur.Ext)
	return out, nil
}

func (c *Connector) deleteContact(ctx context.Context, s connector.Scope, id, mark string) error {
	_, err := c.do(ctx, s, request{op: "graph delete contact", method: http.MethodDelete, url: c.userURL(s, "contacts", id), ifMatch: mark})
	return err
}
