// Package graph is the mailbox end of a sync for Microsoft 365: the
// connector.Connector for a user's contacts (default contacts folder) and
// single events (default calendar) through Microsoft Graph v1.0, addressed
// as /users/{user}/….
//
// # Credentials
//
// It is given an *http.Client, in production sync/gateway's, and sends
// every request with gateway.WithSubject(ctx, Scope.User): the gateway
// client sets Syncgate-Subject and the syncgate gateway injects the app
// token. The connector holds no credential and never sets Authorization.
// The calls it makes are the ones examples/policy.yaml allows (a test
// checks every one).
//
// # Reading: delta rounds and the cursor
//
// Contacts come from contactFolders/{id}/contacts/delta (contact-delta,
// the published v1.0 form); the default folder's id is the parentFolderId
// of any contact in /users/{u}/contacts, which lists that folder. An empty
// default folder is an empty full listing with cursor "" (no folder id, no
// round to start); the next call lists again. With Options.ContactsDelta
// it reads /users/{u}/contacts/delta instead, which Graph v1.0's OpenAPI
// description lists (the default folder's delta) but the contact-delta
// page does not; both are tested. Events come from
// calendarView/delta?startDateTime=&endDateTime= with the scope's window
// (event-delta). Every call sends Prefer: odata.maxpagesize and follows
// @odata.nextLink to @odata.deltaLink (delta-query-overview); a failure on
// any page fails the call, never a shorter list. The same id appearing
// twice in a round keeps its last appearance.
//
// The cursor is the round's @odata.deltaLink as Graph returned it (it
// carries a $deltatoken, a sync-state handle, and no secret), plus a URL
// fragment binding it to kind, user (a hash, not the address) and, for
// events, window: "…/delta?$deltatoken=…#k=events&u=…&ws=…&we=…". A
// fragment is never sent. The whole link is kept because the folder id is
// in its path. A cursor that is not under the base URL, lacks a
// $deltatoken or was made for another user or kind is not followed:
// ErrResync. So is a 410 (SyncStateNotFound, SyncStateInvalid) or a
// resyncRequired code, on any page. A cursor made for another window is
// not an error: the connector lists the new window afresh (Full).
//
// @removed with reason "changed" (the item left the window or folder) is
// not a deletion. With Options.Series such an event is read (one GET): a
// series master that left the window (its range cut before it, as a
// "this and following" split does to the original) is reported in
// connector.Changes.Departed, as is a master removed with reason "deleted"
// that still exists but has no occurrence in the window; other events
// that left the window stay unreported
// (https://learn.microsoft.com/en-us/graph/delta-query-events). Reason "deleted" is one for contacts; for events it is
// confirmed with a GET first, because event-delta documents that events
// updated outside the window also arrive as removed with reason "deleted":
// 404 → Deleted, otherwise not (the event is returned as an item if it
// overlaps the window). A delta item without its core fields (contacts:
// givenName, surname, emailAddresses; single events: subject, start, end)
// is read again with a GET; occurrences and exceptions are not (part 1
// does not sync them).
//
// Delta cannot $expand, so the idempotency key of listed items comes from
// transactionId for events and, on a full contact listing, from a second
// listing of /users/{u}/contacts with the key property expanded.
//
// # Mapping
//
// Contacts: givenName, surname, emailAddresses[0].address, companyName,
// jobTitle, department, businessPhones[0], mobilePhone, businessAddress
// {street, city, state, postalCode, countryOrRegion}, personalNotes. An
// update reads the contact, then PATCHes only the synced fields that
// differ: a new primary address or phone replaces only the first entry of
// emailAddresses or businessPhones, the others and every unsynced property
// stay; an empty one removes the first entry. Nothing differing → no write.
//
// Events: subject, location.displayName, body as plain text (asked for
// with Prefer: outlook.body-content-type="text", which message-get
// documents; user-list-events says lists return HTML only, so an HTML body
// is turned into text deterministically, see htmlToText, and an untouched
// body never looks changed; written as contentType text), sensitivity private or confidential
// ↔ Private (written as private/normal), showAs free/tentative/oof (busy,
// workingElsewhere, unknown read as busy), categories → Categories (read;
// written on create only), type seriesMaster/occurrence/exception → Series
// master/occurrence/exception (without Options.Series the engine skips
// them and writes of series are ErrUnsupported; with it a series is one
// item, timed or all-day: see series.go). Times are requested in UTC (Prefer:
// outlook.timezone="UTC") and converted from whatever zone arrives (UTC,
// Windows names from a table, IANA names). A timed event is written in
// UTC. An all-day event is written as midnight to midnight UTC with
// isAllDay; read as the dates of its start and end in originalStartTimeZone
// (Exchange stores all-day events as midnights of the zone they were made
// in, and Graph may render them in another), falling back to the nearest
// midnight when that zone is unknown: never shifted, never a timed event.
// Updates PATCH only the synced fields that differ.
//
// Marker is @odata.etag (W/"changeKey"); writes send it as If-Match.
//
// # Writing
//
// Create POSTs to /users/{u}/contacts or /users/{u}/events with the key in
// a single-value extended property (KeyPropertyID, a named String property
// in syncgate's own GUID property set) and, for events, as transactionId,
// so a retried POST returns the first event. No write ever names
// attendees. Update and Delete of an event read it first: a meeting with
// attendees that this mailbox organises (or where Graph does not say) is
// not written (ErrUnsupported), because updating or deleting it on the
// organiser's calendar notifies the attendees (event-delete). Update reads
// contacts first too; a moved marker is ErrConflict without a write, and a
// 412 from If-Match (the item changed between read and write) is
// ErrConflict. A 404 with an item-not-found code is ErrNotFound; a 404 for
// an unknown mailbox is not. FindByKey filters /contacts or /events with
// singleValueExtendedProperties/Any(ep: ep/id eq '…' and ep/value eq '…').
//
// # Errors
//
// 429 and 503 that outlast the gateway client's retries are
// *connector.ThrottledError; other failures *connector.HTTPError with the
// operation, status, Graph's error.code (only if it looks like a code) and
// the gateway's Syncgate-Request-Id. No error carries a body, a URL, a
// query value, a user's address, a key or a token.
//
// # References
//
//   - https://learn.microsoft.com/graph/delta-query-overview
//   - https://learn.microsoft.com/graph/delta-query-events
//   - https://learn.microsoft.com/graph/api/contact-delta
//   - https://learn.microsoft.com/graph/api/event-delta
//   - https://learn.microsoft.com/graph/api/user-list-contacts (the default folder)
//   - https://learn.microsoft.com/graph/api/resources/contact
//   - https://learn.microsoft.com/graph/api/resources/event (transactionId, isAllDay,
//     originalStartTimeZone, sensitivity, showAs, type)
//   - https://learn.microsoft.com/graph/api/event-get (Prefer: outlook.timezone),
//     https://learn.microsoft.com/graph/api/user-list-events (bodies in HTML),
//     https://learn.microsoft.com/graph/api/message-get (Prefer: outlook.body-content-type)
//   - https://learn.microsoft.com/graph/api/event-update,
//     https://learn.microsoft.com/graph/api/event-delete (cancellations to attendees)
//   - https://learn.microsoft.com/graph/api/resources/extended-properties-overview
//   - https://learn.microsoft.com/graph/api/singlevaluelegacyextendedproperty-post-singlevalueextendedproperties
//   - https://learn.microsoft.com/graph/api/singlevaluelegacyextendedproperty-get
//   - https://learn.microsoft.com/graph/errors
//   - https://learn.microsoft.com/graph/throttling
package graph
