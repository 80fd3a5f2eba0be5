package model

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Kind is what is synced: contacts or events.
type Kind string

const (
	Contacts Kind = "contacts"
	Events   Kind = "events"
)

// ParseKind accepts the config and CLI spelling of a kind.
func ParseKind(s string) (Kind, error) {
	switch Kind(s) {
	case Contacts, Events:
		return Kind(s), nil
	}
	return "", fmt.Errorf("unknown kind %q (want contacts or events)", s)
}

// Side is one end of a pair.
type Side string

const (
	CRM  Side = "crm"
	Mail Side = "mail"
)

// Other returns the opposite side.
func (s Side) Other() Side {
	if s == CRM {
		return Mail
	}
	return CRM
}

// Contact is a person as both sides can hold it. Only these fields are
// synced; everything else on either side is left alone.
type Contact struct {
	FirstName   string `json:"first_name,omitempty"`
	LastName    string `json:"last_name,omitempty"`
	Email       string `json:"email,omitempty"`
	Company     string `json:"company,omitempty"`
	Title       string `json:"title,omitempty"`
	Department  string `json:"department,omitempty"`
	Phone       string `json:"phone,omitempty"`
	MobilePhone string `json:"mobile_phone,omitempty"`
	Street      string `json:"street,omitempty"`
	City        string `json:"city,omitempty"`
	State       string `json:"state,omitempty"`
	PostalCode  string `json:"postal_code,omitempty"`
	Country     string `json:"country,omitempty"`
	Notes       string `json:"notes,omitempty"`
}

// Event is a calendar entry: a single event, or a series master with its
// Recurrence (see recurrence.go).
//
// A timed event is Start/End as instants (stored in UTC). An all-day event
// is StartDate/EndDate as civil dates (YYYY-MM-DD, EndDate exclusive) and
// never an instant: turning it into midnight-to-midnight in some zone is
// exactly the bug that shifts all-day events by a day elsewhere.
type Event struct {
	Subject     string    `json:"subject,omitempty"`
	Location    string    `json:"location,omitempty"`
	Description string    `json:"description,omitempty"`
	AllDay      bool      `json:"all_day,omitempty"`
	Start       time.Time `json:"start,omitzero"`
	End         time.Time `json:"end,omitzero"`
	StartDate   string    `json:"start_date,omitempty"`
	EndDate     string    `json:"end_date,omitempty"`
	Private     bool      `json:"private,omitempty"`
	ShowAs      string    `json:"show_as,omitempty"` // busy | free | tentative | oof; "" = busy
	// Recurrence is set on a series master (Series "master") read by a
	// connector that supports series (connector.SeriesCapable); Start/End
	// (or StartDate/EndDate) are then its first occurrence. It is content:
	// the rule, the zone and the exceptions are hashed, normalised.
	Recurrence *Recurrence `json:"recurrence,omitempty"`

	// Not part of the hash: facts the engine filters on.
	Categories []string `json:"-"` // mailbox categories ("selected events" marker)
	Series     string   `json:"-"` // "" single; "master", "occurrence", "exception" (part 2)
	// Attendees are the mailbox event's attendees' e-mail addresses (lower
	// case, sorted, without the mailbox owner's own), as read; never
	// written anywhere. Not content: the engine relates them to CRM
	// contacts or a lead when it creates or updates the event in the CRM
	// (auto-relate), and a change of attendees alone is not a change.
	Attendees []string `json:"-"`
}

// Item is one record read from a side.
type Item struct {
	ID     string // the side's id (Salesforce 18-char id, Graph id)
	Marker string // the side's change marker: SystemModstamp, @odata.etag, ChangeKey
	Key    string // syncgate's idempotency key when the item carries one (external id / extended property)
	// Owner is the CRM user that owns the record, when the side knows it.
	Owner string
	// Modified is the side's last-modified time (SystemModstamp,
	// lastModifiedDateTime); used by the "newest wins" conflict rule.
	Modified time.Time
	Contact  *Contact
	Event    *Event
}

// Kind reports which kind the item holds.
func (it *Item) Kind() Kind {
	if it.Event != nil {
		return Events
	}
	return Contacts
}

// Normalize returns a copy with the canonical spelling of every field:
// trimmed strings, e-mail in lower case, instants in UTC to the second.
// Connectors call it on what they read so that formatting never counts as a
// change.
func (c Contact) Normalize() Contact {
	for _, p := range []*string{&c.FirstName, &c.LastName, &c.Email, &c.Company, &c.Title, &c.Department,
		&c.Phone, &c.MobilePhone, &c.Street, &c.City, &c.State, &c.PostalCode, &c.Country, &c.Notes} {
		*p = strings.TrimSpace(strings.ReplaceAll(*p, "\r\n", "\n"))
	}
	c.Email = strings.ToLower(c.Email)
	return c
}

// Normalize: see Contact.Normalize. Timed events drop the civil dates and
// all-day events drop the instants, so only one representation is hashed.
func (e Event) Normalize() Event {
	for _, p := range []*string{&e.Subject, &e.Location, &e.Description} {
		*p = strings.TrimSpace(strings.ReplaceAll(*p, "\r\n", "\n"))
	}
	e.ShowAs = strings.ToLower(strings.TrimSpace(e.ShowAs))
	if e.ShowAs == "busy" {
		e.ShowAs = ""
	}
	if e.AllDay {
		e.Start, e.End = time.Time{}, time.Time{}
	} else {
		e.StartDate, e.EndDate = "", ""
		e.Start = e.Start.UTC().Truncate(time.Second)
		e.End = e.End.UTC().Truncate(time.Second)
	}
	if e.Recurrence != nil {
		r := *e.Recurrence
		// An exception "moved" to exactly where the rule puts it is no
		// exception: a side that reports every edited occurrence with its
		// times must hash like one that reports only the edit.
		if !e.AllDay && len(r.Exceptions) > 0 {
			dur := e.End.Sub(e.Start)
			xs := make([]Exception, len(r.Exceptions))
			for i, x := range r.Exceptions {
				if !x.Start.IsZero() && x.Start.UTC().Truncate(time.Second).Format(time.RFC3339) == x.OriginalStart && x.End.Sub(x.Start) == dur {
					x.Start, x.End = time.Time{}, time.Time{}
				}
				xs[i] = x
			}
			r.Exceptions = xs
		}
		if e.AllDay && len(r.Exceptions) > 0 {
			xs := make([]Exception, len(r.Exceptions))
			for i, x := range r.Exceptions {
				x.Start, x.End = time.Time{}, time.Time{}
				xs[i] = x
			}
			r.Exceptions = xs
		}
		// UNTIL canonically is the last occurrence's start (its date for
		// all-day series): sides that only hold an end date (Graph, EWS)
		// and sides that hold an instant describe the same series alike.
		if !r.Until.IsZero() {
			probe := e
			probe.Recurrence = &r
			from := e.Start
			if e.AllDay {
				from, _ = time.Parse(time.DateOnly, e.StartDate)
			}
			if occ, err := probe.OriginalStarts(from, r.Until.Add(time.Second)); err == nil && len(occ) > 0 {
				last := occ[len(occ)-1]
				if t, err := time.Parse(time.RFC3339, last); err == nil {
					r.Until = t
				} else if d, err := time.Parse(time.DateOnly, last); err == nil {
					r.Until = d
				}
			}
		}
		r = r.Normalize()
		e.Recurrence = &r
	}
	if len(e.Categories) > 0 {
		c := append([]string(nil), e.Categories...)
		sort.Strings(c)
		e.Categories = c
	}
	if len(e.Attendees) > 0 {
		e.Attendees = AttendeeList("", e.Attendees)
	}
	return e
}

// AttendeeList is the canonical attendee list of addresses: trimmed, in
// lower case, without duplicates, without anything that is not an e-mail
// address and without owner (the mailbox's own address), sorted. nil when
// nothing is left.
func AttendeeList(owner string, addrs []string) []string {
	owner = strings.ToLower(strings.TrimSpace(owner))
	seen := map[string]bool{}
	var out []string
	for _, a := range addrs {
		a = strings.ToLower(strings.TrimSpace(a))
		at := strings.LastIndexByte(a, '@')
		if at <= 0 || at == len(a)-1 || strings.ContainsAny(a, " \t\r\n,;<>\"") || a == owner || seen[a] {
			continue
		}
		seen[a] = true
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Hash is the content hash over the synced fields of the item, hex SHA-256
// of their canonical JSON. Ids, markers and keys are not content.
func (it *Item) Hash() string {
	var v any
	switch {
	case it.Event != nil:
		v = struct {
			K string `json:"k"`
			E Event  `json:"e"`
		}{"event", it.Event.Normalize()}
	case it.Contact != nil:
		v = struct {
			K string  `json:"k"`
			C Contact `json:"c"`
		}{"contact", it.Contact.Normalize()}
	default:
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		// Only strings, bools and times: cannot fail.
		panic(fmt.Sprintf("model: hash: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// MatchKey is the first-sync matching key: contacts by primary e-mail,
// events by subject + start + end. Empty when the item has none.
func (it *Item) MatchKey() string {
	switch {
	case it.Contact != nil:
		if e := strings.ToLower(strings.TrimSpace(it.Contact.Email)); e != "" {
			return "email:" + e
		}
	case it.Event != nil:
		e := it.Event.Normalize()
		k := "event:" + strings.ToLower(e.Subject) + "|" + e.Start.Format(time.RFC3339) + "|" + e.End.Format(time.RFC3339)
		if e.AllDay {
			k = "event:" + strings.ToLower(e.Subject) + "|" + e.StartDate + "|" + e.EndDate
		}
		if e.Recurrence != nil {
			// A series matches only a series with the same rule and zone.
			k += "|" + e.Recurrence.RRULE() + "|" + e.Recurrence.TimeZone
		}
		return k
	}
	return ""
}

// NameKey is the second contact matching key: first + last name + company.
func (it *Item) NameKey() string {
	if it.Contact == nil {
		return ""
	}
	c := it.Contact.Normalize()
	if c.LastName == "" {
		return ""
	}
	return "name:" + strings.ToLower(c.FirstName+"|"+c.LastName+"|"+c.Company)
}

// Clone returns a deep copy.
func (it *Item) Clone() *Item {
	c := *it
	if it.Contact != nil {
		x := *it.Contact
		c.Contact = &x
	}
	if it.Event != nil {
		x := *it.Event
		x.Categories = append([]string(nil), it.Event.Categories...)
		x.Attendees = append([]string(nil), it.Event.Attendees...)
		x.Recurrence = it.Event.Recurrence.Clone()
		c.Event = &x
	}
	return &c
}
