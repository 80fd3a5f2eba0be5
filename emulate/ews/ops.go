package ews

import (
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

var knownVersions = map[string]bool{"Exchange2007": true, "Exchange2007_SP1": true, "Exchange2010": true, "Exchange2010_SP1": true,
	"Exchange2010_SP2": true, "Exchange2013": true, "Exchange2013_SP1": true, "Exchange2015": true, "Exchange2016": true, "V2015_10_05": true,
	"V2016_01_06": true, "V2016_04_13": true, "V2016_07_13": true, "V2016_10_10": true, "V2017_01_07": true, "V2017_04_14": true,
	"V2017_07_11": true}

type opFunc func(s *Server, mb *mailbox, op *Node) (string, *ewsError)

var operations = map[string]opFunc{
	"SyncFolderItems": (*Server).syncFolderItems,
	"GetItem":         (*Server).getItem,
	"CreateItem":      (*Server).createItem,
	"UpdateItem":      (*Server).updateItem,
	"DeleteItem":      (*Server).deleteItem,
	"FindItem":        (*Server).findItem,
}

// Operations lists the EWS operations the emulator implements.
func Operations() []string {
	out := make([]string, 0, len(operations))
	for k := range operations {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (s *Server) dispatch(w http.ResponseWriter, acct *account, req *Request) {
	if req.Version != "" && !knownVersions[req.Version] {
		writeFault(w, "ErrorInvalidServerVersion", "The specified server version is invalid.", nil)
		return
	}
	fn := operations[req.Operation]
	if fn == nil {
		writeFault(w, "ErrorInvalidRequest", "The request is invalid.", nil)
		return
	}
	if req.Impersonation == nil {
		// A service account has no mailbox of its own.
		rb := newResp(req.Operation)
		rb.fail(&ewsError{code: "ErrorMissingEmailAddress", msg: "When making a request as an account that does not have a mailbox, you must specify the mailbox primary SMTP address for any distinguished folder Ids."})
		writeEnvelope(w, http.StatusOK, rb.done())
		return
	}
	addr := strings.ToLower(req.Impersonation.Address())
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.mailboxes[addr]
	if mb == nil {
		writeFault(w, "ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.", [][2]string{{"SmtpAddress", truncate(req.Impersonation.Address(), 320)}})
		return
	}
	if !acct.impersonateAll && !acct.grants[addr] {
		writeFault(w, "ErrorImpersonateUserDenied", "The account does not have permission to impersonate the requested user.", nil)
		return
	}
	body, err := fn(s, mb, req.Body)
	if err != nil {
		if err.fault {
			writeFault(w, err.code, err.msg, nil)
			return
		}
		rb := newResp(req.Operation)
		rb.fail(err)
		body = rb.done()
	}
	writeEnvelope(w, http.StatusOK, body)
}

type respBuilder struct {
	op string
	x  xw
}

func newResp(op string) *respBuilder {
	rb := &respBuilder{op: op}
	rb.x.open("m:"+op+"Response", "xmlns:m", NSMessages, "xmlns:t", NSTypes)
	rb.x.open("m:ResponseMessages")
	return rb
}

func (rb *respBuilder) success(inner func(*xw)) {
	rb.x.open("m:"+rb.op+"ResponseMessage", "ResponseClass", "Success")
	rb.x.elem("m:ResponseCode", "NoError")
	if inner != nil {
		inner(&rb.x)
	}
	rb.x.close("m:" + rb.op + "ResponseMessage")
}

func (rb *respBuilder) fail(e *ewsError) {
	rb.x.open("m:"+rb.op+"ResponseMessage", "ResponseClass", "Error")
	rb.x.elem("m:MessageText", e.msg)
	rb.x.elem("m:ResponseCode", e.code)
	rb.x.elem("m:DescriptiveLinkKey", "0")
	switch rb.op {
	case "GetItem", "CreateItem", "UpdateItem":
		rb.x.empty("m:Items")
	}
	rb.x.close("m:" + rb.op + "ResponseMessage")
}

func (rb *respBuilder) done() string {
	rb.x.close("m:ResponseMessages")
	rb.x.close("m:" + rb.op + "Response")
	return rb.x.b.String()
}

func baseShape(op *Node) (string, *ewsError) {
	bs := op.Child(NSMessages, "ItemShape").Child(NSTypes, "BaseShape")
	if bs == nil {
		return "", schemaErr("The element '%s' has incomplete content. List of possible elements expected: 'ItemShape'.", op.Local)
	}
	switch bs.Text {
	case "IdOnly", "Default", "AllProperties":
		return bs.Text, nil
	}
	return "", schemaErr("The 'BaseShape' element is invalid - The value '%s' is invalid according to its datatype.", truncate(bs.Text, 40))
}

var (
	errFolderNotFound = &ewsError{code: "ErrorFolderNotFound", msg: "The specified folder could not be found in the store."}
	errAccessDenied   = &ewsError{code: "ErrorAccessDenied", msg: "Access is denied. Check credentials and try again."}
)

// resolveFolder resolves a t:DistinguishedFolderId or t:FolderId node.
func (s *Server) resolveFolder(mb *mailbox, n *Node) (*folder, *ewsError) {
	switch {
	case n.Space == NSTypes && n.Local == "DistinguishedFolderId":
		if other := n.Child(NSTypes, "Mailbox").Child(NSTypes, "EmailAddress"); other != nil && !strings.EqualFold(other.Text, mb.smtp) {
			return nil, errAccessDenied
		}
		id, _ := n.AttrValue("Id")
		if f := mb.folders[id]; f != nil {
			return f, nil
		}
		return nil, errFolderNotFound
	case n.Space == NSTypes && n.Local == "FolderId":
		id, _ := n.AttrValue("Id")
		for _, f := range mb.folders {
			if f.id == id {
				return f, nil
			}
		}
		return nil, errFolderNotFound
	}
	return nil, schemaErr("invalid folder id element '%s'", truncate(n.Local, 40))
}

// ---- SyncFolderItems ----

func (s *Server) syncFolderItems(mb *mailbox, op *Node) (string, *ewsError) {
	shape, err := baseShape(op)
	if err != nil {
		return "", err
	}
	ext, err := additionalExt(op)
	if err != nil {
		return "", err
	}
	sf := op.Child(NSMessages, "SyncFolderId")
	if sf == nil || len(sf.Kids) != 1 {
		return "", schemaErr("SyncFolderId must hold one folder id.")
	}
	mcr := op.Child(NSMessages, "MaxChangesReturned")
	if mcr == nil {
		return "", schemaErr("The element 'SyncFolderItems' has incomplete content. List of possible elements expected: 'MaxChangesReturned'.")
	}
	max, convErr := strconv.Atoi(mcr.Text)
	if convErr != nil || max < 1 || max > 512 {
		return "", schemaErr("The 'MaxChangesReturned' element is invalid - The value '%s' is invalid according to its datatype 'MaxSyncChangesReturnedType' - The MinInclusive/MaxInclusive constraint failed.", truncate(mcr.Text, 20))
	}
	f, ferr := s.resolveFolder(mb, sf.Kids[0])
	if ferr != nil {
		return "", ferr
	}
	var wm uint64
	if st := op.Child(NSMessages, "SyncState"); st != nil && st.Text != "" {
		state, decErr := s.decodeState(st.Text)
		if decErr != nil || state.gen != s.generation || state.folderID != f.id {
			return "", &ewsError{code: "ErrorInvalidSyncStateData", msg: "Synchronization state data is corrupt or otherwise invalid."}
		}
		wm = state.wm
	}
	ignore := map[string]bool{}
	for _, id := range op.Child(NSMessages, "Ignore").Children(NSTypes, "ItemId") {
		v, _ := id.AttrValue("Id")
		ignore[v] = true
	}
	changes := changesSince(f, wm)
	newWM, emitted, includesLast := wm, 0, true
	var cx xw
	for _, c := range changes {
		if c.kind != "" && !ignore[c.it.id] && emitted == max {
			includesLast = false
			break
		}
		newWM = c.it.lastSeq
		if c.kind == "" || ignore[c.it.id] {
			continue
		}
		emitted++
		cx.open("t:" + c.kind)
		if c.kind == "Delete" {
			cx.empty("t:ItemId", "Id", c.it.id)
		} else {
			writeItem(&cx, c.it, shape, false, ext...)
		}
		cx.close("t:" + c.kind)
	}
	if includesLast {
		newWM = s.seq
	}
	rb := newResp("SyncFolderItems")
	rb.success(func(x *xw) {
		x.elem("m:SyncState", s.encodeState(syncState{folderID: f.id, wm: newWM, gen: s.generation}))
		x.elem("m:IncludesLastItemInRange", strconv.FormatBool(includesLast))
		x.open("m:Changes")
		x.raw(cx.b.String())
		x.close("m:Changes")
	})
	return rb.done(), nil
}

// ---- GetItem ----

func (s *Server) getItem(mb *mailbox, op *Node) (string, *ewsError) {
	shape, err := baseShape(op)
	if err != nil {
		return "", err
	}
	ext, err := additionalExt(op)
	if err != nil {
		return "", err
	}
	ids := op.Child(NSMessages, "ItemIds")
	if ids == nil || len(ids.Kids) == 0 {
		return "", schemaErr("The element 'GetItem' has incomplete content. List of possible elements expected: 'ItemIds'.")
	}
	rb := newResp("GetItem")
	for _, idn := range ids.Kids {
		t, lerr := s.lookupTarget(mb, idn)
		if lerr != nil {
			if lerr.fault {
				return "", lerr
			}
			rb.fail(lerr)
			continue
		}
		it := s.render(t)
		rb.success(func(x *xw) {
			x.open("m:Items")
			writeItem(x, it, shape, true, ext...)
			x.close("m:Items")
		})
	}
	return rb.done(), nil
}

// ---- CreateItem ----

// Invitation records a meeting message the server would have sent.
type Invitation struct {
	Kind      string    `json:"kind"` // Request | Update | Cancellation
	Organizer string    `json:"organizer"`
	To        []string  `json:"to"`
	Subject   string    `json:"subject"`
	ItemID    string    `json:"item_id"`
	Time      time.Time `json:"time"`
}

func (s *Server) recordInvitation(kind string, it *item) {
	if len(it.attendees) == 0 {
		return
	}
	s.invitations = append(s.invitations, Invitation{Kind: kind, Organizer: it.folder.mbox.smtp, To: slices.Clone(it.attendees),
		Subject: it.props["Subject"], ItemID: it.id, Time: s.clk.Now().UTC()})
}

func sendsMessages(mode string) bool {
	return mode == "SendOnlyToAll" || mode == "SendToAllAndSaveCopy"
}

func (s *Server) createItem(mb *mailbox, op *Node) (string, *ewsError) {
	send, hasSend := op.AttrValue("SendMeetingInvitations")
	if hasSend && !slices.Contains([]string{"SendToNone", "SendOnlyToAll", "SendToAllAndSaveCopy"}, send) {
		return "", schemaErr("The 'SendMeetingInvitations' attribute is invalid.")
	}
	items := op.Child(NSMessages, "Items")
	if items == nil || len(items.Kids) == 0 {
		return "", schemaErr("The element 'CreateItem' has incomplete content. List of possible elements expected: 'Items'.")
	}
	var target *folder
	if sf := op.Child(NSMessages, "SavedItemFolderId"); sf != nil {
		if len(sf.Kids) != 1 {
			return "", schemaErr("SavedItemFolderId must hold one folder id.")
		}
		f, err := s.resolveFolder(mb, sf.Kids[0])
		if err != nil {
			if err.fault {
				return "", err
			}
			rb := newResp("CreateItem")
			for range items.Kids {
				rb.fail(err)
			}
			return rb.done(), nil
		}
		target = f
	}
	// Validate every item against the schema before creating any, as a
	// schema failure rejects the whole request.
	patches := make([]*itemPatch, len(items.Kids))
	for i, n := range items.Kids {
		if n.Space != NSTypes || (n.Local != "Contact" && n.Local != "CalendarItem") {
			return "", schemaErr("item type '%s' is not supported by this server", truncate(n.Local, 40))
		}
		p, err := parseItem(n, n.Local)
		if err != nil {
			return "", err
		}
		patches[i] = p
	}
	rb := newResp("CreateItem")
	for i, n := range items.Kids {
		class := n.Local
		f := target
		if f == nil {
			f = mb.folders[map[string]string{"Contact": "contacts", "CalendarItem": "calendar"}[class]]
		}
		switch {
		case class == "Contact" && f.class != "Contact":
			rb.fail(&ewsError{code: "ErrorCannotCreateContactInNonContactFolder", msg: "Cannot create a contact in a non-contact folder."})
			continue
		case class == "CalendarItem" && f.class != "CalendarItem":
			rb.fail(&ewsError{code: "ErrorCannotCreateCalendarItemInNonCalendarFolder", msg: "Cannot create a calendar item in a non-calendar folder."})
			continue
		case class == "CalendarItem" && !hasSend:
			rb.fail(&ewsError{code: "ErrorSendMeetingInvitationsRequired", msg: "The SendMeetingInvitations attribute is required for calendar items."})
			continue
		}
		it, err := s.newItemLocked(f, class, patches[i])
		if err != nil {
			rb.fail(err)
			continue
		}
		if class == "CalendarItem" && sendsMessages(send) {
			s.recordInvitation("Request", it)
		}
		rb.success(func(x *xw) {
			x.open("m:Items")
			writeItem(x, it, "IdOnly", false)
			x.close("m:Items")
		})
	}
	return rb.done(), nil
}

// ---- UpdateItem ----

var fieldURIs = map[string]string{
	"item:Subject": "Subject", "item:Body": "Body", "item:Sensitivity": "Sensitivity",
	"item:ItemId": "ItemId", "item:ParentFolderId": "ParentFolderId", "item:ItemClass": "ItemClass",
	"item:DateTimeCreated": "DateTimeCreated", "item:LastModifiedTime": "LastModifiedTime",
	"contacts:FileAs": "FileAs", "contacts:DisplayName": "DisplayName", "contacts:GivenName": "GivenName",
	"contacts:MiddleName": "MiddleName", "contacts:CompanyName": "CompanyName", "contacts:Department": "Department",
	"contacts:JobTitle": "JobTitle", "contacts:Surname": "Surname",
	"calendar:UID": "UID", "calendar:Start": "Start", "calendar:End": "End", "calendar:IsAllDayEvent": "IsAllDayEvent",
	"calendar:LegacyFreeBusyStatus": "LegacyFreeBusyStatus", "calendar:Location": "Location", "calendar:IsMeeting": "IsMeeting",
	"calendar:CalendarItemType": "CalendarItemType", "calendar:Organizer": "Organizer", "calendar:RequiredAttendees": "RequiredAttendees",
}

var indexedURIs = map[string]string{"contacts:EmailAddress": "EmailAddresses", "contacts:PhoneNumber": "PhoneNumbers"}

var errPropertyCount = &ewsError{code: "ErrorIncorrectUpdatePropertyCount", msg: "An object within a change description must contain one and only one property to modify."}

// fieldTarget resolves the FieldURI/IndexedFieldURI of an update.
func fieldTarget(u *Node, class string) (prop, index string, err *ewsError) {
	if len(u.Kids) == 0 {
		return "", "", schemaErr("%s has no field path", u.Local)
	}
	path := u.Kids[0]
	uri, _ := path.AttrValue("FieldURI")
	switch {
	case path.Space == NSTypes && path.Local == "FieldURI":
		prop = fieldURIs[uri]
	case path.Space == NSTypes && path.Local == "IndexedFieldURI":
		prop = indexedURIs[uri]
		index, _ = path.AttrValue("FieldIndex")
		keys := indexKeys(prop)
		if prop != "" && !keys[index] {
			return "", "", schemaErr("The 'FieldIndex' attribute is invalid - The value '%s' is invalid.", truncate(index, 40))
		}
	case path.Space == NSTypes && path.Local == "ExtendedFieldURI":
		// One named property; the item then carries exactly that one.
		if _, err := parseExtKey(path); err != nil {
			return "", "", err
		}
		return "ExtendedProperty", "", nil
	default:
		return "", "", schemaErr("unsupported property path '%s'", truncate(path.Local, 40))
	}
	if prop == "" {
		return "", "", schemaErr("The 'FieldURI' attribute is invalid - The value '%s' is invalid according to its datatype.", truncate(uri, 60))
	}
	if !slices.Contains(orderFor(class), prop) {
		return "", "", &ewsError{code: "ErrorInvalidPropertyRequest", msg: "One or more of the properties requested for this request are invalid for the item type."}
	}
	if readOnlyProps[prop] {
		return "", "", &ewsError{code: "ErrorInvalidPropertySet", msg: "Set action is invalid for property."}
	}
	return prop, index, nil
}

func cloneItem(it *item) *item {
	c := *it
	c.props = make(map[string]string, len(it.props))
	for k, v := range it.props {
		c.props[k] = v
	}
	c.emails = make(map[string]string, len(it.emails))
	for k, v := range it.emails {
		c.emails[k] = v
	}
	c.phones = make(map[string]string, len(it.phones))
	for k, v := range it.phones {
		c.phones[k] = v
	}
	c.attendees = slices.Clone(it.attendees)
	c.x = it.x.clone()
	return &c
}

func (s *Server) updateItem(mb *mailbox, op *Node) (string, *ewsError) {
	mode, ok := op.AttrValue("ConflictResolution")
	if !ok || !slices.Contains([]string{"AlwaysOverwrite", "AutoResolve", "NeverOverwrite"}, mode) {
		return "", schemaErr("The required attribute 'ConflictResolution' is missing or invalid.")
	}
	sendMode, _ := op.AttrValue("SendMeetingInvitationsOrCancellations")
	changes := op.Child(NSMessages, "ItemChanges")
	if changes == nil || len(changes.Kids) == 0 {
		return "", schemaErr("The element 'UpdateItem' has incomplete content. List of possible elements expected: 'ItemChanges'.")
	}
	type planned struct {
		it      *item
		next    *item
		fails   *ewsError
		virtual bool // an occurrence that becomes an exception
	}
	plans := make([]planned, 0, len(changes.Kids))
	for _, ch := range changes.Kids {
		if ch.Space != NSTypes || ch.Local != "ItemChange" {
			return "", schemaErr("unexpected element '%s' in ItemChanges", truncate(ch.Local, 40))
		}
		if len(ch.Kids) == 0 {
			return "", schemaErr("ItemChange needs an item id.")
		}
		idn := ch.Kids[0]
		t, err := s.lookupTarget(mb, idn)
		var it *item
		if err == nil {
			it = s.render(t)
		}
		if err != nil {
			if err.fault {
				return "", err
			}
			plans = append(plans, planned{fails: err})
			continue
		}
		if ck, has := idn.AttrValue("ChangeKey"); has && ck != it.changeKey && mode != "AlwaysOverwrite" {
			plans = append(plans, planned{fails: &ewsError{code: "ErrorIrresolvableConflict", msg: "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item."}})
			continue
		}
		next := cloneItem(it)
		var failed *ewsError
		for _, u := range ch.Child(NSTypes, "Updates").Kids {
			prop, index, ferr := fieldTarget(u, it.class)
			if ferr != nil {
				if ferr.fault {
					return "", ferr
				}
				failed = ferr
				break
			}
			switch u.Local {
			case "SetItemField", "AppendToItemField":
				if u.Local == "AppendToItemField" && prop != "Body" {
					failed = &ewsError{code: "ErrorInvalidPropertyAppend", msg: "The property does not support append operations."}
					break
				}
				if len(u.Kids) != 2 || u.Kids[1].Space != NSTypes || u.Kids[1].Local != it.class {
					failed = errPropertyCount
					break
				}
				p, perr := parseItem(u.Kids[1], it.class)
				if perr != nil {
					if perr.fault {
						return "", perr
					}
					failed = perr
					break
				}
				if len(p.set) != 1 || p.set[0] != prop {
					failed = errPropertyCount
					break
				}
				if prop == "ExtendedProperty" {
					want, _ := parseExtKey(u.Kids[0])
					if _, ok := p.x.ext[want]; !ok || len(p.x.ext) != 1 {
						failed = errPropertyCount
						break
					}
				}
				if prop == "PhysicalAddresses" {
					if nerr := p.narrowPhysical(index, fieldURIOf(u.Kids[0])); nerr != nil {
						failed = nerr
						break
					}
				} else if index != "" {
					src := p.emails
					if prop == "PhoneNumbers" {
						src = p.phones
					}
					if _, has := src[index]; len(src) != 1 || !has {
						failed = errPropertyCount
						break
					}
					p.emails, p.phones = map[string]string{}, map[string]string{}
					if prop == "EmailAddresses" {
						p.emails[index] = src[index]
					} else {
						p.phones[index] = src[index]
					}
				}
				if u.Local == "AppendToItemField" {
					p.props["Body"] = next.props["Body"] + p.props["Body"]
				}
				if aerr := p.apply(next); aerr != nil {
					failed = aerr
				}
			case "DeleteItemField":
				switch {
				case prop == "EmailAddresses":
					delete(next.emails, index)
				case prop == "PhoneNumbers":
					delete(next.phones, index)
				case prop == "RequiredAttendees":
					next.attendees = nil
				case prop == "ExtendedProperty":
					if k, kerr := parseExtKey(u.Kids[0]); kerr == nil && next.x != nil {
						delete(next.x.ext, k)
					}
				case extProps[prop]:
					deleteExtField(next, prop, index, fieldURIOf(u.Kids[0]))
				default:
					delete(next.props, prop)
				}
			default:
				return "", schemaErr("unexpected update '%s'", truncate(u.Local, 40))
			}
			if failed != nil {
				break
			}
		}
		if failed == nil {
			// A display name that was derived from the name parts follows them.
			derived := it.props["DisplayName"] == strings.TrimSpace(it.props["GivenName"]+" "+it.props["Surname"])
			if next.class == "Contact" && derived && next.props["DisplayName"] == it.props["DisplayName"] {
				delete(next.props, "DisplayName")
			}
			failed = validateItem(next)
		}
		if failed == nil && next.class == "CalendarItem" {
			failed = checkSeries(it, next)
		}
		plans = append(plans, planned{it: it, next: next, fails: failed, virtual: t.it == nil})
	}
	rb := newResp("UpdateItem")
	for _, p := range plans {
		if p.fails != nil {
			rb.fail(p.fails)
			continue
		}
		it := p.it
		it.props, it.emails, it.phones, it.attendees, it.bodyType = p.next.props, p.next.emails, p.next.phones, p.next.attendees, p.next.bodyType
		it.x = p.next.x
		if it.class == "CalendarItem" {
			it.props["IsMeeting"] = strconv.FormatBool(len(it.attendees) > 0)
			if it.master == nil {
				markRecurring(it)
				_ = s.settleSeriesLocked(it) // checked by checkSeries
			}
		}
		switch {
		case p.virtual:
			s.commitExceptionLocked(it)
		case it.master != nil:
			s.touchLocked(it)
			s.touchLocked(it.master)
		default:
			s.touchLocked(it)
		}
		if it.class == "CalendarItem" && sendsMessages(sendMode) {
			s.recordInvitation("Update", it)
		}
		rb.success(func(x *xw) {
			x.open("m:Items")
			writeItem(x, it, "IdOnly", false)
			x.close("m:Items")
			x.open("m:ConflictResults")
			x.elem("t:Count", "0")
			x.close("m:ConflictResults")
		})
	}
	return rb.done(), nil
}

// ---- DeleteItem ----

func (s *Server) deleteItem(mb *mailbox, op *Node) (string, *ewsError) {
	dt, _ := op.AttrValue("DeleteType")
	if !slices.Contains([]string{"HardDelete", "SoftDelete", "MoveToDeletedItems"}, dt) {
		return "", schemaErr("The required attribute 'DeleteType' is missing or invalid.")
	}
	cancel, hasCancel := op.AttrValue("SendMeetingCancellations")
	ids := op.Child(NSMessages, "ItemIds")
	if ids == nil || len(ids.Kids) == 0 {
		return "", schemaErr("The element 'DeleteItem' has incomplete content. List of possible elements expected: 'ItemIds'.")
	}
	rb := newResp("DeleteItem")
	for _, idn := range ids.Kids {
		t, err := s.lookupTarget(mb, idn)
		if err != nil {
			if err.fault {
				return "", err
			}
			rb.fail(err)
			continue
		}
		it := s.render(t)
		if it.class == "CalendarItem" && !hasCancel {
			rb.fail(&ewsError{code: "ErrorSendMeetingCancellationsRequired", msg: "The SendMeetingCancellations attribute is required for calendar items."})
			continue
		}
		if t.master != nil {
			s.deleteOccurrenceLocked(t)
		} else {
			s.deleteItemLocked(it)
		}
		if it.class == "CalendarItem" && sendsMessages(cancel) {
			s.recordInvitation("Cancellation", it)
		}
		rb.success(nil)
	}
	return rb.done(), nil
}

// ---- FindItem ----

func (s *Server) findItem(mb *mailbox, op *Node) (string, *ewsError) {
	if tr, _ := op.AttrValue("Traversal"); tr != "Shallow" {
		if tr == "SoftDeleted" || tr == "Associated" {
			return "", &ewsError{code: "ErrorInvalidRequest", msg: "Only Shallow traversal is supported by this server."}
		}
		return "", schemaErr("The required attribute 'Traversal' is missing or invalid.")
	}
	shape, err := baseShape(op)
	if err != nil {
		return "", err
	}
	ext, err := additionalExt(op)
	if err != nil {
		return "", err
	}
	if op.Child(NSMessages, "QueryString") != nil {
		return "", &ewsError{code: "ErrorUnsupportedQueryFilter", msg: "The restriction contains a query filter that is not supported by this server."}
	}
	restriction, err := parseRestriction(op.Child(NSMessages, "Restriction"))
	if err != nil {
		return "", err
	}
	parents := op.Child(NSMessages, "ParentFolderIds")
	if parents == nil || len(parents.Kids) == 0 {
		return "", schemaErr("The element 'FindItem' has incomplete content. List of possible elements expected: 'ParentFolderIds'.")
	}
	paged := op.Child(NSMessages, "IndexedPageItemView")
	calView := op.Child(NSMessages, "CalendarView")
	maxEntries := -1
	view := paged
	if calView != nil {
		view = calView
	}
	if v, ok := view.AttrValue("MaxEntriesReturned"); ok {
		n, convErr := strconv.Atoi(v)
		if convErr != nil || n < 1 {
			return "", schemaErr("The 'MaxEntriesReturned' attribute is invalid.")
		}
		maxEntries = n
	}
	rb := newResp("FindItem")
	for _, pn := range parents.Kids {
		f, ferr := s.resolveFolder(mb, pn)
		if ferr != nil {
			if ferr.fault {
				return "", ferr
			}
			rb.fail(ferr)
			continue
		}
		var list []*item
		for _, it := range f.items {
			if !it.deleted && restriction.match(it) {
				list = append(list, it)
			}
		}
		sort.Slice(list, func(i, j int) bool {
			if f.class == "CalendarItem" && list[i].props["Start"] != list[j].props["Start"] {
				return list[i].props["Start"] < list[j].props["Start"]
			}
			return list[i].createdSeq < list[j].createdSeq
		})
		attrs := []string{}
		total := len(list)
		includesLast := true
		switch {
		case calView != nil:
			if f.class != "CalendarItem" {
				rb.fail(&ewsError{code: "ErrorCalendarFolderIsInvalidForCalendarView", msg: "The folder to be searched is not a calendar folder."})
				continue
			}
			sv, _ := calView.AttrValue("StartDate")
			ev, _ := calView.AttrValue("EndDate")
			start, e1 := time.Parse(time.RFC3339, sv)
			end, e2 := time.Parse(time.RFC3339, ev)
			if e1 != nil || e2 != nil {
				return "", schemaErr("CalendarView StartDate and EndDate must be xs:dateTime values.")
			}
			if end.Before(start) {
				rb.fail(&ewsError{code: "ErrorCalendarEndDateIsEarlierThanStartDate", msg: "EndDate is earlier than StartDate"})
				continue
			}
			if end.Sub(start) > 2*366*24*time.Hour {
				rb.fail(&ewsError{code: "ErrorCalendarViewRangeTooBig", msg: "The time range of the calendar view is too big."})
				continue
			}
			var in []*item
			var expanded []*item
			for _, it := range list {
				if it.series != nil && it.props["CalendarItemType"] == "RecurringMaster" {
					// A calendar view shows a series as its occurrences.
					expanded = append(expanded, s.calendarView(it, start, end)...)
					continue
				}
				s0, _ := time.Parse(ewsTime, it.props["Start"])
				e0, _ := time.Parse(ewsTime, it.props["End"])
				if s0.Before(end) && e0.After(start) || s0.Equal(e0) && !s0.Before(start) && s0.Before(end) {
					in = append(in, it)
				}
			}
			in = append(in, expanded...)
			sort.SliceStable(in, func(i, j int) bool { return in[i].props["Start"] < in[j].props["Start"] })
			list, total = in, len(in)
			if maxEntries >= 0 && len(list) > maxEntries {
				list, includesLast = list[:maxEntries], false
			}
		default:
			offset := 0
			if paged != nil {
				if v, ok := paged.AttrValue("Offset"); ok {
					n, convErr := strconv.Atoi(v)
					if convErr != nil || n < 0 {
						return "", schemaErr("The 'Offset' attribute is invalid.")
					}
					offset = n
				}
				if bp, _ := paged.AttrValue("BasePoint"); bp == "End" {
					// Offset counts back from the end of the view.
					offset = max(total-offset-max(maxEntries, 0), 0)
				}
			}
			if offset > total {
				offset = total
			}
			list = list[offset:]
			if maxEntries >= 0 && len(list) > maxEntries {
				list = list[:maxEntries]
			}
			includesLast = offset+len(list) >= total
			attrs = append(attrs, "IndexedPagingOffset", strconv.Itoa(offset+len(list)))
		}
		attrs = append(attrs, "TotalItemsInView", strconv.Itoa(total), "IncludesLastItemInRange", strconv.FormatBool(includesLast))
		rb.success(func(x *xw) {
			x.open("m:RootFolder", attrs...)
			x.open("t:Items")
			for _, it := range list {
				writeItem(x, it, shape, false, ext...)
			}
			x.close("t:Items")
			x.close("m:RootFolder")
		})
	}
	return rb.done(), nil
}
