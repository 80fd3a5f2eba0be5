// Package google is the mailbox end of a sync for Google Workspace: the
// connector.Connector for a user's contacts (People API, "My Contacts",
// people/me/connections) and the single events of their primary calendar
// (Calendar API v3), through Google's own Go client libraries
// (google.golang.org/api/people/v1 and calendar/v3).
//
// # Credentials
//
// New is given an *http.Client, in production sync/gateway's, and hands it
// to the client libraries with option.WithHTTPClient (option.WithEndpoint
// only moves the base URL, for tests). Every request is made with a context
// from gateway.WithSubject(ctx, Scope.User): the gateway client sets
// Syncgate-Subject from it, and the syncgate gateway injects the user's
// token (a service account with domain-wide delegation impersonating the
// user, so "primary" and "people/me" are that user's). The connector holds
// no credential and never sets Authorization. The calls it makes are the
// ones examples/policy.yaml grants the sync engine (a test checks every
// one).
//
// # Reading: sync tokens and the cursor
//
// Events: events.list on the primary calendar with singleEvents=false and
// showDeleted=true; the first listing restricts to the scope's window with
// timeMin/timeMax, later ones send only syncToken (Google refuses timeMin,
// timeMax and the filters with it). Pages follow nextPageToken;
// nextSyncToken comes on the last page only. Contacts:
// people.connections.list of people/me with personFields (names,
// emailAddresses, organizations, phoneNumbers, addresses, biographies,
// clientData, metadata), requestSyncToken=true and syncToken/pageToken in
// the same way. A failure on any page fails the call, never a shorter
// list; an id appearing twice keeps its last appearance.
//
// The cursor is the last page's nextSyncToken bound to what it was made
// for: "google:v1?k=…&u=…&ws=…&we=…&f=…&t=<token>", with the kind, a hash
// of the user (not the address), the window (events) and a hash of the
// request shape (f: the person fields, or singleEvents/showDeleted). A sync
// token is a position in the user's change history, not a credential. A
// cursor not made by this connector, or made for another user or kind, is
// not sent: ErrResync. A cursor made for another window or request shape
// is not an error: the scope is listed afresh (Full), since a token keeps
// the restrictions of the listing that made it. Calendar's 410
// (fullSyncRequired, also for an unknown token) and People's expired token,
// 400 FAILED_PRECONDITION with reason EXPIRED_SYNC_TOKEN (tokens live seven
// days; a 410 is taken the same way), on any page, are ErrResync: the
// engine lists again and matches through its state, no duplicates, no
// deletes.
//
// An incremental Calendar listing reports changes anywhere in the calendar
// (the token does not keep timeMin/timeMax): single events that no longer
// overlap the window are neither items nor deletions (all-day dates are
// read in the widest sense, UTC+14 to UTC-12, so nothing Google's own
// window might list is dropped). A cancelled event (status "cancelled")
// is a deletion; a cancelled instance of a recurring event (it carries
// recurringEventId) is not a series delete: it is an item with Series
// "exception". Masters (recurrence set) are Series "master", other
// instances Series "exception" (with singleEvents=false Google lists only
// instances that differ from their series; "occurrence" is never
// reported); without Options.Series the engine skips series and writes of
// series are ErrUnsupported; with it a series is one item, timed or
// all-day, EXDATE and RDATE included (see series.go). Contacts with metadata.deleted are deletions.
//
// # Mapping
//
// Events: summary, location, description; start.date/end.date (end
// exclusive) ↔ AllDay with StartDate/EndDate, never instants; timed events
// are read from start/end.dateTime (RFC 3339 with an offset, or a local
// time in timeZone) as UTC instants, created in UTC and, when moved, written
// in the event's own timeZone; visibility private or confidential ↔ Private
// (written as private or default); transparency transparent ↔ ShowAs "free"
// (others written opaque), eventType outOfOffice reads as "oof". Marker is
// the etag; Modified is updated.
//
// "Selected" events: Google has no categories. An event is selected when
// its private extended property syncgateSelected is "true" (an add-on, an
// Apps Script or the API can set it) or, when Options.SelectedColorID is
// set, when its colorId is that colour; a selected event reads with
// Categories = [Options.SelectedCategory] (default "Salesforce", the
// engine's default category), which the engine's "selected" setting
// compares with its category. An event created from an item whose
// Categories hold that category is written with syncgateSelected=true.
//
// Contacts: names[0].givenName/familyName, emailAddresses[0].value,
// organizations[0].name/title/department, the first phoneNumbers entry of
// type work (Phone) and of type mobile (MobilePhone), the address of type
// work (else addresses[0]) streetAddress/city/region/postalCode/country,
// biographies[0].value (Notes). Marker is the person's etag; Modified the
// CONTACT source's updateTime.
//
// # Writing
//
// Calendar writes carry sendUpdates=none (events.insert, events.patch,
// events.delete): Google notifies nobody, and no write ever names
// attendees, so an event's guests are kept as they are. Create inserts
// with a client-chosen id derived from the idempotency key (EventID: "sg"
// and the base32hex SHA-256 of the key, within Google's 5-1024 characters
// of [a-v0-9]) and the key in extendedProperties.private.syncgateKey. A
// retried create meets 409 duplicate and returns the event already there;
// if that event was deleted meanwhile (Google keeps the id), it is
// restored with status confirmed under If-Match. Update reads the event,
// answers ErrConflict if its etag is no longer the marker, and patches
// only the synced fields that differ, with If-Match: the marker (412 →
// ErrConflict); nothing differing, no write. Delete sends If-Match when
// given a marker (without one it reads first and refuses a series); 404
// and 410 (already deleted) are ErrNotFound. FindByKey gets the derived
// id, then (for a key carried under another id: Google does not promise to
// detect every id collision at insert time) lists with
// privateExtendedProperty=syncgateKey=<key>.
//
// People writes are sent one at a time per user, as Google asks. Create
// puts the key in clientData {key: "syncgateKey", value: key} (the
// documented place for a client's own data). People has no client-chosen
// resource names and no filter on clientData, so the connector keeps per
// user an index key → contact built from the last complete listing and
// kept current by incremental listings and its own writes; a Create first
// consults it (scanning the contacts once, bounded by MaxPages, when it has
// none for the user) and returns the contact already carrying the key
// instead of making a second. FindByKey always lists the contacts and
// matches clientData, because another process may have written since;
// People's lists can lag a just-created contact by a little (see the
// contacts guide), which an immediate retry in another process cannot
// see. Update reads the person, answers ErrConflict if the etag moved,
// and sends only the changed fields with updatePersonFields naming them
// and the etag in the body (400 FAILED_PRECONDITION, 409 or 412 →
// ErrConflict). Entries the model does not map stay: other e-mail
// addresses, other phone types, other addresses and organisations,
// unmapped parts of the name (the display forms are recomputed by Google).
// A new primary address replaces emailAddresses[0] in place; an emptied
// field removes its entry. Delete reads first when given a marker
// (deleteContact takes no etag) and maps 404 to ErrNotFound.
//
// # Errors
//
// 429, 503 with Retry-After, Calendar's 403 rateLimitExceeded,
// userRateLimitExceeded, quotaExceeded or dailyLimitExceeded, and People's
// RESOURCE_EXHAUSTED are *connector.ThrottledError (the gateway client has
// already retried 429; a 403 it does not retry), and the engine stops the
// pass. Other failures are *connector.HTTPError with the operation, the
// status, Google's reason (errors[].reason, or the google.rpc.ErrorInfo
// reason, or the canonical status; only if it looks like a code) and the
// gateway's Syncgate-Request-Id. A 404 is ErrNotFound only for an item
// operation, never for a listing. No error carries a body, a message, a
// URL, a query value (sync tokens, key filters), a user's address, a key
// or a token.
//
// # References
//
//   - https://developers.google.com/calendar/api/guides/sync
//   - https://developers.google.com/calendar/api/v3/reference/events/list
//   - https://developers.google.com/calendar/api/v3/reference/events
//     (id rules, visibility, transparency, colorId, eventType, extendedProperties)
//   - https://developers.google.com/calendar/api/v3/reference/events/insert,
//     …/events/patch, …/events/delete, …/events/get (sendUpdates)
//   - https://developers.google.com/calendar/api/guides/extended-properties
//   - https://developers.google.com/calendar/api/guides/version-resources (etags, If-Match)
//   - https://developers.google.com/calendar/api/guides/recurringevents
//   - https://developers.google.com/workspace/calendar/api/guides/errors
//   - https://developers.google.com/people/api/rest/v1/people.connections/list
//     (personFields, requestSyncToken, syncToken, EXPIRED_SYNC_TOKEN, metadata.deleted)
//   - https://developers.google.com/people/api/rest/v1/people#Person (clientData)
//   - https://developers.google.com/people/api/rest/v1/people/createContact,
//     …/people/updateContact (etag, updatePersonFields, failedPrecondition),
//     …/people/deleteContact, …/people/get
//   - https://developers.google.com/people/v1/contacts (mutate sequentially, propagation)
//   - https://developers.google.com/identity/protocols/oauth2/service-account
//     (domain-wide delegation, done by the gateway)
package google
