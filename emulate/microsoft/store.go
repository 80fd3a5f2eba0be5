package microsoft

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"time"
)

// User is a mailbox user to seed.
type User struct {
	TenantID          string `json:"tenantId"`
	ID                string `json:"id"`
	UserPrincipalName string `json:"userPrincipalName"`
	DisplayName       string `json:"displayName,omitempty"`
	Mail              string `json:"mail,omitempty"`
}

type user struct {
	User
	defaultFolder string
	folders       map[string]string // id -> displayName
	contacts      map[string]*item
	events        map[string]*item // single instances, series masters, exceptions
	txn           map[string]string
	order         int64
}

// item is a stored contact or event. props holds the client-settable
// properties as JSON values; the rest is server-managed.
type item struct {
	id        string
	props     map[string]any
	changeKey string
	created   time.Time
	modified  time.Time
	order     int64

	folder string // contacts

	ext map[string]extValue // single-value extended properties by canonical id (extprops.go)

	// events
	typ           string // singleInstance | seriesMaster | exception
	masterID      string
	originalStart time.Time
	start, end    time.Time
	startTZ       string
	endTZ         string
	rec           *recurrence
	seriesCK      string // changes when the series content changes, not on cancellations
	cancelled     map[int64]bool
	exceptions    map[int64]string
}

// apiError is a Graph error to render.
type apiError struct {
	status    int
	code, msg string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.msg) }

func errNotFound() *apiError {
	return &apiError{http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store."}
}

func errBadRequest(code, msg string) *apiError {
	return &apiError{http.StatusBadRequest, code, msg}
}

func errConflict() *apiError {
	return &apiError{http.StatusPreconditionFailed, "ErrorIrresolvableConflict", "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item."}
}

// newID makes an id in the style of Exchange item ids (base64url, "AAMk"
// prefix). Ids never contain '.', which separates occurrence ids.
func newID() string {
	var b [30]byte
	_, _ = rand.Read(b[:])
	return "AAMk" + base64.RawURLEncoding.EncodeToString(b[:])
}

func newChangeKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

func etag(ck string) string { return `W/"` + ck + `"` }

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// validID reports whether s can be an id this emulator issued; Graph
// answers 400 ErrorInvalidIdMalformed for ids that cannot be decoded.
func validID(s string) bool {
	if !strings.HasPrefix(s, "AAMk") || len(s) > 200 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func errMalformedID() *apiError {
	return errBadRequest("ErrorInvalidIdMalformed", "Id is malformed.")
}

// Property schemas: the kinds of the settable properties and the read-only
// ones, so unknown names and wrong types get the 400 Graph gives.
type propKind int

const (
	kString propKind = iota
	kStrings
	kObject
	kObjects
	kBool
	kInt
	kReadOnly
)

var contactSchema = map[string]propKind{
	"birthday": kString, "fileAs": kString, "displayName": kString, "givenName": kString, "initials": kString,
	"middleName": kString, "nickName": kString, "surname": kString, "title": kString, "yomiGivenName": kString,
	"yomiSurname": kString, "yomiCompanyName": kString, "generation": kString, "jobTitle": kString,
	"companyName": kString, "department": kString, "officeLocation": kString, "profession": kString,
	"businessHomePage": kString, "assistantName": kString, "manager": kString, "mobilePhone": kString,
	"spouseName": kString, "personalNotes": kString,
	"categories": kStrings, "imAddresses": kStrings, "homePhones": kStrings, "businessPhones": kStrings, "children": kStrings,
	"emailAddresses": kObjects,
	"homeAddress":    kObject, "businessAddress": kObject, "otherAddress": kObject,
	"id": kReadOnly, "createdDateTime": kReadOnly, "lastModifiedDateTime": kReadOnly, "changeKey": kReadOnly, "parentFolderId": kReadOnly,
}

var eventSchema = map[string]propKind{
	"subject": kString, "importance": kString, "sensitivity": kString, "showAs": kString, "transactionId": kString,
	"originalStartTimeZone": kString, "originalEndTimeZone": kString, "onlineMeetingProvider": kString,
	"isAllDay": kBool, "isReminderOn": kBool, "responseRequested": kBool, "isOnlineMeeting": kBool,
	"allowNewTimeProposals": kBool, "hideAttendees": kBool,
	"reminderMinutesBeforeStart": kInt,
	"categories":                 kStrings,
	"body":                       kObject, "start": kObject, "end": kObject, "location": kObject, "recurrence": kObject, "organizer": kObject,
	"attendees": kObjects, "locations": kObjects,
	"id": kReadOnly, "createdDateTime": kReadOnly, "lastModifiedDateTime": kReadOnly, "changeKey": kReadOnly,
	"bodyPreview": kReadOnly, "iCalUId": kReadOnly, "webLink": kReadOnly, "onlineMeetingUrl": kReadOnly,
	"seriesMasterId": kReadOnly, "type": kReadOnly, "originalStart": kReadOnly, "isCancelled": kReadOnly,
	"isOrganizer": kReadOnly, "hasAttachments": kReadOnly, "isDraft": kReadOnly, "responseStatus": kReadOnly,
	"onlineMeeting": kReadOnly,
}

func knownProps(schema map[string]propKind) map[string]bool {
	m := map[string]bool{}
	for k := range schema {
		m[k] = true
	}
	return m
}

var (
	contactProps = knownProps(contactSchema)
	eventProps   = knownProps(eventSchema)
)

// decodeBody reads a JSON object request body.
func decodeBody(r *http.Request) (map[string]any, *apiError) {
	var m map[string]any
	d := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	if err := d.Decode(&m); err != nil || m == nil || d.More() {
		return nil, errBadRequest("BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
	}
	return m, nil
}

// cleanProps checks a request body against a schema and returns the
// settable properties. Read-only properties and annotations are dropped,
// as Graph ignores them; unknown ones and wrong types are errors.
func cleanProps(body map[string]any, schema map[string]propKind, typeName string) (map[string]any, *apiError) {
	out := map[string]any{}
	for k, v := range body {
		if strings.HasPrefix(k, "@") {
			continue
		}
		kind, ok := schema[k]
		if !ok {
			return nil, errBadRequest("RequestBodyRead", fmt.Sprintf("The property '%s' does not exist on type '%s'. Make sure to only use property names that are defined by the type or mark the type as open type.", truncate(k, 64), typeName))
		}
		if kind == kReadOnly {
			continue
		}
		if v != nil && !kindOK(kind, v) {
			return nil, errBadRequest("RequestBodyRead", fmt.Sprintf("Cannot convert the value of property '%s' to the type it has on '%s'.", k, typeName))
		}
		out[k] = v
	}
	return out, nil
}

func kindOK(k propKind, v any) bool {
	switch k {
	case kString:
		_, ok := v.(string)
		return ok
	case kBool:
		_, ok := v.(bool)
		return ok
	case kInt:
		f, ok := v.(float64)
		return ok && f == float64(int64(f))
	case kObject:
		_, ok := v.(map[string]any)
		return ok
	case kStrings, kObjects:
		list, ok := v.([]any)
		if !ok {
			return false
		}
		for _, x := range list {
			if k == kStrings {
				if _, ok := x.(string); !ok {
					return false
				}
			} else if _, ok := x.(map[string]any); !ok {
				return false
			}
		}
		return true
	}
	return false
}

func validateContact(p map[string]any) *apiError {
	if list, ok := p["emailAddresses"].([]any); ok {
		if len(list) > 3 {
			return errBadRequest("ErrorInvalidArgument", "A contact can have at most 3 email addresses.")
		}
		for _, x := range list {
			m := x.(map[string]any)
			for k, v := range m {
				if k != "address" && k != "name" {
					return errBadRequest("RequestBodyRead", fmt.Sprintf("The property '%s' does not exist on type 'microsoft.graph.emailAddress'.", truncate(k, 64)))
				}
				if _, ok := v.(string); !ok && v != nil {
					return errBadRequest("RequestBodyRead", "emailAddress."+k+" must be a string.")
				}
			}
		}
	}
	return nil
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+12)
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (u *user) nextOrder() int64 { u.order++; return u.order }

// --- contacts ---

func (it *item) renderContact() map[string]any {
	m := copyMap(it.props)
	m["@odata.etag"] = etag(it.changeKey)
	m["id"] = it.id
	m["changeKey"] = it.changeKey
	m["createdDateTime"] = isoTime(it.created)
	m["lastModifiedDateTime"] = isoTime(it.modified)
	m["parentFolderId"] = it.folder
	if _, ok := m["displayName"]; !ok {
		g, _ := it.props["givenName"].(string)
		sn, _ := it.props["surname"].(string)
		m["displayName"] = strings.TrimSpace(g + " " + sn)
	}
	for k, kind := range contactSchema {
		if _, ok := m[k]; !ok {
			switch kind {
			case kStrings, kObjects:
				m[k] = []any{}
			case kReadOnly:
			default:
				m[k] = nil
			}
		}
	}
	return m
}

func (u *user) createContact(folder string, body map[string]any, now time.Time) (*item, *apiError) {
	p, e := cleanProps(body, contactSchema, "microsoft.graph.contact")
	if e != nil {
		return nil, e
	}
	if e := validateContact(p); e != nil {
		return nil, e
	}
	it := &item{id: newID(), props: p, changeKey: newChangeKey(), created: now, modified: now, order: u.nextOrder(), folder: folder}
	u.contacts[it.id] = it
	return it, nil
}

func (u *user) contact(id, folder string) (*item, *apiError) {
	if !validID(id) {
		return nil, errMalformedID()
	}
	it := u.contacts[id]
	if it == nil || (folder != "" && it.folder != folder) {
		return nil, errNotFound()
	}
	return it, nil
}

func checkIfMatch(h http.Header, ck string) *apiError {
	want, anyMatch, present := ifMatch(h)
	if present && !anyMatch && want != ck {
		return errConflict()
	}
	return nil
}

func (u *user) updateContact(id, folder string, body map[string]any, h http.Header, now time.Time) (*item, *apiError) {
	it, e := u.contact(id, folder)
	if e != nil {
		return nil, e
	}
	if e := checkIfMatch(h, it.changeKey); e != nil {
		return nil, e
	}
	p, e := cleanProps(body, contactSchema, "microsoft.graph.contact")
	if e != nil {
		return nil, e
	}
	merged := copyMap(it.props)
	for k, v := range p {
		merged[k] = v
	}
	if e := validateContact(merged); e != nil {
		return nil, e
	}
	it.props, it.changeKey, it.modified = merged, newChangeKey(), now
	return it, nil
}

func (u *user) deleteContact(id, folder string, h http.Header) *apiError {
	it, e := u.contact(id, folder)
	if e != nil {
		return e
	}
	if e := checkIfMatch(h, it.changeKey); e != nil {
		return e
	}
	delete(u.contacts, id)
	return nil
}

// contactsIn lists a folder's contacts in creation order.
func (u *user) contactsIn(folder string) []*item {
	var out []*item
	for _, it := range u.contacts {
		if it.folder == folder {
			out = append(out, it)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].order < out[j].order })
	return out
}

// --- events ---

// applyEventProps validates merged event properties and sets the derived
// fields (start, end, time zones, recurrence) on it.
func applyEventProps(it *item, p map[string]any) *apiError {
	if p["start"] == nil || p["end"] == nil {
		return errBadRequest("ErrorInvalidRequest", "Your request can't be completed. An event needs start and end.")
	}
	st, stz, err := parseDateTimeTimeZone(p["start"])
	if err != nil {
		return errBadRequest("ErrorInvalidRequest", "start: "+err.Error())
	}
	en, etz, err := parseDateTimeTimeZone(p["end"])
	if err != nil {
		return errBadRequest("ErrorInvalidRequest", "end: "+err.Error())
	}
	if en.Before(st) {
		return errBadRequest("ErrorInvalidRequest", "Your request can't be completed. The end time must be at or after the start time.")
	}
	if allDay, _ := p["isAllDay"].(bool); allDay && !allDayTimes(st, en, stz, etz) {
		// The event resource: with isAllDay "start and end time must be
		// set to midnight and be in the same time zone".
		return errBadRequest("ErrorInvalidRequest", "Your request can't be completed. An all-day event must start and end at midnight in one time zone.")
	}
	var rc *recurrence
	if rv := p["recurrence"]; rv != nil {
		if it.typ == "exception" {
			return errBadRequest("ErrorInvalidRequest", "An occurrence or exception of a series cannot have a recurrence.")
		}
		if rc, err = parseRecurrence(rv, stz); err != nil {
			return errBadRequest("ErrorInvalidRequest", "recurrence: "+err.Error())
		}
	}
	it.start, it.end, it.startTZ, it.endTZ, it.rec = st, en, stz, etz, rc
	if it.typ != "exception" {
		if rc != nil {
			it.typ = "seriesMaster"
		} else {
			it.typ = "singleInstance"
		}
	}
	return nil
}

// allDayTimes reports whether [st, en) are midnights in one zone, as an
// all-day event needs.
func allDayTimes(st, en time.Time, stz, etz string) bool {
	ls, err1 := loadZone(stz)
	le, err2 := loadZone(etz)
	if err1 != nil || err2 != nil || ls.String() != le.String() || !en.After(st) {
		return false
	}
	for _, t := range []time.Time{st.In(ls), en.In(ls)} {
		if h, m, s := t.Clock(); h != 0 || m != 0 || s != 0 || t.Nanosecond() != 0 {
			return false
		}
	}
	return true
}

func (it *item) renderEvent() map[string]any {
	m := copyMap(it.props)
	m["@odata.etag"] = etag(it.changeKey)
	m["id"] = it.id
	m["changeKey"] = it.changeKey
	m["createdDateTime"] = isoTime(it.created)
	m["lastModifiedDateTime"] = isoTime(it.modified)
	m["type"] = it.typ
	m["start"] = formatDateTime(it.start)
	m["end"] = formatDateTime(it.end)
	m["originalStartTimeZone"] = it.startTZ
	m["originalEndTimeZone"] = it.endTZ
	m["isCancelled"] = false
	m["iCalUId"] = "040000008200E00074C5B7101A82E008" + strings.ToUpper(base64.RawURLEncoding.EncodeToString([]byte(it.id))[:16])
	m["seriesMasterId"] = nil
	if it.typ == "exception" {
		m["seriesMasterId"] = it.masterID
		m["originalStart"] = isoTime(it.originalStart)
	}
	if it.typ != "seriesMaster" {
		m["recurrence"] = nil
	}
	if _, ok := m["subject"]; !ok {
		m["subject"] = ""
	}
	if _, ok := m["transactionId"]; !ok {
		m["transactionId"] = nil
	}
	return m
}

// occurrence ids: the master id, '.', the original start in UTC.
const occLayout = "20060102T150405Z"

func occurrenceID(masterID string, t time.Time) string {
	return masterID + "." + t.UTC().Format(occLayout)
}

func splitOccurrenceID(id string) (master string, t time.Time, ok bool) {
	i := strings.LastIndexByte(id, '.')
	if i < 0 {
		return "", time.Time{}, false
	}
	t, err := time.Parse(occLayout, id[i+1:])
	if err != nil {
		return "", time.Time{}, false
	}
	return id[:i], t, true
}

func (m *item) renderOccurrence(t time.Time) map[string]any {
	out := m.renderEvent()
	out["id"] = occurrenceID(m.id, t)
	out["@odata.etag"] = etag(m.seriesCK)
	out["changeKey"] = m.seriesCK
	out["type"] = "occurrence"
	out["seriesMasterId"] = m.id
	out["originalStart"] = isoTime(t)
	out["start"] = formatDateTime(t)
	out["end"] = formatDateTime(m.occurrenceEnd(t))
	out["recurrence"] = nil
	out["transactionId"] = nil
	return out
}

// occurrenceEnd is the end of the occurrence starting at t: the master's
// length, or for an all-day series as many midnights later in the series
// zone (a day across a DST change is 23 or 25 hours).
func (m *item) occurrenceEnd(t time.Time) time.Time {
	if allDay, _ := m.props["isAllDay"].(bool); allDay && m.rec != nil {
		loc := m.rec.loc
		ls := t.In(loc)
		days := int(m.end.Sub(m.start).Hours()/24 + 0.5)
		return time.Date(ls.Year(), ls.Month(), ls.Day()+days, 0, 0, 0, 0, loc)
	}
	return t.Add(m.end.Sub(m.start))
}

// isOccurrence reports whether t is an original start of the series.
func (m *item) isOccurrence(t time.Time) bool {
	found := false
	m.rec.each(m.start, t.Add(time.Second), func(o time.Time) bool {
		if o.Equal(t) {
			found = true
			return false
		}
		return true
	})
	return found
}

func (u *user) createEvent(body map[string]any, now time.Time) (*item, bool, *apiError) {
	p, e := cleanProps(body, eventSchema, "microsoft.graph.event")
	if e != nil {
		return nil, false, e
	}
	tid, _ := p["transactionId"].(string)
	if tid != "" {
		if id, ok := u.txn[tid]; ok {
			if it := u.events[id]; it != nil {
				return it, false, nil
			}
		}
	}
	it := &item{id: newID(), props: p, changeKey: newChangeKey(), created: now, modified: now, order: u.nextOrder()}
	if e := applyEventProps(it, p); e != nil {
		return nil, false, e
	}
	it.seriesCK = it.changeKey
	u.events[it.id] = it
	if tid != "" {
		u.txn[tid] = it.id
	}
	return it, true, nil
}

// resolveEvent finds a stored event, or a virtual occurrence of a series
// (then it is nil and master/orig are set).
func (u *user) resolveEvent(id string) (it, master *item, orig time.Time, e *apiError) {
	if !validID(id) {
		return nil, nil, time.Time{}, errMalformedID()
	}
	if it := u.events[id]; it != nil {
		return it, nil, time.Time{}, nil
	}
	mid, t, ok := splitOccurrenceID(id)
	if !ok {
		return nil, nil, time.Time{}, errNotFound()
	}
	m := u.events[mid]
	if m == nil || m.typ != "seriesMaster" || m.cancelled[t.Unix()] || !m.isOccurrence(t) {
		return nil, nil, time.Time{}, errNotFound()
	}
	return nil, m, t, nil
}

func (u *user) getEvent(id string) (map[string]any, *apiError) {
	it, m, t, e := u.resolveEvent(id)
	if e != nil {
		return nil, e
	}
	if it != nil {
		return it.renderEvent(), nil
	}
	return m.renderOccurrence(t), nil
}

func (u *user) updateEvent(id string, body map[string]any, h http.Header, now time.Time) (map[string]any, *apiError) {
	it, m, t, e := u.resolveEvent(id)
	if e != nil {
		return nil, e
	}
	p, e := cleanProps(body, eventSchema, "microsoft.graph.event")
	if e != nil {
		return nil, e
	}
	if it == nil {
		// Updating an occurrence makes it an exception with the same id.
		if e := checkIfMatch(h, m.seriesCK); e != nil {
			return nil, e
		}
		base := copyMap(m.props)
		delete(base, "recurrence")
		delete(base, "transactionId")
		base["start"] = map[string]any{"dateTime": t.UTC().Format("2006-01-02T15:04:05"), "timeZone": "UTC"}
		base["end"] = map[string]any{"dateTime": t.Add(m.end.Sub(m.start)).UTC().Format("2006-01-02T15:04:05"), "timeZone": "UTC"}
		if allDay, _ := m.props["isAllDay"].(bool); allDay {
			// An all-day occurrence keeps its midnights in the series zone.
			loc := m.rec.loc
			base["start"] = map[string]any{"dateTime": t.In(loc).Format("2006-01-02T15:04:05"), "timeZone": loc.String()}
			base["end"] = map[string]any{"dateTime": m.occurrenceEnd(t).Format("2006-01-02T15:04:05"), "timeZone": loc.String()}
		}
		for k, v := range p {
			base[k] = v
		}
		ex := &item{id: id, props: base, changeKey: newChangeKey(), created: now, modified: now, order: u.nextOrder(),
			typ: "exception", masterID: m.id, originalStart: t}
		if e := applyEventProps(ex, base); e != nil {
			return nil, e
		}
		ex.seriesCK = ex.changeKey
		u.events[id] = ex
		if m.exceptions == nil {
			m.exceptions = map[int64]string{}
		}
		m.exceptions[t.Unix()] = id
		return ex.renderEvent(), nil
	}
	if e := checkIfMatch(h, it.changeKey); e != nil {
		return nil, e
	}
	merged := copyMap(it.props)
	for k, v := range p {
		merged[k] = v
	}
	oldRec := it.props["recurrence"]
	next := *it
	if e := applyEventProps(&next, merged); e != nil {
		return nil, e
	}
	if tid, ok := p["transactionId"].(string); ok && tid != "" {
		u.txn[tid] = it.id
	}
	*it = next
	it.props, it.changeKey, it.modified = merged, newChangeKey(), now
	it.seriesCK = it.changeKey
	if it.typ != "seriesMaster" || !reflect.DeepEqual(oldRec, merged["recurrence"]) {
		// A new pattern (or none) drops the old exceptions and cancellations,
		// as Outlook does when a series is re-patterned.
		for _, xid := range it.exceptions {
			delete(u.events, xid)
		}
		it.exceptions, it.cancelled = nil, nil
	}
	return it.renderEvent(), nil
}

func (u *user) deleteEvent(id string, h http.Header, now time.Time) *apiError {
	it, m, t, e := u.resolveEvent(id)
	if e != nil {
		return e
	}
	if it == nil {
		if e := checkIfMatch(h, m.seriesCK); e != nil {
			return e
		}
		m.cancelOccurrence(t, now)
		return nil
	}
	if e := checkIfMatch(h, it.changeKey); e != nil {
		return e
	}
	switch it.typ {
	case "exception":
		delete(u.events, id)
		if mm := u.events[it.masterID]; mm != nil {
			delete(mm.exceptions, it.originalStart.Unix())
			mm.cancelOccurrence(it.originalStart, now)
		}
	case "seriesMaster":
		for _, xid := range it.exceptions {
			delete(u.events, xid)
		}
		delete(u.events, id)
	default:
		delete(u.events, id)
	}
	if tid, ok := it.props["transactionId"].(string); ok && u.txn[tid] == id {
		delete(u.txn, tid)
	}
	return nil
}

func (m *item) cancelOccurrence(t, now time.Time) {
	if m.cancelled == nil {
		m.cancelled = map[int64]bool{}
	}
	m.cancelled[t.Unix()] = true
	m.changeKey, m.modified = newChangeKey(), now
}

// instance is one event as a calendar view shows it.
type instance struct {
	id    string
	ck    string
	start time.Time
	body  func() map[string]any
}

// calendarView expands the calendar over [ws,we): single instances,
// occurrences and exceptions overlapping it, and with masters the series
// masters that have an instance in it (calendarView/delta returns them).
func (u *user) calendarView(ws, we time.Time, masters bool) []instance {
	var out []instance
	for _, it := range u.events {
		switch it.typ {
		case "singleInstance":
			if overlaps(it.start, it.end, ws, we) {
				out = append(out, instance{it.id, it.changeKey, it.start, it.renderEvent})
			}
		case "seriesMaster":
			m := it
			hit := false
			m.rec.each(m.start, we, func(t time.Time) bool {
				k := t.Unix()
				if m.cancelled[k] || m.exceptions[k] != "" {
					return true
				}
				if overlaps(t, m.occurrenceEnd(t), ws, we) {
					tt := t
					out = append(out, instance{occurrenceID(m.id, t), m.seriesCK, t, func() map[string]any { return m.renderOccurrence(tt) }})
					hit = true
				}
				return true
			})
			for _, xid := range m.exceptions {
				x := u.events[xid]
				if x != nil && overlaps(x.start, x.end, ws, we) {
					out = append(out, instance{x.id, x.changeKey, x.start, x.renderEvent})
					hit = true
				}
			}
			if hit && masters {
				out = append(out, instance{m.id, m.changeKey, m.start, m.renderEvent})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].start.Equal(out[j].start) {
			return out[i].start.Before(out[j].start)
		}
		return out[i].id < out[j].id
	})
	return out
}

// topLevelEvents lists single instances and series masters (what
// /events returns), in creation order.
func (u *user) topLevelEvents() []*item {
	var out []*item
	for _, it := range u.events {
		if it.typ != "exception" {
			out = append(out, it)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].order < out[j].order })
	return out
}

var errUnknownUser = errors.New("unknown user")
