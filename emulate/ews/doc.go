// Package ews emulates an on-premises Exchange 2016 Client Access server's
// EWS endpoint (POST https://mail.corp.example/EWS/Exchange.asmx, SOAP 1.1)
// for the operations syncgate uses on the contacts and calendar folders:
// SyncFolderItems, GetItem, CreateItem, UpdateItem, DeleteItem and FindItem,
// with Basic authentication of a service account, ExchangeImpersonation
// checked against impersonation grants, ChangeKey conflict detection,
// authenticated SyncState blobs, ErrorServerBusy throttling and SOAP faults.
// It exports ParseRequest, the hardened request parser (no DOCTYPE, no
// entities, bounded size and depth), so the gateway's EWS policy can be
// cross-checked against the same reading of a request. It also owns an
// admin API to seed accounts, mailboxes, grants and items and inject faults.
//
// Behaviour follows the public documentation:
//   - SyncFolderItems (max 512 changes, SyncState, Ignore): https://learn.microsoft.com/exchange/client-developer/web-service-reference/syncfolderitems-operation
//     and SyncFolderItemsResponseMessage / Changes (Items):
//     https://learn.microsoft.com/exchange/client-developer/web-service-reference/syncfolderitemsresponsemessage
//   - ConflictResolution (AlwaysOverwrite, AutoResolve, NeverOverwrite → ErrorIrresolvableConflict):
//     https://learn.microsoft.com/openspecs/exchange_server_protocols/ms-oxwscore/0dc48948-2f1b-425a-9e53-0c247657ef12
//   - Throttling (ErrorServerBusy, BackOffMilliseconds in MessageXml, HTTP 500):
//     https://learn.microsoft.com/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange
//   - Impersonation (ExchangeImpersonation/ConnectingSID, ErrorImpersonateUserDenied,
//     ErrorNonExistentMailbox): https://learn.microsoft.com/exchange/client-developer/exchange-web-services/impersonation-and-ews-in-exchange
//   - Element order of ContactItemType / CalendarItemType: types.xsd, as in
//     https://learn.microsoft.com/exchange/client-developer/web-service-reference/contact
//     and https://learn.microsoft.com/exchange/client-developer/web-service-reference/calendaritem
//
// extensions.go adds categories, named extended properties (returned only
// when AdditionalProperties asks for them), physical addresses, optional
// attendees, start/end time zones, recurring masters (a Recurrence makes a
// RecurringMaster) and FindItem restrictions (IsEqualTo, IsNotEqualTo,
// Exists, And, Or, Not on extended properties and simple fields, strings
// compared without case); its doc comment cites the pages.
//
// recurrence.go makes recurring appointments behave as in Exchange
// 2016/2019: the patterns DailyRecurrence, WeeklyRecurrence (DaysOfWeek,
// FirstDayOfWeek), AbsoluteMonthlyRecurrence, RelativeMonthlyRecurrence,
// AbsoluteYearlyRecurrence and RelativeYearlyRecurrence with the ranges
// NoEndRecurrence, EndDateRecurrence and NumberedRecurrence, expanded in the
// master's StartTimeZone (a Windows zone id) so the wall-clock time stays
// across DST; a DayOfMonth beyond a month's end falls on its last day
// (absolutemonthlyrecurrence, dayofmonth). Occurrences are addressed by OccurrenceItemId
// (RecurringMasterId, 1-based InstanceIndex) or their ItemId, masters by
// RecurringMasterItemId, in GetItem, UpdateItem and DeleteItem. An updated
// occurrence becomes an Exception listed in the master's
// ModifiedOccurrences (ItemId, Start, End, OriginalStart); a deleted one is
// listed in DeletedOccurrences (Start); either gives the master a new
// ChangeKey and makes SyncFolderItems report it as updated (exceptions are
// never folder items of their own). GetItem of a master returns
// FirstOccurrence, LastOccurrence (bounded series), ModifiedOccurrences and
// DeletedOccurrences; FindItem with CalendarView returns the occurrences
// and exceptions in the range (CalendarItemType Occurrence/Exception).
// Codes: ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange,
// ErrorCalendarOccurrenceIsDeletedFromRecurrence, ErrorItemNotFound,
// ErrorCalendarInvalidRecurrence, ErrorCalendarInvalidDayForWeeklyRecurrence.
// Pages:
//   - https://learn.microsoft.com/exchange/client-developer/exchange-web-services/recurrence-patterns-and-ews
//   - https://learn.microsoft.com/exchange/client-developer/web-service-reference/recurrence-recurrencetype
//   - https://learn.microsoft.com/exchange/client-developer/web-service-reference/absolutemonthlyrecurrence,
//     https://learn.microsoft.com/exchange/client-developer/web-service-reference/dayofmonth
//   - https://learn.microsoft.com/exchange/client-developer/web-service-reference/occurrenceitemid
//   - https://learn.microsoft.com/exchange/client-developer/web-service-reference/recurringmasteritemid
//   - https://learn.microsoft.com/exchange/client-developer/web-service-reference/modifiedoccurrences
//   - https://learn.microsoft.com/exchange/client-developer/web-service-reference/deletedoccurrences
//   - https://learn.microsoft.com/exchange/client-developer/web-service-reference/calendarview
//   - https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-access-a-recurring-series-by-using-ews
//   - https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-update-a-recurring-series-by-using-ews
//   - https://learn.microsoft.com/exchange/client-developer/exchange-web-services/handling-deletion-related-errors-in-ews-in-exchange
//
// Faults.ServerBusyOp (and ServerBusyOccurrences) aim ErrorServerBusy at
// one operation (on occurrences only), e.g. the occurrence writes.
//
// Known simplifications: only the contacts and calendar folders exist;
// FindItem has no SortOrder or QueryString; a missing ChangeKey in
// UpdateItem skips conflict detection; AutoResolve behaves like
// NeverOverwrite when the ChangeKey is stale; changing a master's
// Recurrence, Start, End or zone drops all its exceptions (Exchange keeps
// some when only the time moves); only the common Windows zone ids are
// known (others are tried as IANA names).
package ews
