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
// RecurringMaster; occurrences are not expanded) and FindItem restrictions
// (IsEqualTo, IsNotEqualTo, Exists, And, Or, Not on extended properties and
// simple fields, strings compared without case); its doc comment cites the
// pages.
//
// Known simplifications: only the contacts and calendar folders exist;
// recurring masters are stored but never expanded into occurrences or
// exceptions; FindItem has no SortOrder or QueryString; a missing
// ChangeKey in UpdateItem skips conflict detection; AutoResolve behaves
// like NeverOverwrite when the ChangeKey is stale.
package ews
