package ews

import (
	"encoding/xml"
)

// XML namespaces of SOAP 1.1 and of EWS's messages.xsd, types.xsd and
// errors (SOAP fault detail). Struct tags cannot name constants, so the
// tags below spell them out; a test checks every element of every request
// against these.
const (
	NSSOAP     = "http://schemas.xmlsoap.org/soap/envelope/"
	NSMessages = "http://schemas.microsoft.com/exchange/services/2006/messages"
	NSTypes    = "http://schemas.microsoft.com/exchange/services/2006/types"
	NSErrors   = "http://schemas.microsoft.com/exchange/services/2006/errors"
)

// ServerVersion is sent in every request's RequestServerVersion header.
const ServerVersion = "Exchange2016"

// ---- request envelope ----

type reqEnvelope struct {
	XMLName xml.Name  `xml:"http://schemas.xmlsoap.org/soap/envelope/ Envelope"`
	Header  reqHeader `xml:"http://schemas.xmlsoap.org/soap/envelope/ Header"`
	Body    reqBody   `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
}

type reqHeader struct {
	Version       requestServerVersion  `xml:"http://schemas.microsoft.com/exchange/services/2006/types RequestServerVersion"`
	Impersonation exchangeImpersonation `xml:"http://schemas.microsoft.com/exchange/services/2006/types ExchangeImpersonation"`
}

type requestServerVersion struct {
	Version string `xml:"Version,attr"`
}

type exchangeImpersonation struct {
	ConnectingSID connectingSID `xml:"http://schemas.microsoft.com/exchange/services/2006/types ConnectingSID"`
}

type connectingSID struct {
	PrimarySmtpAddress string `xml:"http://schemas.microsoft.com/exchange/services/2006/types PrimarySmtpAddress"`
}

// reqBody holds exactly one operation element.
type reqBody struct {
	Op any
}

// ---- shared types ----

type distinguishedFolderID struct {
	XMLName xml.Name `xml:"http://schemas.microsoft.com/exchange/services/2006/types DistinguishedFolderId"`
	ID      string   `xml:"Id,attr"`
}

type itemID struct {
	ID        string `xml:"Id,attr"`
	ChangeKey string `xml:"ChangeKey,attr,omitempty"`
}

// tItemID is a t:ItemId in a request.
type tItemID struct {
	XMLName   xml.Name `xml:"http://schemas.microsoft.com/exchange/services/2006/types ItemId"`
	ID        string   `xml:"Id,attr"`
	ChangeKey string   `xml:"ChangeKey,attr,omitempty"`
}

type folderRef struct {
	Folder distinguishedFolderID
}

type itemShape struct {
	BaseShape  string           `xml:"http://schemas.microsoft.com/exchange/services/2006/types BaseShape"`
	BodyType   string           `xml:"http://schemas.microsoft.com/exchange/services/2006/types BodyType,omitempty"`
	Additional *additionalProps `xml:"http://schemas.microsoft.com/exchange/services/2006/types AdditionalProperties,omitempty"`
}

type additionalProps struct {
	Fields   []fieldURI         `xml:"http://schemas.microsoft.com/exchange/services/2006/types FieldURI"`
	Extended []extendedFieldURI `xml:"http://schemas.microsoft.com/exchange/services/2006/types ExtendedFieldURI"`
}

type fieldURI struct {
	FieldURI string `xml:"FieldURI,attr"`
}

type indexedFieldURI struct {
	FieldURI   string `xml:"FieldURI,attr"`
	FieldIndex string `xml:"FieldIndex,attr"`
}

// extendedFieldURI names a named MAPI property in a property set.
type extendedFieldURI struct {
	PropertySetID string `xml:"PropertySetId,attr"`
	PropertyName  string `xml:"PropertyName,attr"`
	PropertyType  string `xml:"PropertyType,attr"`
}

// ---- operations ----

type syncFolderItemsReq struct {
	XMLName            xml.Name  `xml:"http://schemas.microsoft.com/exchange/services/2006/messages SyncFolderItems"`
	ItemShape          itemShape `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ItemShape"`
	SyncFolderID       folderRef `xml:"http://schemas.microsoft.com/exchange/services/2006/messages SyncFolderId"`
	SyncState          string    `xml:"http://schemas.microsoft.com/exchange/services/2006/messages SyncState,omitempty"`
	MaxChangesReturned int       `xml:"http://schemas.microsoft.com/exchange/services/2006/messages MaxChangesReturned"`
}

type getItemReq struct {
	XMLName   xml.Name  `xml:"http://schemas.microsoft.com/exchange/services/2006/messages GetItem"`
	ItemShape itemShape `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ItemShape"`
	ItemIDs   itemIDs   `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ItemIds"`
}

type itemIDs struct {
	IDs         []tItemID
	Occurrences []tOccurrenceItemID
}

// tOccurrenceItemID is a t:OccurrenceItemId: occurrence InstanceIndex
// (1-based) of the series whose master is RecurringMasterID.
type tOccurrenceItemID struct {
	XMLName           xml.Name `xml:"http://schemas.microsoft.com/exchange/services/2006/types OccurrenceItemId"`
	RecurringMasterID string   `xml:"RecurringMasterId,attr"`
	ChangeKey         string   `xml:"ChangeKey,attr,omitempty"`
	InstanceIndex     int      `xml:"InstanceIndex,attr"`
}

type indexedPageItemView struct {
	MaxEntriesReturned int    `xml:"MaxEntriesReturned,attr"`
	Offset             int    `xml:"Offset,attr"`
	BasePoint          string `xml:"BasePoint,attr"`
}

type findItemReq struct {
	XMLName     xml.Name            `xml:"http://schemas.microsoft.com/exchange/services/2006/messages FindItem"`
	Traversal   string              `xml:"Traversal,attr"`
	ItemShape   itemShape           `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ItemShape"`
	View        indexedPageItemView `xml:"http://schemas.microsoft.com/exchange/services/2006/messages IndexedPageItemView"`
	Restriction *restriction        `xml:"http://schemas.microsoft.com/exchange/services/2006/messages Restriction,omitempty"`
	Parents     folderRef           `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ParentFolderIds"`
}

type restriction struct {
	IsEqualTo isEqualTo `xml:"http://schemas.microsoft.com/exchange/services/2006/types IsEqualTo"`
}

type isEqualTo struct {
	Extended extendedFieldURI   `xml:"http://schemas.microsoft.com/exchange/services/2006/types ExtendedFieldURI"`
	Constant fieldURIOrConstant `xml:"http://schemas.microsoft.com/exchange/services/2006/types FieldURIOrConstant"`
}

type fieldURIOrConstant struct {
	Constant constant `xml:"http://schemas.microsoft.com/exchange/services/2006/types Constant"`
}

type constant struct {
	Value string `xml:"Value,attr"`
}

type createItemReq struct {
	XMLName                xml.Name  `xml:"http://schemas.microsoft.com/exchange/services/2006/messages CreateItem"`
	SendMeetingInvitations string    `xml:"SendMeetingInvitations,attr,omitempty"`
	SavedItemFolderID      folderRef `xml:"http://schemas.microsoft.com/exchange/services/2006/messages SavedItemFolderId"`
	Items                  newItems  `xml:"http://schemas.microsoft.com/exchange/services/2006/messages Items"`
}

type newItems struct {
	Contact      *wContact      `xml:"http://schemas.microsoft.com/exchange/services/2006/types Contact,omitempty"`
	CalendarItem *wCalendarItem `xml:"http://schemas.microsoft.com/exchange/services/2006/types CalendarItem,omitempty"`
}

type updateItemReq struct {
	XMLName                               xml.Name    `xml:"http://schemas.microsoft.com/exchange/services/2006/messages UpdateItem"`
	ConflictResolution                    string      `xml:"ConflictResolution,attr"`
	SendMeetingInvitationsOrCancellations string      `xml:"SendMeetingInvitationsOrCancellations,attr,omitempty"`
	ItemChanges                           itemChanges `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ItemChanges"`
}

type itemChanges struct {
	Change itemChange `xml:"http://schemas.microsoft.com/exchange/services/2006/types ItemChange"`
}

type itemChange struct {
	ItemID     *tItemID
	Occurrence *tOccurrenceItemID
	Updates    updates `xml:"http://schemas.microsoft.com/exchange/services/2006/types Updates"`
}

// updates is the ordered list of SetItemField / DeleteItemField.
type updates struct {
	List []any
}

type setItemField struct {
	XMLName  xml.Name          `xml:"http://schemas.microsoft.com/exchange/services/2006/types SetItemField"`
	Field    *fieldURI         `xml:"http://schemas.microsoft.com/exchange/services/2006/types FieldURI,omitempty"`
	Indexed  *indexedFieldURI  `xml:"http://schemas.microsoft.com/exchange/services/2006/types IndexedFieldURI,omitempty"`
	Extended *extendedFieldURI `xml:"http://schemas.microsoft.com/exchange/services/2006/types ExtendedFieldURI,omitempty"`
	Contact  *wContact         `xml:"http://schemas.microsoft.com/exchange/services/2006/types Contact,omitempty"`
	Calendar *wCalendarItem    `xml:"http://schemas.microsoft.com/exchange/services/2006/types CalendarItem,omitempty"`
}

type deleteItemField struct {
	XMLName xml.Name         `xml:"http://schemas.microsoft.com/exchange/services/2006/types DeleteItemField"`
	Field   *fieldURI        `xml:"http://schemas.microsoft.com/exchange/services/2006/types FieldURI,omitempty"`
	Indexed *indexedFieldURI `xml:"http://schemas.microsoft.com/exchange/services/2006/types IndexedFieldURI,omitempty"`
}

type deleteItemReq struct {
	XMLName                  xml.Name `xml:"http://schemas.microsoft.com/exchange/services/2006/messages DeleteItem"`
	DeleteType               string   `xml:"DeleteType,attr"`
	SendMeetingCancellations string   `xml:"SendMeetingCancellations,attr,omitempty"`
	ItemIDs                  itemIDs  `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ItemIds"`
}

// ---- items as written (element order of types.xsd: ItemType, then
// ContactItemType / CalendarItemType) ----

type wBody struct {
	BodyType string `xml:"BodyType,attr"`
	Text     string `xml:",chardata"`
}

type wStrings struct {
	String []string `xml:"http://schemas.microsoft.com/exchange/services/2006/types String"`
}

type wExtendedProperty struct {
	URI   extendedFieldURI `xml:"http://schemas.microsoft.com/exchange/services/2006/types ExtendedFieldURI"`
	Value string           `xml:"http://schemas.microsoft.com/exchange/services/2006/types Value"`
}

type wEntry struct {
	Key  string `xml:"Key,attr"`
	Text string `xml:",chardata"`
}

type wEntries struct {
	Entry []wEntry `xml:"http://schemas.microsoft.com/exchange/services/2006/types Entry"`
}

type wPhysicalEntry struct {
	Key             string `xml:"Key,attr"`
	Street          string `xml:"http://schemas.microsoft.com/exchange/services/2006/types Street,omitempty"`
	City            string `xml:"http://schemas.microsoft.com/exchange/services/2006/types City,omitempty"`
	State           string `xml:"http://schemas.microsoft.com/exchange/services/2006/types State,omitempty"`
	CountryOrRegion string `xml:"http://schemas.microsoft.com/exchange/services/2006/types CountryOrRegion,omitempty"`
	PostalCode      string `xml:"http://schemas.microsoft.com/exchange/services/2006/types PostalCode,omitempty"`
}

type wPhysicalAddresses struct {
	Entry []wPhysicalEntry `xml:"http://schemas.microsoft.com/exchange/services/2006/types Entry"`
}

type wContact struct {
	Body              *wBody              `xml:"http://schemas.microsoft.com/exchange/services/2006/types Body,omitempty"`
	ExtendedProperty  *wExtendedProperty  `xml:"http://schemas.microsoft.com/exchange/services/2006/types ExtendedProperty,omitempty"`
	DisplayName       *string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types DisplayName,omitempty"`
	GivenName         *string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types GivenName,omitempty"`
	CompanyName       *string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types CompanyName,omitempty"`
	EmailAddresses    *wEntries           `xml:"http://schemas.microsoft.com/exchange/services/2006/types EmailAddresses,omitempty"`
	PhysicalAddresses *wPhysicalAddresses `xml:"http://schemas.microsoft.com/exchange/services/2006/types PhysicalAddresses,omitempty"`
	PhoneNumbers      *wEntries           `xml:"http://schemas.microsoft.com/exchange/services/2006/types PhoneNumbers,omitempty"`
	Department        *string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types Department,omitempty"`
	JobTitle          *string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types JobTitle,omitempty"`
	Surname           *string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types Surname,omitempty"`
}

type wTimeZone struct {
	ID string `xml:"Id,attr"`
}

type wCalendarItem struct {
	Subject              *string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types Subject,omitempty"`
	Sensitivity          string              `xml:"http://schemas.microsoft.com/exchange/services/2006/types Sensitivity,omitempty"`
	Body                 *wBody              `xml:"http://schemas.microsoft.com/exchange/services/2006/types Body,omitempty"`
	Categories           *wStrings           `xml:"http://schemas.microsoft.com/exchange/services/2006/types Categories,omitempty"`
	ExtendedProperty     []wExtendedProperty `xml:"http://schemas.microsoft.com/exchange/services/2006/types ExtendedProperty,omitempty"`
	Start                string              `xml:"http://schemas.microsoft.com/exchange/services/2006/types Start,omitempty"`
	End                  string              `xml:"http://schemas.microsoft.com/exchange/services/2006/types End,omitempty"`
	IsAllDayEvent        string              `xml:"http://schemas.microsoft.com/exchange/services/2006/types IsAllDayEvent,omitempty"`
	LegacyFreeBusyStatus string              `xml:"http://schemas.microsoft.com/exchange/services/2006/types LegacyFreeBusyStatus,omitempty"`
	Location             *string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types Location,omitempty"`
	Recurrence           *wRecurrence        `xml:"http://schemas.microsoft.com/exchange/services/2006/types Recurrence,omitempty"`
	StartTimeZone        *wTimeZone          `xml:"http://schemas.microsoft.com/exchange/services/2006/types StartTimeZone,omitempty"`
	EndTimeZone          *wTimeZone          `xml:"http://schemas.microsoft.com/exchange/services/2006/types EndTimeZone,omitempty"`
}

// wRecurrence is a t:Recurrence: one pattern, one range. The pattern's
// fields are in the order every pattern type of types.xsd has them
// (Interval, DaysOfWeek, FirstDayOfWeek | DayOfWeekIndex, DayOfMonth,
// Month); a pattern leaves out what it does not have.
type wRecurrence struct {
	Pattern wPattern
	Range   wRange
}

type wPattern struct {
	XMLName        xml.Name
	Interval       int    `xml:"http://schemas.microsoft.com/exchange/services/2006/types Interval,omitempty"`
	DaysOfWeek     string `xml:"http://schemas.microsoft.com/exchange/services/2006/types DaysOfWeek,omitempty"`
	FirstDayOfWeek string `xml:"http://schemas.microsoft.com/exchange/services/2006/types FirstDayOfWeek,omitempty"`
	DayOfWeekIndex string `xml:"http://schemas.microsoft.com/exchange/services/2006/types DayOfWeekIndex,omitempty"`
	DayOfMonth     int    `xml:"http://schemas.microsoft.com/exchange/services/2006/types DayOfMonth,omitempty"`
	Month          string `xml:"http://schemas.microsoft.com/exchange/services/2006/types Month,omitempty"`
}

type wRange struct {
	XMLName             xml.Name
	StartDate           string `xml:"http://schemas.microsoft.com/exchange/services/2006/types StartDate"`
	EndDate             string `xml:"http://schemas.microsoft.com/exchange/services/2006/types EndDate,omitempty"`
	NumberOfOccurrences int    `xml:"http://schemas.microsoft.com/exchange/services/2006/types NumberOfOccurrences,omitempty"`
}

// ---- responses ----

type respEnvelope struct {
	XMLName xml.Name `xml:"http://schemas.xmlsoap.org/soap/envelope/ Envelope"`
	Body    respBody `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
}

type respBody struct {
	Fault *soapFault `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault"`
	// Response is the operation's response element (<Op>Response).
	Response *opResponse `xml:",any"`
}

type soapFault struct {
	FaultCode string `xml:"faultcode"`
	Detail    struct {
		ResponseCode string      `xml:"http://schemas.microsoft.com/exchange/services/2006/errors ResponseCode"`
		MessageXML   *messageXML `xml:"http://schemas.microsoft.com/exchange/services/2006/types MessageXml"`
	} `xml:"detail"`
}

type messageXML struct {
	Values []struct {
		Name  string `xml:"Name,attr"`
		Value string `xml:",chardata"`
	} `xml:"http://schemas.microsoft.com/exchange/services/2006/types Value"`
}

type opResponse struct {
	XMLName  xml.Name
	Messages struct {
		List []responseMessage `xml:",any"`
	} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ResponseMessages"`
}

type responseMessage struct {
	XMLName       xml.Name
	ResponseClass string      `xml:"ResponseClass,attr"`
	ResponseCode  string      `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ResponseCode"`
	MessageXML    *messageXML `xml:"http://schemas.microsoft.com/exchange/services/2006/messages MessageXml"`
	// SyncFolderItems
	SyncState               string       `xml:"http://schemas.microsoft.com/exchange/services/2006/messages SyncState"`
	IncludesLastItemInRange string       `xml:"http://schemas.microsoft.com/exchange/services/2006/messages IncludesLastItemInRange"`
	Changes                 *syncChanges `xml:"http://schemas.microsoft.com/exchange/services/2006/messages Changes"`
	// GetItem, CreateItem, UpdateItem
	Items *rItems `xml:"http://schemas.microsoft.com/exchange/services/2006/messages Items"`
	// FindItem
	RootFolder *rootFolder `xml:"http://schemas.microsoft.com/exchange/services/2006/messages RootFolder"`
}

type syncChanges struct {
	List []syncChange `xml:",any"`
}

// syncChange is t:Create, t:Update, t:Delete or t:ReadFlagChange.
type syncChange struct {
	XMLName xml.Name
	ItemID  *itemID    `xml:"http://schemas.microsoft.com/exchange/services/2006/types ItemId"` // Delete, ReadFlagChange
	Items   []rAnyItem `xml:",any"`                                                             // Create, Update
}

type rAnyItem struct {
	XMLName xml.Name
	ItemID  *itemID `xml:"http://schemas.microsoft.com/exchange/services/2006/types ItemId"`
}

type rItems struct {
	Contacts      []rContact      `xml:"http://schemas.microsoft.com/exchange/services/2006/types Contact"`
	CalendarItems []rCalendarItem `xml:"http://schemas.microsoft.com/exchange/services/2006/types CalendarItem"`
	Other         []rAnyItem      `xml:",any"`
}

type rootFolder struct {
	IncludesLastItemInRange string `xml:"IncludesLastItemInRange,attr"`
	IndexedPagingOffset     string `xml:"IndexedPagingOffset,attr"`
	Items                   rItems `xml:"http://schemas.microsoft.com/exchange/services/2006/types Items"`
}

type rBody struct {
	BodyType string `xml:"BodyType,attr"`
	Text     string `xml:",chardata"`
}

type rExtendedProperty struct {
	URI   extendedFieldURI `xml:"http://schemas.microsoft.com/exchange/services/2006/types ExtendedFieldURI"`
	Value string           `xml:"http://schemas.microsoft.com/exchange/services/2006/types Value"`
}

// rItem is the part of ItemType syncgate reads.
type rItem struct {
	ItemID           *itemID             `xml:"http://schemas.microsoft.com/exchange/services/2006/types ItemId"`
	Subject          string              `xml:"http://schemas.microsoft.com/exchange/services/2006/types Subject"`
	Sensitivity      string              `xml:"http://schemas.microsoft.com/exchange/services/2006/types Sensitivity"`
	Body             *rBody              `xml:"http://schemas.microsoft.com/exchange/services/2006/types Body"`
	Categories       []string            `xml:"http://schemas.microsoft.com/exchange/services/2006/types Categories>String"`
	ExtendedProperty []rExtendedProperty `xml:"http://schemas.microsoft.com/exchange/services/2006/types ExtendedProperty"`
	LastModifiedTime string              `xml:"http://schemas.microsoft.com/exchange/services/2006/types LastModifiedTime"`
}

type rEntry struct {
	Key  string `xml:"Key,attr"`
	Text string `xml:",chardata"`
}

type rPhysicalEntry struct {
	Key             string `xml:"Key,attr"`
	Street          string `xml:"http://schemas.microsoft.com/exchange/services/2006/types Street"`
	City            string `xml:"http://schemas.microsoft.com/exchange/services/2006/types City"`
	State           string `xml:"http://schemas.microsoft.com/exchange/services/2006/types State"`
	CountryOrRegion string `xml:"http://schemas.microsoft.com/exchange/services/2006/types CountryOrRegion"`
	PostalCode      string `xml:"http://schemas.microsoft.com/exchange/services/2006/types PostalCode"`
}

type rContact struct {
	rItem
	DisplayName       string           `xml:"http://schemas.microsoft.com/exchange/services/2006/types DisplayName"`
	GivenName         string           `xml:"http://schemas.microsoft.com/exchange/services/2006/types GivenName"`
	CompanyName       string           `xml:"http://schemas.microsoft.com/exchange/services/2006/types CompanyName"`
	EmailAddresses    []rEntry         `xml:"http://schemas.microsoft.com/exchange/services/2006/types EmailAddresses>Entry"`
	PhysicalAddresses []rPhysicalEntry `xml:"http://schemas.microsoft.com/exchange/services/2006/types PhysicalAddresses>Entry"`
	PhoneNumbers      []rEntry         `xml:"http://schemas.microsoft.com/exchange/services/2006/types PhoneNumbers>Entry"`
	Department        string           `xml:"http://schemas.microsoft.com/exchange/services/2006/types Department"`
	JobTitle          string           `xml:"http://schemas.microsoft.com/exchange/services/2006/types JobTitle"`
	Surname           string           `xml:"http://schemas.microsoft.com/exchange/services/2006/types Surname"`
}

type rMailbox struct {
	EmailAddress string `xml:"http://schemas.microsoft.com/exchange/services/2006/types EmailAddress"`
	RoutingType  string `xml:"http://schemas.microsoft.com/exchange/services/2006/types RoutingType"`
}

type rAttendee struct {
	Mailbox rMailbox `xml:"http://schemas.microsoft.com/exchange/services/2006/types Mailbox"`
}

type rCalendarItem struct {
	rItem
	Start                string      `xml:"http://schemas.microsoft.com/exchange/services/2006/types Start"`
	End                  string      `xml:"http://schemas.microsoft.com/exchange/services/2006/types End"`
	IsAllDayEvent        string      `xml:"http://schemas.microsoft.com/exchange/services/2006/types IsAllDayEvent"`
	LegacyFreeBusyStatus string      `xml:"http://schemas.microsoft.com/exchange/services/2006/types LegacyFreeBusyStatus"`
	Location             string      `xml:"http://schemas.microsoft.com/exchange/services/2006/types Location"`
	IsMeeting            string      `xml:"http://schemas.microsoft.com/exchange/services/2006/types IsMeeting"`
	CalendarItemType     string      `xml:"http://schemas.microsoft.com/exchange/services/2006/types CalendarItemType"`
	MyResponseType       string      `xml:"http://schemas.microsoft.com/exchange/services/2006/types MyResponseType"`
	Organizer            *rAttendee  `xml:"http://schemas.microsoft.com/exchange/services/2006/types Organizer"`
	RequiredAttendees    []rAttendee `xml:"http://schemas.microsoft.com/exchange/services/2006/types RequiredAttendees>Attendee"`
	OptionalAttendees    []rAttendee `xml:"http://schemas.microsoft.com/exchange/services/2006/types OptionalAttendees>Attendee"`
	StartTimeZone        *wTimeZone  `xml:"http://schemas.microsoft.com/exchange/services/2006/types StartTimeZone"`
	EndTimeZone          *wTimeZone  `xml:"http://schemas.microsoft.com/exchange/services/2006/types EndTimeZone"`
	IsOrganizer          string      `xml:"http://schemas.microsoft.com/exchange/services/2006/types IsOrganizer"`
	// Series (recurring masters; OriginalStart on occurrences).
	OriginalStart       string            `xml:"http://schemas.microsoft.com/exchange/services/2006/types OriginalStart"`
	Recurrence          *rRecurrence      `xml:"http://schemas.microsoft.com/exchange/services/2006/types Recurrence"`
	ModifiedOccurrences []rOccurrenceInfo `xml:"http://schemas.microsoft.com/exchange/services/2006/types ModifiedOccurrences>Occurrence"`
	DeletedOccurrences  []rOccurrenceInfo `xml:"http://schemas.microsoft.com/exchange/services/2006/types DeletedOccurrences>DeletedOccurrence"`
}

// rRecurrence holds the pattern and the range elements, told apart by name.
type rRecurrence struct {
	Parts []rRecurrencePart `xml:",any"`
}

type rRecurrencePart struct {
	XMLName             xml.Name
	Interval            string `xml:"http://schemas.microsoft.com/exchange/services/2006/types Interval"`
	DaysOfWeek          string `xml:"http://schemas.microsoft.com/exchange/services/2006/types DaysOfWeek"`
	FirstDayOfWeek      string `xml:"http://schemas.microsoft.com/exchange/services/2006/types FirstDayOfWeek"`
	DayOfWeekIndex      string `xml:"http://schemas.microsoft.com/exchange/services/2006/types DayOfWeekIndex"`
	DayOfMonth          string `xml:"http://schemas.microsoft.com/exchange/services/2006/types DayOfMonth"`
	Month               string `xml:"http://schemas.microsoft.com/exchange/services/2006/types Month"`
	StartDate           string `xml:"http://schemas.microsoft.com/exchange/services/2006/types StartDate"`
	EndDate             string `xml:"http://schemas.microsoft.com/exchange/services/2006/types EndDate"`
	NumberOfOccurrences string `xml:"http://schemas.microsoft.com/exchange/services/2006/types NumberOfOccurrences"`
}

// rOccurrenceInfo is a t:Occurrence of ModifiedOccurrences or a
// t:DeletedOccurrence (Start only).
type rOccurrenceInfo struct {
	ItemID        *itemID `xml:"http://schemas.microsoft.com/exchange/services/2006/types ItemId"`
	Start         string  `xml:"http://schemas.microsoft.com/exchange/services/2006/types Start"`
	End           string  `xml:"http://schemas.microsoft.com/exchange/services/2006/types End"`
	OriginalStart string  `xml:"http://schemas.microsoft.com/exchange/services/2006/types OriginalStart"`
}
