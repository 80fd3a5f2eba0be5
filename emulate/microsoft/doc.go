// Package microsoft emulates the Microsoft identity platform
// (login.microsoftonline.com, the client-credentials token endpoint) and the
// part of Microsoft Graph v1.0 (graph.microsoft.com) that syncgate's Graph
// connector uses with app-only access: /v1.0/users/{id|userPrincipalName}
// contacts, contact folders and contact delta, events (single, series
// masters, occurrences, exceptions), calendarView and calendarView/delta.
//
// It owns: app registrations (client secret or certificate), token issuance
// and checking, an in-memory mailbox store, server-side delta sync state,
// request throttling, fault injection and the admin API used to seed it. It
// is for tests and the demo only.
//
// Behaviour follows the public documentation:
//   - Client credentials and token errors:
//     https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
//     https://learn.microsoft.com/entra/identity-platform/reference-error-codes
//     (AADSTS7000215 bad secret, AADSTS700016 unknown app, AADSTS7000218 no
//     credential, AADSTS1002012 invalid_scope, AADSTS500011 invalid_resource,
//     AADSTS90002 unknown tenant).
//   - Certificate assertions (RS256 + x5t, PS256 + x5t#S256; aud = token
//     endpoint, iss = sub = client_id, exp, nbf, jti):
//     https://learn.microsoft.com/entra/identity-platform/certificate-credentials
//     Assertion failures answer invalid_client with AADSTS50027 (malformed),
//     700027 (signature / unregistered certificate), 700021 (iss/sub), 700023
//     (aud), 700024 (time range). A replayed jti answers AADSTS70002; the
//     code Entra uses for replay is not documented.
//   - Graph errors: https://learn.microsoft.com/graph/errors (OData error
//     body with innerError date, request-id, client-request-id).
//   - Throttling: https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits
//     (10,000 requests per 10 minutes and 4 concurrent requests per app and
//     mailbox; 429 ApplicationThrottled with Retry-After).
//   - Delta: https://learn.microsoft.com/graph/delta-query-overview,
//     https://learn.microsoft.com/graph/api/contact-delta,
//     https://learn.microsoft.com/graph/api/event-delta,
//     https://learn.microsoft.com/graph/delta-query-events (nextLink with
//     $skiptoken, deltaLink with $deltatoken, Prefer: odata.maxpagesize and
//     Preference-Applied, @removed). A stale or invalidated token answers
//     410 SyncStateNotFound (the code Graph returns, see
//     microsoftgraph/microsoft-graph-docs#2350); an undecodable one 410
//     SyncStateInvalid. @removed reason is "deleted" when the item is gone
//     and "changed" when it still exists but left the view (window).
//   - Events: https://learn.microsoft.com/graph/api/resources/event
//     (type, seriesMasterId, originalStart, transactionId, changeKey,
//     @odata.etag), https://learn.microsoft.com/graph/api/resources/patternedrecurrence
//     (daily, weekly, and in monthly.go the monthly and yearly patterns;
//     endDate, numbered and noEnd ranges are emulated, other pattern types
//     are rejected with 400). isAllDay, as the event resource says, needs
//     start and end at midnight in one time zone (400 otherwise); an
//     all-day series' occurrences are whole days in the recurrence zone,
//     also across a daylight saving change. A stale If-Match answers 412
//     ErrorIrresolvableConflict.
//   - Single-value extended properties on contacts and events (create and
//     PATCH with singleValueExtendedProperties, $expand with $filter on id,
//     list $filter=singleValueExtendedProperties/Any(…)):
//     https://learn.microsoft.com/graph/api/singlevaluelegacyextendedproperty-get
//     and extprops.go. Lists refuse any other $filter with 400 rather
//     than ignore it.
//
// Emulator choices where Graph is opaque: ids look like Exchange ids
// ("AAMk…"), occurrence ids are the master id, '.', and the original start;
// access tokens are opaque random strings; times are returned in UTC.
// Contact delta is served under contactFolders/{id}/contacts/delta
// (https://learn.microsoft.com/graph/api/contact-delta) and under
// /users/{id}/contacts/delta, which Graph v1.0's published API description
// (the OpenAPI document in microsoftgraph/msgraph-metadata, from which the
// SDKs are generated) lists as the delta function of the contacts
// collection: it is the default contacts folder's delta, and its tokens are
// interchangeable with that folder's.
package microsoft
