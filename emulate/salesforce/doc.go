// Package salesforce emulates the parts of Salesforce the sync engine and the
// token broker use: the OAuth 2.0 JWT bearer token endpoint on
// login.salesforce.com / test.salesforce.com (and the My Domain host), the
// OpenID Connect userinfo endpoint, and the REST data API on the instance
// host — sObject CRUD and upsert by external id for Contact, Lead, Account,
// Event and EventRelation, Get Updated / Get Deleted, describeGlobal and
// sObject describe, /limits, sObject Collections, Composite and Composite
// Batch, a SOQL subset with date literals and query-locator paging, the
// daily API allocation with Sforce-Limit-Info, and Salesforce's error array
// bodies. It also owns an admin API to seed apps, users and records and to
// inject faults.
//
// Behaviour follows the public documentation:
//   - JWT bearer flow: https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_jwt_flow.htm
//     (exp within 3 minutes, aud login/test.salesforce.com, pre-approved users, no refresh token)
//   - OAuth errors: https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_flow_errors.htm
//   - Status codes and error bodies: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
//   - Get Updated (30 days, seconds ignored, latestDateCovered): https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api/resources_getupdated.htm
//   - Get Deleted (15 days, deletedRecords, earliestDateAvailable): https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api/resources_getdeleted.htm
//     and getDeleted() rules (INVALID_REPLICATION_DATE): https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_getdeleted.htm
//   - Upsert by external id (201 created; 200 with created=false since v46.0,
//     204 before; 300 on ambiguous; updateOnly since v61.0): https://developer.salesforce.com/docs/platform/api-rest/guide/dome-upsert.html
//   - sObject Collections, Composite and Composite Batch: see composite.go;
//     describeGlobal, describe flags, /limits and userinfo: see describe.go.
//   - SOQL date literals (TODAY, LAST_N_DAYS:n, THIS_WEEK, ... and the FISCAL
//     forms for a fiscal year starting in January): see dateliteral.go;
//     rejected queries answer [{"message","errorCode"}] with the located
//     message ("ERROR at Row:r:Column:c") Salesforce gives, never a parser's
//     own wording: https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_dateformats.htm
//
// Known simplifications: every user sees every record (no sharing model);
// the schema is fixed to the fields in schema.go; SOQL has no relationship
// queries, aggregates, GROUP BY, TYPEOF or WITH (each answers MALFORMED_QUERY
// naming what is not supported); weeks start on Sunday (en_US).
// Get Updated counts a change only once its minute has closed: callers must
// start the next window at latestDateCovered, as Salesforce requires.
package salesforce
