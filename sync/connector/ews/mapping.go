package ews

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

// ewsTime is how times are written: UTC with a Z (xs:dateTime).
const ewsTime = "2006-01-02T15:04:05Z"

// keyOf returns the idempotency key among an item's extended properties.
func (r *rItem) keyOf() string { return r.extended(KeyPropertyName) }

// extended returns the value of syncgate's named property name.
func (r *rItem) extended(name string) string {
	for _, p := range r.ExtendedProperty {
		if strings.EqualFold(p.URI.PropertySetID, KeyPropertySetID) && p.URI.PropertyName == name {
			return p.Value
		}
	}
	return ""
}

func (r *rItem) id() (id, changeKey string) {
	if r.ItemID == nil {
		return "", ""
	}
	return r.ItemID.ID, r.ItemID.ChangeKey
}

func (r *rItem) modified() time.Time {
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(r.LastModifiedTime))
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// bodyText is the body as plain text: syncgate asks for Text
// (ItemShape BodyType), and an HTML body is turned into text the same way
// every time, so an untouched body never looks changed.
func bodyText(b *rBody) string {
	if b == nil {
		return ""
	}
	if strings.EqualFold(b.BodyType, "HTML") {
		return htmlToText(b.Text)
	}
	return b.Text
}

func entry(list []rEntry, key string) string {
	for _, e := range list {
		if e.Key == key {
			return strings.TrimSpace(e.Text)
		}
	}
	return ""
}

// emailOf strips the routing prefix Exchange may put on an address.
func emailOf(v string) string {
	v = strings.TrimSpace(v)
	if len(v) > 5 && strings.EqualFold(v[:5], "SMTP:") {
		v = v[5:]
	}
	return v
}

// ---- contacts ----

func (r *rContact) contact() model.Contact {
	c := model.Contact{
		FirstName:   r.GivenName,
		LastName:    r.Surname,
		Email:       emailOf(entry(r.EmailAddresses, "EmailAddress1")),
		Company:     r.CompanyName,
		Title:       r.JobTitle,
		Department:  r.Department,
		Phone:       entry(r.PhoneNumbers, "BusinessPhone"),
		MobilePhone: entry(r.PhoneNumbers, "MobilePhone"),
		Notes:       bodyText(r.Body),
	}
	for _, a := range r.PhysicalAddresses {
		if a.Key == "Business" {
			c.Street, c.City, c.State, c.PostalCode, c.Country = a.Street, a.City, a.State, a.PostalCode, a.CountryOrRegion
		}
	}
	return c.Normalize()
}

func (r *rContact) item() (*model.Item, error) {
	id, ck := r.id()
	if id == "" {
		return nil, errors.New("ews: contact without ItemId")
	}
	c := r.contact()
	return &model.Item{ID: id, Marker: ck, Key: r.keyOf(), Modified: r.modified(), Contact: &c}, nil
}

// displayName is what a contact without one is shown as.
func displayName(c model.Contact) string {
	return strings.TrimSpace(c.FirstName + " " + c.LastName)
}

func strp(s string) *string { return &s }

// newContact is the t:Contact CreateItem writes: the synced fields that
// are set, a display name, and the key.
func newContact(c model.Contact, key string) *wContact {
	c = c.Normalize()
	opt := func(v string) *string {
		if v == "" {
			return nil
		}
		return strp(v)
	}
	w := &wContact{
		ExtendedProperty: &wExtendedProperty{URI: keyURI, Value: key},
		DisplayName:      opt(displayName(c)),
		GivenName:        opt(c.FirstName),
		CompanyName:      opt(c.Company),
		Department:       opt(c.Department),
		JobTitle:         opt(c.Title),
		Surname:          opt(c.LastName),
	}
	if c.Notes != "" {
		w.Body = &wBody{BodyType: "Text", Text: c.Notes}
	}
	if c.Email != "" {
		w.EmailAddresses = &wEntries{Entry: []wEntry{{Key: "EmailAddress1", Text: c.Email}}}
	}
	var phones []wEntry
	if c.Phone != "" {
		phones = append(phones, wEntry{Key: "BusinessPhone", Text: c.Phone})
	}
	if c.MobilePhone != "" {
		phones = append(phones, wEntry{Key: "MobilePhone", Text: c.MobilePhone})
	}
	if len(phones) > 0 {
		w.PhoneNumbers = &wEntries{Entry: phones}
	}
	if a := (wPhysicalEntry{Key: "Business", Street: c.Street, City: c.City, State: c.State, CountryOrRegion: c.Country, PostalCode: c.PostalCode}); a != (wPhysicalEntry{Key: "Business"}) {
		w.PhysicalAddresses = &wPhysicalAddresses{Entry: []wPhysicalEntry{a}}
	}
	return w
}

func setField(uri string, c *wContact) setItemField {
	return setItemField{Field: &fieldURI{FieldURI: uri}, Contact: c}
}

func setIndexed(uri, index string, c *wContact) setItemField {
	return setItemField{Indexed: &indexedFieldURI{FieldURI: uri, FieldIndex: index}, Contact: c}
}

func deleteField(uri string) deleteItemField {
	return deleteItemField{Field: &fieldURI{FieldURI: uri}}
}

func deleteIndexed(uri, index string) deleteItemField {
	return deleteItemField{Indexed: &indexedFieldURI{FieldURI: uri, FieldIndex: index}}
}

// contactUpdates are the SetItemField/DeleteItemField changes that make
// cur's synced fields equal to want, one per differing field. Only
// EmailAddress1, BusinessPhone, MobilePhone and the Business address are
// touched: other addresses, phones and every unsynced property stay.
func contactUpdates(want model.Contact, cur *rContact) []any {
	want = want.Normalize()
	was := cur.contact()
	var out []any
	simple := func(uri string, v, old string, w *wContact) {
		switch {
		case v == old:
		case v == "":
			out = append(out, deleteField(uri))
		default:
			out = append(out, setField(uri, w))
		}
	}
	simple("contacts:GivenName", want.FirstName, was.FirstName, &wContact{GivenName: strp(want.FirstName)})
	simple("contacts:Surname", want.LastName, was.LastName, &wContact{Surname: strp(want.LastName)})
	simple("contacts:CompanyName", want.Company, was.Company, &wContact{CompanyName: strp(want.Company)})
	simple("contacts:JobTitle", want.Title, was.Title, &wContact{JobTitle: strp(want.Title)})
	simple("contacts:Department", want.Department, was.Department, &wContact{Department: strp(want.Department)})
	if want.Notes != was.Notes {
		out = append(out, setField("item:Body", &wContact{Body: &wBody{BodyType: "Text", Text: want.Notes}}))
	}
	// A display name that followed the name parts keeps following them.
	if nn := displayName(want); nn != displayName(was) && nn != "" &&
		(strings.TrimSpace(cur.DisplayName) == "" || strings.TrimSpace(cur.DisplayName) == displayName(was)) {
		out = append(out, setField("contacts:DisplayName", &wContact{DisplayName: strp(nn)}))
	}
	indexed := func(uri, index, v, old string, w *wContact) {
		switch {
		case v == old:
		case v == "":
			out = append(out, deleteIndexed(uri, index))
		default:
			out = append(out, setIndexed(uri, index, w))
		}
	}
	indexed("contacts:EmailAddress", "EmailAddress1", want.Email, was.Email,
		&wContact{EmailAddresses: &wEntries{Entry: []wEntry{{Key: "EmailAddress1", Text: want.Email}}}})
	indexed("contacts:PhoneNumber", "BusinessPhone", want.Phone, was.Phone,
		&wContact{PhoneNumbers: &wEntries{Entry: []wEntry{{Key: "BusinessPhone", Text: want.Phone}}}})
	indexed("contacts:PhoneNumber", "MobilePhone", want.MobilePhone, was.MobilePhone,
		&wContact{PhoneNumbers: &wEntries{Entry: []wEntry{{Key: "MobilePhone", Text: want.MobilePhone}}}})
	addr := func(field, v, old string, e wPhysicalEntry) {
		e.Key = "Business"
		indexed("contacts:PhysicalAddress:"+field, "Business", v, old,
			&wContact{PhysicalAddresses: &wPhysicalAddresses{Entry: []wPhysicalEntry{e}}})
	}
	addr("Street", want.Street, was.Street, wPhysicalEntry{Street: want.Street})
	addr("City", want.City, was.City, wPhysicalEntry{City: want.City})
	addr("State", want.State, was.State, wPhysicalEntry{State: want.State})
	addr("CountryOrRegion", want.Country, was.Country, wPhysicalEntry{CountryOrRegion: want.Country})
	addr("PostalCode", want.PostalCode, was.PostalCode, wPhysicalEntry{PostalCode: want.PostalCode})
	return out
}

// ---- events ----

// seriesOf maps CalendarItemType to model.Event.Series.
func seriesOf(typ string) string {
	switch typ {
	case "RecurringMaster":
		return "master"
	case "Occurrence":
		return "occurrence"
	case "Exception":
		return "exception"
	}
	return ""
}

// showAs maps LegacyFreeBusyStatus; Busy, WorkingElsewhere and NoData
// read as busy ("").
func showAs(v string) string {
	switch v {
	case "Free":
		return "free"
	case "Tentative":
		return "tentative"
	case "OOF":
		return "oof"
	}
	return ""
}

func freeBusy(v string) string {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "free":
		return "Free"
	case "tentative":
		return "Tentative"
	case "oof":
		return "OOF"
	}
	return "Busy"
}

func sensitivity(private bool) string {
	if private {
		return "Private"
	}
	return "Normal"
}

func parseInstant(v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(v))
	if err != nil {
		return time.Time{}, errors.New("start or end is not an xs:dateTime")
	}
	return t.UTC(), nil
}

// civilDate is the date an all-day boundary stands for: the instant seen
// in the zone the event was made in (Exchange stores all-day events as
// midnights of that zone). An unknown zone falls back to the nearest UTC
// midnight, right for every zone within ±12 h.
func civilDate(t time.Time, zone string) string {
	if loc, ok := parseZone(zone); ok && zone != "" {
		return t.In(loc).Format(time.DateOnly)
	}
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if t.Sub(day) >= 12*time.Hour {
		day = day.AddDate(0, 0, 1)
	}
	return day.Format(time.DateOnly)
}

func (r *rCalendarItem) event() (model.Event, error) {
	e := model.Event{
		Subject:     r.Subject,
		Location:    r.Location,
		Description: bodyText(r.Body),
		AllDay:      r.IsAllDayEvent == "true",
		Private:     r.Sensitivity == "Private" || r.Sensitivity == "Confidential",
		ShowAs:      showAs(r.LegacyFreeBusyStatus),
		Categories:  slices.Clone(r.Categories),
		Series:      seriesOf(r.CalendarItemType),
	}
	start, err1 := parseInstant(r.Start)
	end, err2 := parseInstant(r.End)
	if err := errors.Join(err1, err2); err != nil {
		if e.Series != "" {
			return e.Normalize(), nil // the engine skips series
		}
		return model.Event{}, err
	}
	if e.AllDay {
		sz, ez := "", ""
		if r.StartTimeZone != nil {
			sz = r.StartTimeZone.ID
		}
		ez = sz
		if r.EndTimeZone != nil && r.EndTimeZone.ID != "" {
			ez = r.EndTimeZone.ID
		}
		e.StartDate, e.EndDate = civilDate(start, sz), civilDate(end, ez)
	} else {
		e.Start, e.End = start, end
	}
	return e.Normalize(), nil
}

func (r *rCalendarItem) item() (*model.Item, error) {
	id, ck := r.id()
	if id == "" {
		return nil, errors.New("ews: calendar item without ItemId")
	}
	e, err := r.event()
	if err != nil {
		return nil, fmt.Errorf("ews: %w", err)
	}
	return &model.Item{ID: id, Marker: ck, Key: r.keyOf(), Modified: r.modified(), Event: &e}, nil
}

// attendees are the SMTP addresses of the required and optional
// attendees (Resources, rooms, are not people), read for auto-relate only:
// no request ever names attendees. owner, the mailbox, is left out.
func (r *rCalendarItem) attendees(owner string) []string {
	var addrs []string
	for _, list := range [][]rAttendee{r.RequiredAttendees, r.OptionalAttendees} {
		for _, a := range list {
			if rt := a.Mailbox.RoutingType; rt != "" && !strings.EqualFold(rt, "SMTP") {
				continue // an EX (legacyExchangeDN) address is no e-mail address
			}
			addrs = append(addrs, a.Mailbox.EmailAddress)
		}
	}
	return model.AttendeeList(owner, addrs)
}

// organisedMeeting reports whether writing the item would reach other
// people: it has attendees (or is a meeting) and this mailbox organises
// it, or nothing says it does not. Updating or deleting it would send
// updates or cancellations; syncgate never does.
func (r *rCalendarItem) organisedMeeting(user string) bool {
	if len(r.RequiredAttendees) == 0 && len(r.OptionalAttendees) == 0 && r.IsMeeting != "true" {
		return false
	}
	switch {
	case r.IsOrganizer == "true", r.MyResponseType == "Organizer":
		return true
	case r.IsOrganizer == "false", r.MyResponseType != "" && r.MyResponseType != "Unknown":
		return false
	}
	if o := r.Organizer; o != nil && strings.Contains(o.Mailbox.EmailAddress, "@") &&
		(o.Mailbox.RoutingType == "" || strings.EqualFold(o.Mailbox.RoutingType, "SMTP")) {
		return strings.EqualFold(strings.TrimSpace(o.Mailbox.EmailAddress), strings.TrimSpace(user))
	}
	return true
}

// times renders the model's times: timed events in UTC; all-day events
// as midnights of the configured zone, which is also written as the
// item's StartTimeZone and EndTimeZone so the dates read back unchanged.
func (c *Connector) times(e model.Event) (start, end string, err error) {
	if e.AllDay {
		sd, err := time.Parse(time.DateOnly, e.StartDate)
		if err != nil {
			return "", "", fmt.Errorf("%w: all-day event without a valid start date", connector.ErrUnsupported)
		}
		ed := sd.AddDate(0, 0, 1)
		if e.EndDate != "" {
			if ed, err = time.Parse(time.DateOnly, e.EndDate); err != nil || !ed.After(sd) {
				return "", "", fmt.Errorf("%w: all-day event end date not after its start date", connector.ErrUnsupported)
			}
		}
		mid := func(d time.Time) string {
			return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, c.tz).UTC().Format(ewsTime)
		}
		return mid(sd), mid(ed), nil
	}
	if e.Start.IsZero() || e.End.Before(e.Start) {
		return "", "", fmt.Errorf("%w: timed event without a start, or ending before it starts", connector.ErrUnsupported)
	}
	return e.Start.UTC().Format(ewsTime), e.End.UTC().Format(ewsTime), nil
}

// newCalendarItem is the t:CalendarItem CreateItem writes. It never has
// attendees.
func (c *Connector) newCalendarItem(e model.Event, key string) (*wCalendarItem, error) {
	cats := e.Categories
	e = e.Normalize()
	start, end, err := c.times(e)
	if err != nil {
		return nil, err
	}
	w := &wCalendarItem{
		Subject:              strp(e.Subject),
		Sensitivity:          sensitivity(e.Private),
		Body:                 &wBody{BodyType: "Text", Text: e.Description},
		ExtendedProperty:     []wExtendedProperty{{URI: keyURI, Value: key}},
		Start:                start,
		End:                  end,
		IsAllDayEvent:        fmt.Sprint(e.AllDay),
		LegacyFreeBusyStatus: freeBusy(e.ShowAs),
		Location:             strp(e.Location),
	}
	if len(cats) > 0 {
		w.Categories = &wStrings{String: slices.Clone(cats)}
	}
	if e.AllDay {
		w.StartTimeZone, w.EndTimeZone = &wTimeZone{ID: c.tzID}, &wTimeZone{ID: c.tzID}
	}
	return w, nil
}

func setCal(uri string, w *wCalendarItem) setItemField {
	return setItemField{Field: &fieldURI{FieldURI: uri}, Calendar: w}
}

// eventUpdates are the changes that make cur's synced fields equal to
// want. Times go together: Start, End, IsAllDayEvent (and, for an all-day
// event, the zone its midnights are in). Never attendees.
func (c *Connector) eventUpdates(want model.Event, cur *rCalendarItem) ([]any, error) {
	want = want.Normalize()
	was, err := cur.event()
	if err != nil {
		return nil, err
	}
	var out []any
	if want.Subject != was.Subject {
		out = append(out, setCal("item:Subject", &wCalendarItem{Subject: strp(want.Subject)}))
	}
	if want.Description != was.Description {
		out = append(out, setCal("item:Body", &wCalendarItem{Body: &wBody{BodyType: "Text", Text: want.Description}}))
	}
	if want.Location != was.Location {
		if want.Location == "" {
			out = append(out, deleteField("calendar:Location"))
		} else {
			out = append(out, setCal("calendar:Location", &wCalendarItem{Location: strp(want.Location)}))
		}
	}
	if want.Private != was.Private {
		out = append(out, setCal("item:Sensitivity", &wCalendarItem{Sensitivity: sensitivity(want.Private)}))
	}
	if want.ShowAs != was.ShowAs {
		out = append(out, setCal("calendar:LegacyFreeBusyStatus", &wCalendarItem{LegacyFreeBusyStatus: freeBusy(want.ShowAs)}))
	}
	if want.AllDay != was.AllDay || !want.Start.Equal(was.Start) || !want.End.Equal(was.End) || want.StartDate != was.StartDate || want.EndDate != was.EndDate {
		start, end, err := c.times(want)
		if err != nil {
			return nil, err
		}
		if want.AllDay {
			out = append(out,
				setCal("calendar:StartTimeZone", &wCalendarItem{StartTimeZone: &wTimeZone{ID: c.tzID}}),
				setCal("calendar:EndTimeZone", &wCalendarItem{EndTimeZone: &wTimeZone{ID: c.tzID}}))
		}
		out = append(out,
			setCal("calendar:Start", &wCalendarItem{Start: start}),
			setCal("calendar:End", &wCalendarItem{End: end}),
			setCal("calendar:IsAllDayEvent", &wCalendarItem{IsAllDayEvent: fmt.Sprint(want.AllDay)}))
	}
	return out, nil
}

// overlapsWindow reports whether an event lies (partly) in the window.
func overlapsWindow(e *model.Event, s connector.Scope) bool {
	start, end := e.Start, e.End
	if e.AllDay {
		sd, err1 := time.Parse(time.DateOnly, e.StartDate)
		ed, err2 := time.Parse(time.DateOnly, e.EndDate)
		if err1 != nil || err2 != nil {
			return false
		}
		// A civil date lies somewhere between UTC-12 and UTC+14.
		start, end = sd.Add(-14*time.Hour), ed.Add(12*time.Hour)
	}
	if end.Equal(start) {
		return !start.Before(s.WindowStart) && start.Before(s.WindowEnd)
	}
	return start.Before(s.WindowEnd) && end.After(s.WindowStart)
}
