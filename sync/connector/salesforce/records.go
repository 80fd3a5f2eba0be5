package salesforce

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

// record is a Contact or Event as the REST API renders it; fields of the
// other object stay empty. JSON null leaves the zero value.
type record struct {
	ID             string `json:"Id"`
	IsDeleted      bool   `json:"IsDeleted"`
	SystemModstamp string `json:"SystemModstamp"`
	OwnerID        string `json:"OwnerId"`
	Key            string `json:"Syncgate_Id__c"`

	// Contact
	FirstName         string `json:"FirstName"`
	LastName          string `json:"LastName"`
	Email             string `json:"Email"`
	Title             string `json:"Title"`
	Department        string `json:"Department"`
	Phone             string `json:"Phone"`
	MobilePhone       string `json:"MobilePhone"`
	MailingStreet     string `json:"MailingStreet"`
	MailingCity       string `json:"MailingCity"`
	MailingState      string `json:"MailingState"`
	MailingPostalCode string `json:"MailingPostalCode"`
	MailingCountry    string `json:"MailingCountry"`
	AccountID         string `json:"AccountId"`

	// Both
	Description string `json:"Description"`

	// Event
	Subject           string `json:"Subject"`
	Location          string `json:"Location"`
	StartDateTime     string `json:"StartDateTime"`
	EndDateTime       string `json:"EndDateTime"`
	ActivityDate      string `json:"ActivityDate"`
	DurationInMinutes *int   `json:"DurationInMinutes"`
	IsAllDayEvent     bool   `json:"IsAllDayEvent"`
	IsPrivate         bool   `json:"IsPrivate"`
	IsRecurrence      bool   `json:"IsRecurrence"`
	ShowAs            string `json:"ShowAs"`
	// Lightning event series (Options.Series).
	CreatedDate                string `json:"CreatedDate"`
	IsRecurrence2              bool   `json:"IsRecurrence2"`
	Recurrence2PatternText     string `json:"Recurrence2PatternText"`
	Recurrence2PatternTimeZone string `json:"Recurrence2PatternTimeZone"`
	RecurrenceActivityID       string `json:"RecurrenceActivityId"`
	IsRecurrence2Exception     bool   `json:"IsRecurrence2Exception"`

	// Account (company lookups)
	Name string `json:"Name"`

	// Auto-relate: Event.WhoId, EventRelation, Lead.IsConverted.
	WhoID       string `json:"WhoId"`
	RelationID  string `json:"RelationId"`
	IsParent    bool   `json:"IsParent"`
	IsConverted bool   `json:"IsConverted"`
}

var commonFields = []string{"Id", "IsDeleted", "SystemModstamp", "OwnerId", ExternalIDField}

var objectFields = map[string][]string{
	"Contact": append(append([]string{}, commonFields...), "FirstName", "LastName", "Email", "Title", "Department", "Phone",
		"MobilePhone", "MailingStreet", "MailingCity", "MailingState", "MailingPostalCode", "MailingCountry", "Description", "AccountId"),
	"Event": append(append([]string{}, commonFields...), "Subject", "Location", "Description", "StartDateTime", "EndDateTime",
		"ActivityDate", "DurationInMinutes", "IsAllDayEvent", "IsPrivate", "ShowAs", "IsRecurrence"),
}

// selectList is the SELECT list of obj.
func selectList(obj string) string { return strings.Join(objectFields[obj], ", ") }

const day = 24 * time.Hour

// toItem maps a record to the model. companies maps AccountId to the
// account's Name.
func toItem(obj string, r *record, companies map[string]string) (*model.Item, error) {
	if !validID(r.ID) || r.SystemModstamp == "" {
		return nil, errors.New("salesforce: record without Id or SystemModstamp")
	}
	it := &model.Item{ID: r.ID, Marker: r.SystemModstamp, Key: r.Key, Owner: r.OwnerID}
	switch obj {
	case "Contact":
		it.Contact = &model.Contact{
			FirstName: r.FirstName, LastName: r.LastName, Email: r.Email, Company: companies[r.AccountID],
			Title: r.Title, Department: r.Department, Phone: r.Phone, MobilePhone: r.MobilePhone,
			Street: r.MailingStreet, City: r.MailingCity, State: r.MailingState, PostalCode: r.MailingPostalCode,
			Country: r.MailingCountry, Notes: r.Description,
		}
	case "Event":
		e := &model.Event{Subject: r.Subject, Location: r.Location, Description: r.Description,
			AllDay: r.IsAllDayEvent, Private: r.IsPrivate, ShowAs: showAsFromSF(r.ShowAs)}
		switch {
		case r.IsRecurrence || r.IsRecurrence2:
			e.Series = "master"
		case r.RecurrenceActivityID != "" && r.IsRecurrence2Exception:
			e.Series = "exception"
		case r.RecurrenceActivityID != "":
			e.Series = "occurrence"
		}
		if r.IsAllDayEvent {
			// ActivityDate is the civil date (its midnight-UTC time stamp
			// is "not relevant", says the Event reference); the length is
			// whole days of DurationInMinutes (1,440 per day). EndDateTime
			// is not used: it is an instant and its day depends on how
			// the org stores the end of an all-day event.
			start, err := time.Parse(time.DateOnly, r.ActivityDate)
			if err != nil {
				st, ok := parseTime(r.StartDateTime)
				if !ok {
					return nil, fmt.Errorf("salesforce: event %s: all-day event without ActivityDate", r.ID)
				}
				start = time.Date(st.Year(), st.Month(), st.Day(), 0, 0, 0, 0, time.UTC)
			}
			days := 1
			if r.DurationInMinutes != nil && *r.DurationInMinutes > 0 {
				days = int(math.Ceil(float64(*r.DurationInMinutes) / 1440))
			}
			e.StartDate = start.Format(time.DateOnly)
			e.EndDate = start.AddDate(0, 0, days).Format(time.DateOnly)
		} else {
			st, ok1 := parseTime(r.StartDateTime)
			en, ok2 := parseTime(r.EndDateTime)
			if !ok2 && ok1 && r.DurationInMinutes != nil {
				en, ok2 = st.Add(time.Duration(*r.DurationInMinutes)*time.Minute), true
			}
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("salesforce: event %s: timed event without StartDateTime/EndDateTime", r.ID)
			}
			e.Start, e.End = st, en
		}
		it.Event = e
	}
	return it, nil
}

// Salesforce's ShowAs picklist is Busy, Free and OutOfOffice.
func showAsFromSF(v string) string {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "free":
		return "free"
	case "outofoffice":
		return "oof"
	case "tentative": // not a standard value; kept if an org added it
		return "tentative"
	}
	return ""
}

// showAsToSF maps the model's free/busy status. Salesforce has no
// Tentative: it is written as Busy (the time is held).
func showAsToSF(v string) string {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "free":
		return "Free"
	case "oof":
		return "OutOfOffice"
	}
	return "Busy"
}

// nullable clears a field whose value is empty: JSON null is how the REST
// API sets a field to null.
func nullable(s string) any {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	return s
}

// contactBody is the synced fields of a contact as a write body (without
// AccountId, which the caller resolves).
func contactBody(ct *model.Contact) (map[string]any, error) {
	if strings.TrimSpace(ct.LastName) == "" {
		return nil, fmt.Errorf("%w: a Salesforce contact requires a last name", connector.ErrUnsupported)
	}
	return map[string]any{
		"FirstName": nullable(ct.FirstName), "LastName": ct.LastName, "Email": nullable(ct.Email),
		"Title": nullable(ct.Title), "Department": nullable(ct.Department), "Phone": nullable(ct.Phone),
		"MobilePhone": nullable(ct.MobilePhone), "MailingStreet": nullable(ct.Street), "MailingCity": nullable(ct.City),
		"MailingState": nullable(ct.State), "MailingPostalCode": nullable(ct.PostalCode),
		"MailingCountry": nullable(ct.Country), "Description": nullable(ct.Notes),
	}, nil
}

// maxEventLength is Salesforce's limit on an event's duration.
const maxEventLength = 14 * day

// eventBody is the synced fields of an event as a write body. It never
// names attendees (no EventRelation, no invitee lists): writing it invites
// nobody.
func eventBody(ev *model.Event) (map[string]any, error) {
	if ev.Series != "" {
		return nil, fmt.Errorf("%w: recurring event (%s)", connector.ErrUnsupported, ev.Series)
	}
	b := map[string]any{
		"Subject": nullable(ev.Subject), "Location": nullable(ev.Location), "Description": nullable(ev.Description),
		"IsAllDayEvent": ev.AllDay, "IsPrivate": ev.Private, "ShowAs": showAsToSF(ev.ShowAs),
	}
	if ev.AllDay {
		start, err := time.Parse(time.DateOnly, ev.StartDate)
		if err != nil {
			return nil, fmt.Errorf("%w: all-day event without a valid start date", connector.ErrUnsupported)
		}
		days := 1
		if ev.EndDate != "" {
			end, err := time.Parse(time.DateOnly, ev.EndDate)
			if err != nil {
				return nil, fmt.Errorf("%w: all-day event with an invalid end date", connector.ErrUnsupported)
			}
			// EndDate is exclusive; an end on or before the start is a
			// one-day event.
			if d := int(end.Sub(start) / day); d > 1 {
				days = d
			}
		}
		if time.Duration(days)*day > maxEventLength {
			return nil, fmt.Errorf("%w: all-day event longer than 14 days", connector.ErrUnsupported)
		}
		// The date itself, at midnight UTC as Salesforce stores it, and
		// the length in whole days; never an instant in some time zone.
		b["ActivityDate"] = start.Format(time.DateOnly)
		b["StartDateTime"] = wireTime(start)
		b["DurationInMinutes"] = days * 1440
		return b, nil
	}
	if ev.Start.IsZero() || ev.End.IsZero() {
		return nil, fmt.Errorf("%w: timed event without start or end", connector.ErrUnsupported)
	}
	if ev.End.Before(ev.Start) {
		return nil, fmt.Errorf("%w: event ends before it starts", connector.ErrUnsupported)
	}
	if ev.End.Sub(ev.Start) > maxEventLength {
		return nil, fmt.Errorf("%w: event longer than 14 days", connector.ErrUnsupported)
	}
	b["StartDateTime"] = wireTime(ev.Start)
	b["EndDateTime"] = wireTime(ev.End)
	return b, nil
}

// accountNames reads the Name of each account id (for Contact.Company).
func (c *Connector) accountNames(ctx context.Context, recs []record, known map[string]string) (map[string]string, error) {
	names := map[string]string{}
	var ids []string
	for i := range recs {
		id := recs[i].AccountID
		if id == "" || !validID(id) {
			continue
		}
		if n, ok := known[id]; ok {
			names[id] = n
			continue
		}
		if _, ok := names[id]; !ok {
			names[id] = ""
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for len(ids) > 0 {
		n := min(len(ids), 200)
		chunk := ids[:n]
		ids = ids[n:]
		lits := make([]string, len(chunk))
		for i, id := range chunk {
			lits[i] = quote(id)
		}
		accts, err := c.query(ctx, "salesforce: query Account", "SELECT Id, Name FROM Account WHERE Id IN ("+strings.Join(lits, ", ")+")", false)
		if err != nil {
			return nil, err
		}
		for _, a := range accts {
			names[a.ID] = a.Name
			if len(a.ID) == 18 { // a 15-character reference matches too
				names[a.ID[:15]] = a.Name
			}
		}
	}
	return names, nil
}

// accountByName finds the one account whose Name is exactly name. SOQL's
// = on text ignores case, so the exact comparison is made here. None or
// several: "" (the contact's AccountId is left alone; accounts are never
// created).
func (c *Connector) accountByName(ctx context.Context, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", nil
	}
	accts, err := c.query(ctx, "salesforce: query Account", "SELECT Id, Name FROM Account WHERE Name = "+quote(name)+" LIMIT 10", false)
	if err != nil {
		return "", err
	}
	var found string
	for _, a := range accts {
		if strings.TrimSpace(a.Name) == name && validID(a.ID) {
			if found != "" {
				return "", nil
			}
			found = a.ID
		}
	}
	return found, nil
}
