package google

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/api/people/v1"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

// personFields is the read mask of every People call: the synced fields,
// clientData (the key) and metadata (deletions, update time).
const personFields = "names,emailAddresses,organizations,phoneNumbers,addresses,biographies,clientData,metadata"

// contactsShape binds a People sync token to the read mask it was
// obtained with: a token does not resend unchanged contacts, so a wider
// mask needs a full listing.
var contactsShape = shapeTag("contacts", personFields)

// maxPeoplePage is connections.list's largest pageSize.
const maxPeoplePage = 1000

// checkResourceName accepts "people/<id>" only: the client library expands
// the resource name into the path unescaped ({+resourceName}), and
// people/me is the user's own profile, not a contact.
func checkResourceName(rn string) error {
	id, ok := strings.CutPrefix(rn, "people/")
	if !ok || id == "" || id == "me" || len(id) > 256 {
		return errors.New("google: contact id must be people/<id>")
	}
	for _, ch := range id {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '-') {
			return errors.New("google: malformed contact id")
		}
	}
	return nil
}

// listConnections reads every page of people/me/connections: with
// syncToken, the changes since it; with requestSync, ending in a
// nextSyncToken. A failure on any page fails the listing.
func (c *Connector) listConnections(ctx context.Context, s connector.Scope, op, fields, syncToken string, requestSync bool, pageSize int) ([]*people.Person, string, error) {
	rctx := ctxFor(ctx, s)
	var all []*people.Person
	pageTok := ""
	for page := 0; ; page++ {
		if page >= c.maxPages {
			return nil, "", fmt.Errorf("%s: more than %d pages", op, c.maxPages)
		}
		call := c.ppl.People.Connections.List("people/me").Context(rctx).PersonFields(fields).PageSize(int64(pageSize))
		if requestSync {
			call = call.RequestSyncToken(true)
		}
		if syncToken != "" {
			call = call.SyncToken(syncToken)
		}
		if pageTok != "" {
			call = call.PageToken(pageTok)
		}
		res, err := call.Do()
		if err != nil {
			return nil, "", mapErr(op, rctx, err, listClass(syncToken))
		}
		all = append(all, res.Connections...)
		if res.NextPageToken == "" {
			return all, res.NextSyncToken, nil
		}
		if res.NextPageToken == pageTok {
			return nil, "", fmt.Errorf("%s: the same page token twice", op)
		}
		pageTok = res.NextPageToken
	}
}

func (c *Connector) contactChanges(ctx context.Context, s connector.Scope, cur string) (*connector.Changes, error) {
	token := ""
	if cur != "" {
		cu, err := parseCursor(cur, s)
		if err != nil {
			return nil, resyncCursor(err)
		}
		if cu.fits(s, contactsShape) {
			token = cu.token
		}
	}
	const op = "google list contacts"
	all, next, err := c.listConnections(ctx, s, op, personFields, token, true, min(c.pageSize, maxPeoplePage))
	if err != nil {
		return nil, err
	}
	ch := &connector.Changes{Full: token == "", Cursor: makeCursor(next, contactsShape, s)}
	byKey := map[string]string{}
	for _, p := range lastByID(all, func(p *people.Person) string { return p.ResourceName }) {
		if p.Metadata != nil && p.Metadata.Deleted {
			ch.Deleted = append(ch.Deleted, p.ResourceName)
			if token != "" {
				c.indexUpdate(s.User, p.ResourceName, "")
			}
			continue
		}
		it := contactItem(p)
		ch.Items = append(ch.Items, it)
		if token != "" {
			c.indexUpdate(s.User, p.ResourceName, it.Key)
		} else if it.Key != "" {
			byKey[it.Key] = p.ResourceName
		}
	}
	if token == "" {
		c.indexReplace(s.User, byKey)
	}
	return ch, nil
}

// ---- mapping ----

// contactItem maps a person to the model: names[0], emailAddresses[0],
// organizations[0], the first phone of type work and of type mobile, the
// work address (else the first), biographies[0].
func contactItem(p *people.Person) *model.Item {
	ct := &model.Contact{}
	if len(p.Names) > 0 && p.Names[0] != nil {
		ct.FirstName, ct.LastName = p.Names[0].GivenName, p.Names[0].FamilyName
	}
	if len(p.EmailAddresses) > 0 && p.EmailAddresses[0] != nil {
		ct.Email = p.EmailAddresses[0].Value
	}
	if len(p.Organizations) > 0 && p.Organizations[0] != nil {
		o := p.Organizations[0]
		ct.Company, ct.Title, ct.Department = o.Name, o.Title, o.Department
	}
	if i := phoneIndex(p.PhoneNumbers, "work"); i >= 0 {
		ct.Phone = p.PhoneNumbers[i].Value
	}
	if i := phoneIndex(p.PhoneNumbers, "mobile"); i >= 0 {
		ct.MobilePhone = p.PhoneNumbers[i].Value
	}
	if i := addressIndex(p.Addresses); i >= 0 {
		a := p.Addresses[i]
		ct.Street, ct.City, ct.State, ct.PostalCode, ct.Country = a.StreetAddress, a.City, a.Region, a.PostalCode, a.Country
	}
	if len(p.Biographies) > 0 && p.Biographies[0] != nil {
		ct.Notes = p.Biographies[0].Value
	}
	it := &model.Item{ID: p.ResourceName, Marker: p.Etag, Key: contactKey(p), Contact: ct}
	if p.Metadata != nil {
		for _, src := range p.Metadata.Sources {
			if src != nil && src.Type == "CONTACT" {
				if t, err := time.Parse(time.RFC3339Nano, src.UpdateTime); err == nil {
					it.Modified = t.UTC()
				}
				break
			}
		}
	}
	return it
}

func contactKey(p *people.Person) string {
	for _, d := range p.ClientData {
		if d != nil && d.Key == KeyProperty {
			return d.Value
		}
	}
	return ""
}

func phoneIndex(ps []*people.PhoneNumber, typ string) int {
	for i, p := range ps {
		if p != nil && strings.EqualFold(strings.TrimSpace(p.Type), typ) {
			return i
		}
	}
	return -1
}

func addressIndex(as []*people.Address) int {
	for i, a := range as {
		if a != nil && strings.EqualFold(strings.TrimSpace(a.Type), "work") {
			return i
		}
	}
	if len(as) > 0 && as[0] != nil {
		return 0
	}
	return -1
}

// ---- reading one ----

func (c *Connector) getPerson(ctx context.Context, s connector.Scope, rn string) (*people.Person, error) {
	if err := checkResourceName(rn); err != nil {
		return nil, err
	}
	rctx := ctxFor(ctx, s)
	p, err := c.ppl.People.Get(rn).PersonFields(personFields).Context(rctx).Do()
	if err != nil {
		return nil, mapErr("google get contact", rctx, err, classItem)
	}
	if p.Metadata != nil && p.Metadata.Deleted {
		return nil, fmt.Errorf("google get contact: deleted: %w", connector.ErrNotFound)
	}
	return p, nil
}

func (c *Connector) getContactItem(ctx context.Context, s connector.Scope, rn string) (*model.Item, error) {
	p, err := c.getPerson(ctx, s, rn)
	if err != nil {
		return nil, err
	}
	return contactItem(p), nil
}

// findContact lists the user's contacts and returns the one carrying key
// (People cannot filter on clientData). The listing also refreshes the
// user's key index.
func (c *Connector) findContact(ctx context.Context, s connector.Scope, key string) (*model.Item, error) {
	all, _, err := c.listConnections(ctx, s, "google find contact", personFields, "", false, maxPeoplePage)
	if err != nil {
		return nil, err
	}
	byKey := map[string]string{}
	var found *model.Item
	for _, p := range all {
		k := contactKey(p)
		if k == "" {
			continue
		}
		byKey[k] = p.ResourceName
		if k == key && found == nil {
			found = contactItem(p)
		}
	}
	c.indexReplace(s.User, byKey)
	return found, nil
}

// ---- writing ----

// personFromModel is the contact as written on create.
func personFromModel(ct *model.Contact) *people.Person {
	p := &people.Person{}
	apply(p, &model.Contact{}, ct)
	return p
}

// apply sets on p (a copy of the stored person, or an empty one) the
// synced fields of want that differ from have, and returns the names of
// the People fields it changed (the updatePersonFields mask). Entries the
// model does not map (other emails, phones, addresses, organisations) are
// kept as they are.
func apply(p *people.Person, have, want *model.Contact) []string {
	h, w := have.Normalize(), want.Normalize()
	var fields []string
	if h.FirstName != w.FirstName || h.LastName != w.LastName {
		var n people.Name
		if len(p.Names) > 0 && p.Names[0] != nil {
			n = *p.Names[0]
		}
		// The display forms are derived from the parts; sent stale they
		// could win over the new parts.
		n.GivenName, n.FamilyName = w.FirstName, w.LastName
		n.DisplayName, n.DisplayNameLastFirst, n.UnstructuredName, n.Metadata = "", "", "", nil
		p.Names = nil
		if n.GivenName != "" || n.FamilyName != "" || n.MiddleName != "" || n.HonorificPrefix != "" || n.HonorificSuffix != "" {
			p.Names = []*people.Name{&n}
		}
		fields = append(fields, "names")
	}
	if h.Email != w.Email {
		list := append([]*people.EmailAddress(nil), p.EmailAddresses...)
		switch {
		case w.Email == "" && len(list) > 0:
			list = list[1:]
		case len(list) > 0:
			e := *list[0]
			e.Value = strings.TrimSpace(want.Email)
			list[0] = &e
		case w.Email != "":
			list = []*people.EmailAddress{{Value: strings.TrimSpace(want.Email), Type: "work"}}
		}
		p.EmailAddresses = list
		fields = append(fields, "emailAddresses")
	}
	if h.Company != w.Company || h.Title != w.Title || h.Department != w.Department {
		list := append([]*people.Organization(nil), p.Organizations...)
		empty := w.Company == "" && w.Title == "" && w.Department == ""
		switch {
		case empty && len(list) > 0:
			list = list[1:]
		case len(list) > 0:
			o := *list[0]
			o.Name, o.Title, o.Department = w.Company, w.Title, w.Department
			list[0] = &o
		case !empty:
			list = []*people.Organization{{Name: w.Company, Title: w.Title, Department: w.Department}}
		}
		p.Organizations = list
		fields = append(fields, "organizations")
	}
	phonesChanged := false
	for _, ph := range []struct {
		typ        string
		have, want string
	}{{"work", h.Phone, w.Phone}, {"mobile", h.MobilePhone, w.MobilePhone}} {
		if ph.have == ph.want {
			continue
		}
		list := append([]*people.PhoneNumber(nil), p.PhoneNumbers...)
		i := phoneIndex(list, ph.typ)
		switch {
		case ph.want == "" && i >= 0:
			list = append(list[:i:i], list[i+1:]...)
		case i >= 0:
			n := *list[i]
			n.Value, n.CanonicalForm = ph.want, ""
			list[i] = &n
		case ph.want != "":
			list = append(list, &people.PhoneNumber{Value: ph.want, Type: ph.typ})
		}
		p.PhoneNumbers = list
		phonesChanged = true
	}
	if phonesChanged {
		fields = append(fields, "phoneNumbers")
	}
	if h.Street != w.Street || h.City != w.City || h.State != w.State || h.PostalCode != w.PostalCode || h.Country != w.Country {
		list := append([]*people.Address(nil), p.Addresses...)
		i := addressIndex(list)
		empty := w.Street == "" && w.City == "" && w.State == "" && w.PostalCode == "" && w.Country == ""
		switch {
		case empty && i >= 0:
			list = append(list[:i:i], list[i+1:]...)
		case i >= 0:
			a := *list[i]
			a.StreetAddress, a.City, a.Region, a.PostalCode, a.Country = w.Street, w.City, w.State, w.PostalCode, w.Country
			// formattedValue is built from the parts when not set; a
			// stale one would hide the change.
			a.FormattedValue = ""
			list[i] = &a
		case !empty:
			list = append(list, &people.Address{Type: "work", StreetAddress: w.Street, City: w.City, Region: w.State, PostalCode: w.PostalCode, Country: w.Country})
		}
		p.Addresses = list
		fields = append(fields, "addresses")
	}
	if h.Notes != w.Notes {
		p.Biographies = nil
		if w.Notes != "" {
			p.Biographies = []*people.Biography{{Value: w.Notes, ContentType: "TEXT_PLAIN"}}
		}
		fields = append(fields, "biographies")
	}
	return fields
}

func (c *Connector) createContact(ctx context.Context, s connector.Scope, key string, it *model.Item) (*model.Item, error) {
	if it.Contact == nil {
		return nil, errors.New("google: create contact: item is not a contact")
	}
	w := c.userWriter(s.User)
	w.Lock()
	defer w.Unlock()
	// Same key again: the contact made the first time.
	rn, warm := c.indexLookup(s.User, key)
	if !warm {
		if _, err := c.findContact(ctx, s, key); err != nil {
			return nil, err
		}
		rn, _ = c.indexLookup(s.User, key)
	}
	if rn != "" {
		p, err := c.getPerson(ctx, s, rn)
		switch {
		case err == nil && contactKey(p) == key:
			return contactItem(p), nil
		case err != nil && !errors.Is(err, connector.ErrNotFound):
			return nil, err
		}
	}
	p := personFromModel(it.Contact)
	p.ClientData = []*people.ClientData{{Key: KeyProperty, Value: key}}
	const op = "google create contact"
	rctx := ctxFor(ctx, s)
	got, err := c.ppl.People.CreateContact(p).PersonFields(personFields).Context(rctx).Do()
	if err != nil {
		return nil, mapErr(op, rctx, err, classPlain)
	}
	c.indexUpdate(s.User, got.ResourceName, key)
	return contactItem(got), nil
}

func (c *Connector) updateContact(ctx context.Context, s connector.Scope, rn, marker string, it *model.Item) (*model.Item, error) {
	if it.Contact == nil {
		return nil, errors.New("google: update contact: item is not a contact")
	}
	const op = "google update contact"
	w := c.userWriter(s.User)
	w.Lock()
	defer w.Unlock()
	cur, err := c.getPerson(ctx, s, rn)
	if err != nil {
		return nil, err
	}
	if cur.Etag != marker {
		return nil, fmt.Errorf("%s: etag moved: %w", op, connector.ErrConflict)
	}
	upd := &people.Person{ResourceName: rn, Etag: marker,
		Names: cur.Names, EmailAddresses: cur.EmailAddresses, Organizations: cur.Organizations,
		PhoneNumbers: cur.PhoneNumbers, Addresses: cur.Addresses, Biographies: cur.Biographies}
	fields := apply(upd, contactItem(cur).Contact, it.Contact)
	if len(fields) == 0 {
		return contactItem(cur), nil
	}
	// Only the changed fields are sent and named in the mask; the etag in
	// the body holds the write to the version read.
	out := &people.Person{ResourceName: rn, Etag: marker}
	for _, f := range fields {
		switch f {
		case "names":
			out.Names = upd.Names
		case "emailAddresses":
			out.EmailAddresses = upd.EmailAddresses
		case "organizations":
			out.Organizations = upd.Organizations
		case "phoneNumbers":
			out.PhoneNumbers = upd.PhoneNumbers
		case "addresses":
			out.Addresses = upd.Addresses
		case "biographies":
			out.Biographies = upd.Biographies
		}
	}
	rctx := ctxFor(ctx, s)
	got, err := c.ppl.People.UpdateContact(rn, out).UpdatePersonFields(strings.Join(fields, ",")).
		PersonFields(personFields).Context(rctx).Do()
	if err != nil {
		return nil, mapErr(op, rctx, err, classWrite)
	}
	return contactItem(got), nil
}

func (c *Connector) deleteContact(ctx context.Context, s connector.Scope, rn, marker string) error {
	if err := checkResourceName(rn); err != nil {
		return err
	}
	const op = "google delete contact"
	w := c.userWriter(s.User)
	w.Lock()
	defer w.Unlock()
	if marker != "" {
		// deleteContact takes no etag: hold the delete to the version the
		// engine decided on by reading first.
		cur, err := c.getPerson(ctx, s, rn)
		if err != nil {
			return err
		}
		if cur.Etag != marker {
			return fmt.Errorf("%s: etag moved: %w", op, connector.ErrConflict)
		}
	}
	rctx := ctxFor(ctx, s)
	if _, err := c.ppl.People.DeleteContact(rn).Context(rctx).Do(); err != nil {
		return mapErr(op, rctx, err, classWrite)
	}
	c.indexUpdate(s.User, rn, "")
	return nil
}
