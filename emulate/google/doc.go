// Package google emulates the Google services syncgate talks to, for tests
// and the demo: the OAuth token endpoint (oauth2.googleapis.com/token and
// the older www.googleapis.com/oauth2/v4/token that Google still serves,
// JWT-bearer grant with domain-wide delegation, either audience accepted at
// either endpoint), Calendar v3 events and events.instances
// (www.googleapis.com/calendar/v3) and People API contacts
// (people.googleapis.com). It owns an in-memory store, opaque access, page
// and sync tokens, an RRULE subset expander, an admin API for seeding and
// fault injection, and nothing else: production code must not import it.
//
// Shapes follow the public documentation:
//   - https://developers.google.com/identity/protocols/oauth2/service-account
//     (JWT claim set iss/scope/aud/exp/iat/sub, the one-hour limit, DWD)
//   - https://developers.google.com/workspace/calendar/api/guides/errors
//     (error bodies: 400 timeRangeEmpty, 401 authError, 403/429
//     rateLimitExceeded, 404, 409, 410 fullSyncRequired, 412 conditionNotMet)
//   - https://developers.google.com/calendar/api/guides/sync (nextSyncToken on
//     the last page only, 410 when a token is invalidated, deleted items in
//     incremental results)
//   - https://developers.google.com/calendar/api/v3/reference/events/list and
//     its discovery document (calendar-api.json in google.golang.org/api):
//     parameters not allowed with syncToken, showDeleted/singleEvents rules;
//     the 400 reason syncTokenWithRequestRestrictions as observed in the wild
//     (https://qiita.com/shiraily/items/6762046f041551c269da)
//   - https://developers.google.com/calendar/api/guides/recurringevents
//     (instances, recurringEventId, originalStartTime, cancelled exceptions)
//     and https://developers.google.com/calendar/api/v3/reference/events/instances
//     (timeMin, timeMax, originalStart, showDeleted, maxResults, pageToken)
//   - the v4 token endpoint and its audience: as used by Google's Node auth
//     library (gtoken) and accepted by Google alongside oauth2.googleapis.com
//   - https://developers.google.com/people/api/rest/v1/people.connections/list
//     (personFields required, 7-day sync tokens, EXPIRED_SYNC_TOKEN,
//     PersonMetadata.deleted)
//   - https://developers.google.com/people/api/rest/v1/people/updateContact
//     (etag in the body, updatePersonFields, 400 failedPrecondition)
//   - https://developers.google.com/calendar/api/v3/reference/events/insert
//     (and patch, update, delete): sendUpdates all | externalOnly | none and
//     the deprecated sendNotifications; nothing is mailed, every API write
//     is recorded with the guests Google would have emailed (notify.go,
//     Server.CalendarWrites and Server.Notifications)
//
// Deliberate simplifications: one calendar per user (its primary), no
// sharing or ACLs, RRULE subset only (see rrule.go), malformed Calendar sync
// tokens answer 410 like invalidated ones so a client always recovers by a
// full sync.
package google
