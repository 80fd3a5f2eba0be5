// Package ews is the mailbox end of a sync for Exchange 2016/2019
// on-premises: the connector.Connector for a user's contacts (the
// distinguished folder contacts) and calendar (the distinguished folder
// calendar) through Exchange Web Services, SOAP 1.1, at one endpoint
// (Options.URL, e.g. https://mail.corp.example/EWS/Exchange.asmx).
//
// # Credentials and the gateway
//
// It is given an *http.Client, in production sync/gateway's, and sends
// every request with gateway.WithSubject(ctx, Scope.User): the gateway
// client sets Syncgate-Subject and the syncgate gateway injects the EWS
// service account's Basic credential. The connector holds no credential
// and never sets Authorization. Every request carries the SOAP headers
// RequestServerVersion Version="Exchange2016" and ExchangeImpersonation
// with ConnectingSID/PrimarySmtpAddress = Scope.User (the gateway checks it
// equals the subject), a SOAPAction naming the operation, and names
// folders only by DistinguishedFolderId, never FolderId.
//
// The gateway (README, EWS `folders:`) relays an ItemId only to the
// subject it learnt it for, from an allowed folder's SyncFolderItems,
// FindItem, CreateItem or GetItem response; its memory is per process and
// per replica. When it answers 403 with reason ReasonItemUnknown (a
// restart, another replica), the connector lists the folder with FindItem
// (IdOnly, Traversal Shallow, IndexedPageItemView paging), which teaches
// the gateway the folder's ids, and retries the call once; an id the
// listing does not hold is no longer in the folder and is ErrNotFound (as
// SyncFolderItems reports an item moved out of a folder as deleted); a
// second 403 is returned as the *connector.HTTPError. Any other 403 is not
// retried. The operations used are SyncFolderItems, GetItem, FindItem,
// CreateItem, UpdateItem and DeleteItem: the gateway policy must list
// FindItem too (FindByKey and the re-learning need it).
//
// # Reading: SyncFolderItems and the cursor
//
// Changes calls SyncFolderItems (ItemShape IdOnly) on the kind's folder
// with the stored SyncState, MaxChangesReturned = Options.PageSize, and
// follows the returned SyncState until IncludesLastItemInRange is true. A
// failure on any page fails the call: nothing partial is returned. Create
// and Update changes of the synced class (t:Contact, t:CalendarItem; not
// distribution lists or meeting messages) are read in full with GetItem in
// batches of Options.GetBatch; Delete changes are tombstones; the last
// change of an id in a round wins; ReadFlagChange is ignored. An id that
// vanished between the round and the GetItem (ErrorItemNotFound) is left
// out. Calendar items outside the scope's window are neither listed nor
// reported; a series is listed when it has an occurrence in the window,
// even when its first occurrence lies before it (see Event series). A
// master an incremental round reports changed whose series has no
// occurrence left in the window (a split's truncated original) is
// reported in connector.Changes.Departed.
//
// The cursor is the last SyncState bound to the folder, kind, user (a
// hash, not the address) and, for events, the window:
// "ews1?f=contacts&k=contacts&s=<SyncState>&u=<hash>". A cursor that does
// not parse, is not base64 or was made for another user or kind is
// ErrResync without a request, as is ErrorInvalidSyncStateData. A cursor
// for another window lists the new window afresh (Full), because a
// SyncState does not know the window.
//
// # Errors, throttling
//
// Every response message's ResponseClass and ResponseCode are checked
// (only Success/NoError succeeds). ErrorServerBusy, as a SOAP fault or a
// response message, is waited out as its BackOffMilliseconds says (at most
// Options.MaxBusyRetries times, never longer than Options.MaxBackOff, and
// never past ctx), then *connector.ThrottledError; 429 and 503 with
// Retry-After from the gateway are *connector.ThrottledError too.
// ErrorInvalidSyncStateData → ErrResync; ErrorItemNotFound → ErrNotFound;
// ErrorIrresolvableConflict, ErrorChangeKeyRequiredForWriteOperations and
// ErrorStaleObject → ErrConflict. Every other failure is a
// *connector.HTTPError{Op, Status, Code (the EWS ResponseCode, only if it
// looks like a code), RequestID (Syncgate-Request-Id)}; no error carries a
// body, an address, a password, an ItemId or a key.
//
// Responses are read bounded (Options.MaxResponseBytes) and strictly:
// well-formed UTF-8 XML, no DOCTYPE or other directive (so no entity
// declarations; encoding/xml knows only the five predefined entities), no
// processing instruction but the XML declaration, bounded depth, a SOAP 1.1
// Envelope with the operation's <Op>Response of <Op>ResponseMessage
// elements in the messages namespace, and exactly as many messages as
// items asked for. Requests are built with encoding/xml types, never
// string templates; every element is in the SOAP, messages or types
// namespace (a test parses every request shape with the emulator's and the
// gateway's parsers).
//
// # Mapping
//
// Items are read with GetItem, BaseShape AllProperties, BodyType Text, and
// AdditionalProperties for the key property and calendar:StartTimeZone /
// calendar:EndTimeZone. Marker is the ChangeKey; Modified is
// LastModifiedTime; Key is the extended property.
//
// Contacts: GivenName, Surname, EmailAddresses Entry EmailAddress1 (a
// routing prefix "SMTP:" dropped), CompanyName, JobTitle, Department,
// PhoneNumbers BusinessPhone and MobilePhone, PhysicalAddresses Business
// (Street, City, State, PostalCode, CountryOrRegion), Body (text) as
// Notes. Create writes the set fields, a DisplayName "First Last" and the
// key. Update reads the contact and sends one SetItemField (or
// DeleteItemField for an emptied field) per differing field, indexed
// fields by IndexedFieldURI (contacts:EmailAddress EmailAddress1,
// contacts:PhoneNumber BusinessPhone/MobilePhone,
// contacts:PhysicalAddress:<Field> Business), so EmailAddress2/3, every
// other phone and address and every unsynced property stay as they are;
// a DisplayName that followed the name parts follows the new ones.
//
// Calendar items: Subject, Location, Body (text), Sensitivity Private or
// Confidential ↔ Private (written Private/Normal), LegacyFreeBusyStatus
// Free/Tentative/OOF ↔ ShowAs (Busy, WorkingElsewhere, NoData read as
// busy), Categories → Event.Categories (written on create only),
// CalendarItemType RecurringMaster → Series "master" (see Event series;
// an Occurrence or Exception is never an item of its own).
// Timed events are Start/End instants, written in UTC. An all-day event
// (IsAllDayEvent) is read as the dates of Start and End seen in the
// item's StartTimeZone/EndTimeZone (Exchange stores all-day events as
// midnights of the zone they were made in), falling back to the nearest UTC
// midnight for an unknown zone; it is written as midnights of
// Options.TimeZone (a Windows id, default UTC) with that zone as
// StartTimeZone and EndTimeZone: dates are kept, never shifted, never a
// 24-hour timed event. Updates send Start, End and IsAllDayEvent together.
//
// # Writing
//
// CreateItem: SavedItemFolderId = the distinguished folder, t:Contact or
// t:CalendarItem, the key in an ExtendedProperty (PropertySetId
// KeyPropertySetID, PropertyName "SyncgateKey", PropertyType String, the
// property the Graph connector writes too), SendMeetingInvitations
// "SendToNone" for calendar items, and no MessageDisposition (it applies to
// messages only; the gateway refuses anything but SaveOnly). UpdateItem:
// ItemId with Id and ChangeKey = marker, ConflictResolution
// "NeverOverwrite", SendMeetingInvitationsOrCancellations "SendToNone"
// for calendar items; the item is read first, a moved ChangeKey is
// ErrConflict without a write, and a write that loses the race is
// ErrorIrresolvableConflict → ErrConflict; nothing differing → no write.
// DeleteItem: DeleteType Options.DeleteType, default MoveToDeletedItems
// (the user can restore it from Deleted Items; HardDelete removes it for
// good), SendMeetingCancellations "SendToNone" for calendar items; the
// item is read first (ErrNotFound when gone, ErrConflict when marker is set
// and moved). No request names RequiredAttendees, OptionalAttendees or
// Resources, and meetings this mailbox organises (attendees or IsMeeting,
// with MyResponseType Organizer, IsOrganizer, or an Organizer that is the
// user or unknown) are neither updated nor deleted: ErrUnsupported, since
// writing them would notify the attendees. FindByKey: FindItem, Traversal
// Shallow, a Restriction IsEqualTo on the key property; the store compares
// without case, so only exact matches are returned, read with GetItem.
//
// # Event series
//
// The connector is connector.SeriesCapable (SupportsSeries true). A
// RecurringMaster is one item: model.Event with Series "master" and a
// model.Recurrence. The pattern maps to the RRULE subset:
// DailyRecurrence → DAILY; WeeklyRecurrence → WEEKLY;BYDAY (Day, Weekday,
// WeekendDay as their days) with WKST = FirstDayOfWeek (Sunday when
// absent, as Exchange counts weeks); AbsoluteMonthlyRecurrence → MONTHLY;
// BYMONTHDAY=d, and for d > 28 BYMONTHDAY=28..d;BYSETPOS=-1, since Exchange
// puts a day beyond a month's end on its last day;
// RelativeMonthlyRecurrence → MONTHLY;BYDAY=nXX (or the day set with
// BYSETPOS=n); the yearly patterns likewise with BYMONTH; NumberedRecurrence
// → COUNT, EndDateRecurrence → UNTIL at the end of that date in the zone.
// The zone is the master's StartTimeZone (a Windows id) as IANA through
// the shared table of sync/connector/internal/mailfmt (written back as the
// table's Windows id for the zone, or for a zone with the same offsets); an
// all-day series is a series of dates, written as midnights of its zone.
// Several RRULE spellings give one EWS pattern (FREQ=YEARLY and
// BYMONTH=3;BYMONTHDAY=15 from 15 March), and a Windows id several IANA
// names: a master syncgate wrote carries the rule and zone it was written
// from in the String property RulePropertyName ("TZID=<zone>;<RRULE>", in
// KeyPropertySetID, the property the Graph connector writes), which is read
// back instead of EWS's spelling while the pattern and Windows zone are
// still what it gives; an update that only respells the rule records the
// spelling and leaves the pattern (and so the exceptions) alone. Exceptions
// are read from ModifiedOccurrences and DeletedOccurrences, and only those
// whose original start lies in the window (model.Recurrence.SplitExceptions):
// each moved or edited one is read with GetItem on its OccurrenceItemId
// (the master's ItemId and the 1-based InstanceIndex the rule gives, the
// answer's OriginalStart checked), in batches of Options.GetBatch. A
// master whose pattern cannot be read is listed without Recurrence (the
// engine skips it and says why).
//
// Writing: Create sends the master with its Recurrence, the first
// occurrence as Start/End, the zone as StartTimeZone/EndTimeZone and the
// rule property, then the window's exceptions: a cancelled occurrence is a
// DeleteItem of its OccurrenceItemId, a moved or edited one an UpdateItem
// of it (Start, End, Subject, Location, Body; ConflictResolution
// AutoResolve, no ChangeKey, as an occurrence's is its master's). Update
// checks the master's ChangeKey (moved → ErrConflict without a write;
// ErrorIrresolvableConflict or ErrorChangeKeyMismatch → ErrConflict), sends
// the content that differs and, when rule, zone or times differ, Start,
// End, IsAllDayEvent, Recurrence and the zones together (Exchange then
// drops the series' exceptions), then brings the window's exceptions to
// the wanted ones; what is already so is not written again, so a re-run of
// an interrupted write converges, and edited occurrences no longer listed
// go back to the rule. A cancelled occurrence cannot be restored through
// EWS: ErrUnsupported. A rule EWS cannot express exactly (e.g. MONTHLY
// BYMONTHDAY=31, which skips short months; yearly with INTERVAL; several
// ordinals; COUNT above 999; extra dates, RDATE) or a zone without a
// Windows id is ErrUnsupported, never flattened. Delete of
// a master deletes the series. The idempotency key stays on the master.
// Every occurrence call names the master's ItemId, which the gateway
// checks against the ids it relayed to the subject (policy: an
// OccurrenceItemId is judged by its RecurringMasterId).
//
// # References
//
//   - https://learn.microsoft.com/exchange/client-developer/web-service-reference/syncfolderitems-operation
//   - https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-synchronize-items-by-using-ews-in-exchange
//   - https://learn.microsoft.com/exchange/client-developer/web-service-reference/getitem-operation
//   - https://learn.microsoft.com/exchange/client-developer/web-service-reference/finditem-operation
//   - https://learn.microsoft.com/exchange/client-developer/web-service-reference/createitem-operation-contact
//   - https://learn.microsoft.com/exchange/client-developer/web-service-reference/createitem-operation-calendar-item
//   - https://learn.microsoft.com/exchange/client-developer/web-service-reference/updateitem-operation
//   - https://learn.microsoft.com/exchange/client-developer/web-service-reference/deleteitem-operation
//   - https://learn.microsoft.com/exchange/client-developer/web-service-reference/conflictresolution (NeverOverwrite)
//   - https://learn.microsoft.com/exchange/client-developer/exchange-web-services/impersonation-and-ews-in-exchange
//   - https://learn.microsoft.com/exchange/client-developer/web-service-reference/requestserverversion
//   - https://learn.microsoft.com/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange (ErrorServerBusy, BackOffMilliseconds)
//   - https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-view-and-create-custom-extended-properties-by-using-ews
//   - https://learn.microsoft.com/exchange/client-developer/web-service-reference/restriction,
//     https://learn.microsoft.com/exchange/client-developer/web-service-reference/isequalto
//   - https://learn.microsoft.com/exchange/client-developer/web-service-reference/contact,
//     https://learn.microsoft.com/exchange/client-developer/web-service-reference/calendaritem
//     (element order of ContactItemType and CalendarItemType in types.xsd)
//   - https://learn.microsoft.com/exchange/client-developer/web-service-reference/starttimezone,
//     https://learn.microsoft.com/exchange/client-developer/exchange-web-services/time-zones-and-ews-in-exchange
//   - https://learn.microsoft.com/exchange/client-developer/web-service-reference/responsecode
//   - https://learn.microsoft.com/exchange/client-developer/exchange-web-services/recurrence-patterns-and-ews
//   - https://learn.microsoft.com/exchange/client-developer/web-service-reference/absolutemonthlyrecurrence
//     (a DayOfMonth beyond a month's end is its last day)
//   - https://learn.microsoft.com/exchange/client-developer/web-service-reference/occurrenceitemid
//   - https://learn.microsoft.com/exchange/client-developer/web-service-reference/modifiedoccurrences,
//     https://learn.microsoft.com/exchange/client-developer/web-service-reference/deletedoccurrences
//   - https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-update-a-recurring-series-by-using-ews
package ews
