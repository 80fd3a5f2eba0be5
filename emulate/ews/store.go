package ews

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

type mailbox struct {
	smtp    string
	name    string
	folders map[string]*folder // by distinguished name
}

type folder struct {
	id    string
	name  string // contacts | calendar
	class string // Contact | CalendarItem
	mbox  *mailbox
	items map[string]*item // live and deleted (tombstones) by id
}

type item struct {
	id, changeKey string
	class         string // Contact | CalendarItem
	folder        *folder
	createdSeq    uint64
	lastSeq       uint64
	deleted       bool
	created       time.Time
	modified      time.Time
	props         map[string]string // simple properties by element name
	bodyType      string
	emails        map[string]string
	phones        map[string]string
	attendees     []string
	x             *itemExt     // properties added in extensions.go
	series        *seriesState // a RecurringMaster's exceptions and deletions
	master        *item        // an Exception's master, or an occurrence's
	instance      int          // its InstanceIndex
}

// ewsError is a failed operation: a per-item response message, or a SOAP
// fault when fault is set (schema errors).
type ewsError struct {
	code, msg string
	fault     bool
}

func (e *ewsError) Error() string { return e.code + ": " + e.msg }

func schemaErr(format string, a ...any) *ewsError {
	return &ewsError{code: "ErrorSchemaValidation", msg: "The request failed schema validation: " + fmt.Sprintf(format, a...), fault: true}
}

var (
	errItemNotFound = &ewsError{code: "ErrorItemNotFound", msg: "The specified object was not found in the store."}
	errIDMalformed  = &ewsError{code: "ErrorInvalidIdMalformed", msg: "Id is malformed."}
)

// Element order of the properties this emulator supports, as in the
// ItemType/ContactItemType/CalendarItemType sequences of types.xsd. Exchange
// rejects out-of-order children, so the emulator does too.
var (
	baseOrder     = []string{"ItemId", "ParentFolderId", "ItemClass", "Subject", "Sensitivity", "Body", "Categories", "DateTimeCreated", "ExtendedProperty", "LastModifiedTime"}
	contactOrder  = append(slices.Clone(baseOrder), "FileAs", "DisplayName", "GivenName", "MiddleName", "CompanyName", "EmailAddresses", "PhysicalAddresses", "PhoneNumbers", "Department", "JobTitle", "Surname")
	calendarOrder = append(slices.Clone(baseOrder), "UID", "Start", "End", "OriginalStart", "IsAllDayEvent", "LegacyFreeBusyStatus", "Location", "IsMeeting", "IsRecurring", "CalendarItemType", "MyResponseType", "Organizer", "RequiredAttendees", "OptionalAttendees", "Recurrence", "FirstOccurrence", "LastOccurrence", "ModifiedOccurrences", "DeletedOccurrences", "StartTimeZone", "EndTimeZone")
	readOnlyProps = map[string]bool{"ItemId": true, "ParentFolderId": true, "ItemClass": true, "DateTimeCreated": true, "LastModifiedTime": true, "IsMeeting": true, "IsRecurring": true, "CalendarItemType": true, "MyResponseType": true, "Organizer": true,
		"OriginalStart": true, "FirstOccurrence": true, "LastOccurrence": true, "ModifiedOccurrences": true, "DeletedOccurrences": true}
	emailKeys = map[string]bool{"EmailAddress1": true, "EmailAddress2": true, "EmailAddress3": true}
	phoneKeys = map[string]bool{"AssistantPhone": true, "BusinessFax": true, "BusinessPhone": true, "BusinessPhone2": true, "Callback": true,
		"CarPhone": true, "CompanyMainPhone": true, "HomeFax": true, "HomePhone": true, "HomePhone2": true, "Isdn": true, "MobilePhone": true,
		"OtherFax": true, "OtherTelephone": true, "Pager": true, "PrimaryPhone": true, "RadioPhone": true, "Telex": true, "TtyTddPhone": true}
	enumValues = map[string][]string{
		"Sensitivity":          {"Normal", "Personal", "Private", "Confidential"},
		"LegacyFreeBusyStatus": {"Free", "Tentative", "Busy", "OOF", "WorkingElsewhere", "NoData"},
	}
)

func orderFor(class string) []string {
	if class == "Contact" {
		return contactOrder
	}
	return calendarOrder
}

// itemPatch is the set of properties carried by a t:Contact/t:CalendarItem.
type itemPatch struct {
	set       []string // element names present, in order
	props     map[string]string
	bodyType  string
	emails    map[string]string
	phones    map[string]string
	attendees []string
	x         *patchExt // properties added in extensions.go
}

const ewsTime = "2006-01-02T15:04:05Z"

// parseItem validates n against the schema order and types.
func parseItem(n *Node, class string) (*itemPatch, *ewsError) {
	order := orderFor(class)
	p := &itemPatch{props: map[string]string{}}
	last := -1
	for _, k := range n.Kids {
		if k.Space != NSTypes {
			return nil, schemaErr("The element '%s' in namespace '%s' has invalid child element '%s'.", class, NSTypes, truncate(k.Local, 40))
		}
		idx := slices.Index(order, k.Local)
		if idx < 0 || idx < last || idx == last && !repeatable[k.Local] {
			return nil, schemaErr("The element '%s' in namespace '%s' has invalid child element '%s' in namespace '%s'.", class, NSTypes, truncate(k.Local, 40), NSTypes)
		}
		last = idx
		p.set = append(p.set, k.Local)
		switch k.Local {
		case "Body":
			bt, _ := k.AttrValue("BodyType")
			if bt != "Text" && bt != "HTML" {
				return nil, schemaErr("The 'BodyType' attribute is invalid.")
			}
			p.bodyType = bt
			p.props["Body"] = k.Text
		case "EmailAddresses", "PhoneNumbers":
			m := map[string]string{}
			keys := emailKeys
			if k.Local == "PhoneNumbers" {
				keys = phoneKeys
			}
			for _, e := range k.Kids {
				key, _ := e.AttrValue("Key")
				if e.Space != NSTypes || e.Local != "Entry" || !keys[key] {
					return nil, schemaErr("The '%s' entry key '%s' is invalid.", k.Local, truncate(key, 40))
				}
				m[key] = e.Text
			}
			if k.Local == "EmailAddresses" {
				p.emails = m
			} else {
				p.phones = m
			}
		case "RequiredAttendees":
			for _, a := range k.Children(NSTypes, "Attendee") {
				addr := a.Child(NSTypes, "Mailbox").Child(NSTypes, "EmailAddress")
				if addr == nil || addr.Text == "" {
					return nil, schemaErr("Attendee without Mailbox/EmailAddress.")
				}
				p.attendees = append(p.attendees, addr.Text)
			}
		case "Categories", "ExtendedProperty", "PhysicalAddresses", "OptionalAttendees", "Recurrence", "StartTimeZone", "EndTimeZone":
			if err := p.parseExt(k); err != nil {
				return nil, err
			}
		case "Start", "End":
			t, err := time.Parse(time.RFC3339, k.Text)
			if err != nil {
				return nil, schemaErr("The '%s' element is invalid - The value '%s' is invalid according to its datatype 'http://www.w3.org/2001/XMLSchema:dateTime'.", k.Local, truncate(k.Text, 40))
			}
			p.props[k.Local] = t.UTC().Format(ewsTime)
		case "IsAllDayEvent":
			if k.Text != "true" && k.Text != "false" {
				return nil, schemaErr("The 'IsAllDayEvent' element is invalid - The value '%s' is invalid according to its datatype 'boolean'.", truncate(k.Text, 40))
			}
			p.props[k.Local] = k.Text
		default:
			if vals, ok := enumValues[k.Local]; ok && !slices.Contains(vals, k.Text) {
				return nil, schemaErr("The '%s' element is invalid - The value '%s' is invalid according to its datatype.", k.Local, truncate(k.Text, 40))
			}
			p.props[k.Local] = k.Text
		}
	}
	return p, nil
}

// apply writes p onto it; read-only properties are refused.
func (p *itemPatch) apply(it *item) *ewsError {
	for _, name := range p.set {
		if readOnlyProps[name] {
			return &ewsError{code: "ErrorInvalidPropertySet", msg: "Set action is invalid for property."}
		}
	}
	for _, name := range p.set {
		switch name {
		case "EmailAddresses":
			if it.emails == nil {
				it.emails = map[string]string{}
			}
			for k, v := range p.emails {
				it.emails[k] = v
			}
		case "PhoneNumbers":
			if it.phones == nil {
				it.phones = map[string]string{}
			}
			for k, v := range p.phones {
				it.phones[k] = v
			}
		case "RequiredAttendees":
			it.attendees = slices.Clone(p.attendees)
		case "Categories", "ExtendedProperty", "PhysicalAddresses", "OptionalAttendees", "Recurrence", "StartTimeZone", "EndTimeZone":
			p.applyExt(it, name)
		case "Body":
			it.props["Body"] = p.props["Body"]
			it.bodyType = p.bodyType
		default:
			it.props[name] = p.props[name]
		}
	}
	return nil
}

// validateItem checks cross-field rules after a create or update.
func validateItem(it *item) *ewsError {
	if it.class != "CalendarItem" {
		if it.props["DisplayName"] == "" {
			it.props["DisplayName"] = strings.TrimSpace(it.props["GivenName"] + " " + it.props["Surname"])
		}
		return nil
	}
	start, err1 := time.Parse(ewsTime, it.props["Start"])
	end, err2 := time.Parse(ewsTime, it.props["End"])
	if err1 != nil || err2 != nil {
		return &ewsError{code: "ErrorInvalidRequest", msg: "Start and End are required for a calendar item."}
	}
	if end.Before(start) {
		return &ewsError{code: "ErrorCalendarEndDateIsEarlierThanStartDate", msg: "EndDate is earlier than StartDate"}
	}
	if it.props["IsAllDayEvent"] == "" {
		it.props["IsAllDayEvent"] = "false"
	}
	if it.props["LegacyFreeBusyStatus"] == "" {
		it.props["LegacyFreeBusyStatus"] = "Busy"
	}
	return nil
}

func randomB64(prefix []byte, n int) string {
	b := make([]byte, len(prefix)+n)
	copy(b, prefix)
	if _, err := rand.Read(b[len(prefix):]); err != nil {
		panic("ews emulator: crypto/rand failed: " + err.Error())
	}
	return base64.StdEncoding.EncodeToString(b)
}

// Ids look like Exchange's ("AAMk..."): base64 of opaque bytes.
func newItemID() string   { return randomB64([]byte{0x00, 0x03, 0x24}, 45) }
func newFolderID() string { return randomB64([]byte{0x00, 0x03, 0x2e}, 33) }
func newChangeKey() string {
	return randomB64([]byte{0x0d, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00}, 12)
}

func validID(id string) bool {
	b, err := base64.StdEncoding.DecodeString(id)
	return err == nil && len(b) >= 8 && len(id) <= 512
}

// newItemLocked stores a new item in f and returns it.
func (s *Server) newItemLocked(f *folder, class string, p *itemPatch) (*item, *ewsError) {
	now := s.clk.Now().UTC()
	it := &item{id: newItemID(), changeKey: newChangeKey(), class: class, folder: f, props: map[string]string{}, created: now, modified: now}
	if err := p.apply(it); err != nil {
		return nil, err
	}
	if class == "CalendarItem" {
		it.props["CalendarItemType"] = "Single"
		it.props["Organizer"] = f.mbox.smtp
		it.props["IsMeeting"] = fmt.Sprint(len(it.attendees) > 0)
		if it.props["UID"] == "" {
			it.props["UID"] = strings.ToUpper(randomHex(16))
		}
		markRecurring(it)
	}
	if err := validateItem(it); err != nil {
		return nil, err
	}
	if err := s.settleSeriesLocked(it); err != nil {
		return nil, err
	}
	s.seq++
	it.createdSeq, it.lastSeq = s.seq, s.seq
	f.items[it.id] = it
	s.itemsByID[it.id] = it
	return it, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("ews emulator: crypto/rand failed: " + err.Error())
	}
	return fmt.Sprintf("%x", b)
}

func (s *Server) touchLocked(it *item) {
	s.seq++
	it.lastSeq = s.seq
	it.changeKey = newChangeKey()
	it.modified = s.clk.Now().UTC()
}

func (s *Server) deleteItemLocked(it *item) {
	s.dropExceptionsLocked(it)
	s.seq++
	it.lastSeq = s.seq
	it.deleted = true
	delete(s.itemsByID, it.id)
}

// ---- sync state ----

// syncState is what a SyncState blob carries; the blob is authenticated
// so a client cannot forge a watermark.
type syncState struct {
	folderID string
	wm       uint64
	gen      uint64
}

func (s *Server) encodeState(st syncState) string {
	var b []byte
	b = append(b, 1)
	b = binary.BigEndian.AppendUint64(b, st.wm)
	b = binary.BigEndian.AppendUint64(b, st.gen)
	b = append(b, st.folderID...)
	m := hmac.New(sha256.New, s.stateKey)
	m.Write(b)
	return base64.StdEncoding.EncodeToString(append(b, m.Sum(nil)[:16]...))
}

var errBadState = errors.New("invalid sync state")

func (s *Server) decodeState(blob string) (syncState, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(blob))
	if err != nil || len(b) < 1+16+16 || b[0] != 1 {
		return syncState{}, errBadState
	}
	body, mac := b[:len(b)-16], b[len(b)-16:]
	m := hmac.New(sha256.New, s.stateKey)
	m.Write(body)
	if !hmac.Equal(mac, m.Sum(nil)[:16]) {
		return syncState{}, errBadState
	}
	return syncState{wm: binary.BigEndian.Uint64(body[1:9]), gen: binary.BigEndian.Uint64(body[9:17]), folderID: string(body[17:])}, nil
}

// changesSince returns the collapsed changes after wm, oldest first, with
// the sequence number each one is anchored at.
type syncChange struct {
	kind string // Create | Update | Delete
	it   *item
}

func changesSince(f *folder, wm uint64) []syncChange {
	var touched []*item
	for _, it := range f.items {
		if it.lastSeq > wm {
			touched = append(touched, it)
		}
	}
	sort.Slice(touched, func(i, j int) bool { return touched[i].lastSeq < touched[j].lastSeq })
	out := make([]syncChange, 0, len(touched))
	for _, it := range touched {
		switch {
		case it.deleted && it.createdSeq > wm:
			out = append(out, syncChange{kind: "", it: it}) // born and gone since: nothing to report
		case it.deleted:
			out = append(out, syncChange{kind: "Delete", it: it})
		case it.createdSeq > wm:
			out = append(out, syncChange{kind: "Create", it: it})
		default:
			out = append(out, syncChange{kind: "Update", it: it})
		}
	}
	return out
}

// ---- rendering ----

// writeItem renders it for the given BaseShape; body controls whether Body
// is included (FindItem and SyncFolderItems never return it).
func writeItem(x *xw, it *item, shape string, body bool, ext ...extKey) {
	tag := "t:" + it.class
	x.open(tag)
	x.empty("t:ItemId", "Id", it.id, "ChangeKey", it.changeKey)
	if shape == "IdOnly" {
		// AdditionalProperties come with any BaseShape.
		writeExt(x, it, "ExtendedProperty", ext)
		x.close(tag)
		return
	}
	for _, name := range orderFor(it.class)[1:] {
		if writeExt(x, it, name, ext) || writeSeriesProp(x, it, name) {
			continue
		}
		switch name {
		case "ParentFolderId":
			x.empty("t:ParentFolderId", "Id", it.folder.id, "ChangeKey", "AQAAAA==")
		case "ItemClass":
			if it.class == "Contact" {
				x.elem("t:ItemClass", "IPM.Contact")
			} else {
				x.elem("t:ItemClass", "IPM.Appointment")
			}
		case "Body":
			if body {
				bt := it.bodyType
				if bt == "" {
					bt = "Text"
				}
				x.elem("t:Body", it.props["Body"], "BodyType", bt)
			}
		case "Subject":
			subj := it.props["Subject"]
			if it.class == "Contact" && subj == "" {
				subj = it.props["DisplayName"]
			}
			if subj != "" {
				x.elem("t:Subject", subj)
			}
		case "DateTimeCreated":
			x.elem("t:DateTimeCreated", it.created.Format(ewsTime))
		case "LastModifiedTime":
			x.elem("t:LastModifiedTime", it.modified.Format(ewsTime))
		case "EmailAddresses", "PhoneNumbers":
			m := it.emails
			if name == "PhoneNumbers" {
				m = it.phones
			}
			if len(m) == 0 {
				continue
			}
			x.open("t:" + name)
			for _, k := range sortedKeys(m) {
				x.elem("t:Entry", m[k], "Key", k)
			}
			x.close("t:" + name)
		case "Organizer":
			x.open("t:Organizer")
			writeMailbox(x, it.props["Organizer"])
			x.close("t:Organizer")
		case "RequiredAttendees":
			if len(it.attendees) == 0 {
				continue
			}
			x.open("t:RequiredAttendees")
			for _, a := range it.attendees {
				x.open("t:Attendee")
				writeMailbox(x, a)
				x.elem("t:ResponseType", "Unknown")
				x.close("t:Attendee")
			}
			x.close("t:RequiredAttendees")
		default:
			if v, ok := it.props[name]; ok && v != "" {
				x.elem("t:"+name, v)
			}
		}
	}
	x.close(tag)
}

func writeMailbox(x *xw, addr string) {
	x.open("t:Mailbox")
	x.elem("t:Name", addr)
	x.elem("t:EmailAddress", addr)
	x.elem("t:RoutingType", "SMTP")
	x.close("t:Mailbox")
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
