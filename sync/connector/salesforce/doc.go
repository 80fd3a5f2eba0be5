// Package salesforce is the CRM end of a sync: Contacts and Events owned by
// the acting user, read and written with the Salesforce REST API (version
// configurable, v60.0 by default) on the org's instance URL.
//
// # Credentials
//
// Every call goes through the *http.Client the engine hands in — in
// production sync/gateway's, which sends it through the syncgate gateway
// with Syncgate-Subject; the gateway injects the user's JWT-bearer token.
// The connector holds no credential and sets no Authorization header. Each
// method puts the scope's user into the context itself
// (gateway.WithSubject), so no caller can forget it.
//
// # Who the user is
//
// The user's Salesforce id (for OwnerId filters) comes from the OpenID
// Connect UserInfo endpoint, GET /services/oauth2/userinfo on the instance
// host, which describes the token's own user; it is cached per subject. The
// gateway's policy must allow that path, and the connected app's scopes
// must include one that UserInfo accepts (openid, or id/profile).
//
// # Changes and the cursor
//
// Changes reads with SOQL on SystemModstamp (not Get Updated/Get Deleted:
// those report ids only and need a second read per record, and cannot
// filter on OwnerId):
//
//   - cursor "" is a full listing (query, Full=true) of the user's records
//     (OwnerId = user id), events limited to those overlapping the scope's
//     window (StartDateTime < WindowEnd AND EndDateTime >= WindowStart);
//   - afterwards queryAll with SystemModstamp >= Low, ordered by
//     SystemModstamp and Id, returns changed and deleted (IsDeleted, still
//     in the Recycle Bin) records in one read. The cursor (opaque: "sf1."
//     and base64url JSON) keeps the high-water SystemModstamp, Low = that
//     second minus a look-back (Options.Lookback, default 2 minutes, for
//     records committed late with an earlier SystemModstamp), and the ids
//     already reported at or after Low with their SystemModstamp: those are
//     skipped while unchanged, so ties at the same millisecond are neither
//     missed nor repeated. The seen set is capped (1,000 ids); beyond it
//     the look-back shrinks to the high-water second;
//   - when the event window moved, events inside the new window but
//     outside the cursor's old one are listed too (they are new to the
//     engine); events that left the window are not reported at all,
//     except (Options.Series) a series record changed so that it has no
//     occurrence left in the window, which is reported in
//     connector.Changes.Departed (a full listing leaves such a series out);
//   - every page is followed with nextRecordsUrl (queryMore); any failed
//     page fails the whole read: a partial list is never returned;
//   - a cursor of another user or kind, a malformed one, or one older than
//     Options.MaxCursorAge (default 14 days; the Recycle Bin keeps deleted
//     records 15 days) is ErrResync.
//
// Records reassigned to another owner simply stop appearing (they are not
// reported as deleted); an Account renamed without a change to its
// contacts is seen the next time those contacts change.
//
// # Mapping
//
// Contact: FirstName, LastName, Email, Title, Department, Phone,
// MobilePhone, MailingStreet/City/State/PostalCode/Country, Description ↔
// Notes, and Company ↔ the Name of the contact's Account (read by a second
// SOQL query on Account Ids, as the relationship field Account.Name is not
// used). On write, Company selects the one Account whose Name is exactly
// Company (no match or several: AccountId is left as it is; accounts are
// never created, and an empty Company does not detach the contact). A
// contact without a last name cannot be stored (ErrUnsupported).
//
// Event: Subject, Location, Description, IsPrivate ↔ Private, ShowAs
// (Busy ↔ busy, Free ↔ free, OutOfOffice ↔ oof; Salesforce has no
// Tentative, written as Busy). Timed events are StartDateTime/EndDateTime
// as UTC instants. All-day events (IsAllDayEvent) are civil dates:
// StartDate = ActivityDate and EndDate (exclusive) = StartDate + whole days
// of DurationInMinutes (1,440 per day); they are written as ActivityDate,
// StartDateTime at midnight UTC of that date and DurationInMinutes, so no
// time zone ever moves them a day. No write names attendees, so nothing
// invites anyone. Series (IsRecurrence) are reported with Series "master"
// and not written (ErrUnsupported); Lightning series (IsRecurrence2, timed
// or all-day) are one item with Options.Series (see series.go). Events longer than Salesforce's 14 days
// are ErrUnsupported.
//
// Item.ID is the record Id, Item.Marker the SystemModstamp, Item.Key the
// Syncgate_Id__c external id field, Item.Owner the OwnerId.
//
// # Writes
//
// Create upserts by external id (PATCH sobjects/{type}/Syncgate_Id__c/{key}:
// creates, or updates the record an interrupted attempt made, so it is
// idempotent) and reads the record back. Update reads SystemModstamp first
// (moved: ErrConflict), PATCHes the synced fields (empty ones set to null)
// and reads back. Delete, given a marker, checks it the same way, then
// DELETEs; 404 NOT_FOUND / ENTITY_IS_DELETED is ErrNotFound. Get reads the
// sObject row. FindByKey is SOQL on Syncgate_Id__c with the key quoted as
// a SOQL literal.
//
// # Errors
//
// REQUEST_LIMIT_EXCEEDED (the daily allocation) wraps ErrOrgLimit; 429 and
// 503 that outlast the gateway client's retries, and ConcurrentPerOrgLongTxn,
// are *connector.ThrottledError; content Salesforce refuses
// (STRING_TOO_LONG, REQUIRED_FIELD_MISSING, FIELD_INTEGRITY_EXCEPTION, ...)
// wraps ErrUnsupported; everything else is *connector.HTTPError with the
// status, Salesforce's errorCode and the gateway's Syncgate-Request-Id.
// Errors never carry a response body, a URL (SOQL in query strings holds
// names and addresses) or a token.
//
// # Documentation followed
//
//   - Query and queryMore (nextRecordsUrl), QueryAll:
//     https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_query.htm
//     https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_queryall.htm
//     https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_query.htm
//   - Sforce-Query-Options batchSize:
//     https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_queryoptions.htm
//   - Upsert by external id (201 created, 200 updated since 46.0):
//     https://developer.salesforce.com/docs/platform/api-rest/guide/dome-upsert.html
//   - sObject Rows (get, update, delete):
//     https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_sobject_retrieve.htm
//   - Status codes and error responses:
//     https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
//   - API request limits (REQUEST_LIMIT_EXCEEDED):
//     https://developer.salesforce.com/docs/atlas.en-us.salesforce_app_limits_cheatsheet.meta/salesforce_app_limits_cheatsheet/salesforce_app_limits_platform_api.htm
//   - SOQL quoted string escapes and dateTime formats:
//     https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_quotedstringescapes.htm
//     https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_dateformats.htm
//   - Event and Contact objects (ActivityDate, IsAllDayEvent,
//     DurationInMinutes, EndDateTime, ShowAs):
//     https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_event.htm
//     https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_contact.htm
//   - UserInfo endpoint:
//     https://help.salesforce.com/s/articleView?id=sf.remoteaccess_using_userinfo_endpoint.htm
package salesforce
