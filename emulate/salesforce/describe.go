package salesforce

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Metadata resources integration tools call at start-up:
//   - describeGlobal, GET /services/data/vXX.X/sobjects:
//     https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_describeGlobal.htm
//   - sObject describe, GET .../sobjects/{type}/describe (object and field
//     flags as in DescribeSObjectResult and Field):
//     https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_sobject_describe.htm
//     https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_describesobjects_describesobjectresult.htm
//   - limits, GET .../limits (DailyApiRequests Max/Remaining):
//     https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_limits.htm
//     consistent with the Sforce-Limit-Info header of the same response:
//     https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm
//   - OpenID Connect userinfo, GET /services/oauth2/userinfo:
//     https://help.salesforce.com/s/articleView?id=sf.remoteaccess_using_userinfo_endpoint.htm

// objectInfo is what describe says about an object beyond its fields.
type objectInfo struct {
	label, plural                 string
	searchable, mergeable, layout bool
	undeletable, feed             bool
}

var objectInfos = map[string]objectInfo{
	"Account":       {"Account", "Accounts", true, true, true, true, true},
	"Contact":       {"Contact", "Contacts", true, true, true, true, true},
	"Lead":          {"Lead", "Leads", true, true, true, true, true},
	"Event":         {"Event", "Events", true, false, true, true, false},
	"EventRelation": {"Event Relation", "Event Relations", false, false, false, false, false},
}

// referenceTo lists the objects an id field may point at, and its
// relationship name.
var referenceTo = map[string]struct {
	to  []string
	rel string
}{
	"AccountId": {[]string{"Account"}, "Account"}, "OwnerId": {[]string{"User"}, "Owner"},
	"CreatedById": {[]string{"User"}, "CreatedBy"}, "LastModifiedById": {[]string{"User"}, "LastModifiedBy"},
	"WhoId": {[]string{"Contact", "Lead"}, "Who"}, "WhatId": {[]string{"Account"}, "What"},
	"EventId": {[]string{"Event"}, "Event"}, "RelationId": {[]string{"Contact", "Lead", "User"}, "Relation"},
}

func objectURLs(sc *schema, version string) map[string]string {
	base := "/services/data/" + version + "/sobjects/" + sc.name
	return map[string]string{"sobject": base, "describe": base + "/describe", "rowTemplate": base + "/{ID}"}
}

// objectFlags are the DescribeGlobalSObjectResult properties of sc. Every
// emulated object can be created, read, updated, deleted and queried by
// the API user (there is no sharing model).
func objectFlags(sc *schema, version string) map[string]any {
	info := objectInfos[sc.name]
	return map[string]any{
		"name": sc.name, "label": info.label, "labelPlural": info.plural, "keyPrefix": sc.prefix,
		"createable": true, "updateable": true, "deletable": true, "queryable": true, "retrieveable": true,
		"replicateable": true, "triggerable": true, "searchable": info.searchable, "mergeable": info.mergeable,
		"layoutable": info.layout, "undeletable": info.undeletable, "feedEnabled": info.feed, "mruEnabled": info.layout,
		"activateable": false, "custom": false, "customSetting": false, "deprecatedAndHidden": false,
		"isInterface": false, "isSubtype": false, "hasSubtypes": false, "associateEntityType": nil, "associateParentEntity": nil,
		"urls": objectURLs(sc, version),
	}
}

func sortedSchemas() []*schema {
	out := make([]*schema, 0, len(schemas))
	for _, sc := range schemas {
		out = append(out, sc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func (s *Server) serveDescribeGlobal(w http.ResponseWriter, r *http.Request, version string) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, "GET")
		return
	}
	var objs []map[string]any
	for _, sc := range sortedSchemas() {
		objs = append(objs, objectFlags(sc, version))
	}
	writeJSON(w, http.StatusOK, map[string]any{"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": objs})
}

func fieldLabel(name string) string {
	n := strings.TrimSuffix(name, "__c")
	n = strings.TrimSuffix(n, "Id")
	if n == "" {
		n = name
	}
	var b strings.Builder
	for i, r := range n {
		if i > 0 && r >= 'A' && r <= 'Z' && !(n[i-1] >= 'A' && n[i-1] <= 'Z') {
			b.WriteByte(' ')
		}
		if r == '_' {
			r = ' '
		}
		b.WriteRune(r)
	}
	return b.String()
}

// describeField renders one Field of a describe result. createable and
// updateable are false for the fields the API may not write (system and
// derived fields); EventRelation's EventId and RelationId are set on create
// only, as in Salesforce.
func (s *Server) describeField(sc *schema, f *field, ext string) map[string]any {
	typ := [...]string{tString: "string", tID: "reference", tBool: "boolean", tInt: "int", tDateTime: "datetime", tDate: "date"}[f.typ]
	soap := [...]string{tString: "xsd:string", tID: "tns:ID", tBool: "xsd:boolean", tInt: "xsd:int", tDateTime: "xsd:dateTime", tDate: "xsd:date"}[f.typ]
	if f.name == "Id" {
		typ = "id"
	}
	isExt := ext != "" && f.name == ext
	updateable := !f.system && !(sc.name == "EventRelation" && (f.name == "EventId" || f.name == "RelationId"))
	length := 0
	if f.typ == tString {
		length = 255
	} else if f.typ == tID {
		length = 18
	}
	refs, rel := []string{}, any(nil)
	if ri, ok := referenceTo[f.name]; ok && f.typ == tID && f.name != "Id" {
		refs, rel = ri.to, ri.rel
	}
	return map[string]any{
		"name":                f.name,
		"label":               fieldLabel(f.name),
		"type":                typ,
		"soapType":            soap,
		"length":              length,
		"createable":          !f.system,
		"updateable":          updateable,
		"nillable":            !f.required && !f.system && f.typ != tBool,
		"externalId":          isExt,
		"unique":              isExt,
		"idLookup":            f.name == "Id" || isExt,
		"custom":              strings.HasSuffix(f.name, "__c"),
		"calculated":          false,
		"filterable":          true,
		"sortable":            true,
		"defaultedOnCreate":   f.system || f.name == "OwnerId" || f.typ == tBool,
		"referenceTo":         refs,
		"relationshipName":    rel,
		"deprecatedAndHidden": false,
	}
}

func (s *Server) serveDescribe(w http.ResponseWriter, r *http.Request, sc *schema, version string) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, "GET")
		return
	}
	s.mu.Lock()
	ext := s.extID[sc.name]
	s.mu.Unlock()
	var fields []map[string]any
	for _, f := range sortedFields(sc) {
		fields = append(fields, s.describeField(sc, f, ext))
	}
	out := objectFlags(sc, version)
	out["fields"] = fields
	out["childRelationships"] = []any{}
	out["recordTypeInfos"] = []any{}
	writeJSON(w, http.StatusOK, out)
}

// orgLimits are the fixed allocations /limits reports besides the daily API
// requests (values of a Developer Edition org).
var orgLimits = map[string][2]int{
	"ConcurrentAsyncGetReportInstances": {200, 200}, "ConcurrentSyncReportRuns": {20, 20},
	"DailyAsyncApexExecutions": {250000, 250000}, "DailyBulkApiBatches": {15000, 15000},
	"DailyBulkV2QueryFileStorageMB": {976562, 976562}, "DailyBulkV2QueryJobs": {10000, 10000},
	"DailyDurableGenericStreamingApiEvents": {10000, 10000}, "DailyDurableStreamingApiEvents": {10000, 10000},
	"DailyGenericStreamingApiEvents": {10000, 10000}, "DailyStreamingApiEvents": {10000, 10000},
	"DailyWorkflowEmails": {390, 390}, "DataStorageMB": {5, 5}, "FileStorageMB": {20, 20},
	"DurableStreamingApiConcurrentClients": {20, 20}, "HourlyAsyncReportRuns": {1200, 1200},
	"HourlyDashboardRefreshes": {200, 200}, "HourlyDashboardResults": {5000, 5000},
	"HourlyDashboardStatuses": {999999999, 999999999}, "HourlyODataCallout": {10000, 10000},
	"HourlySyncReportRuns": {500, 500}, "HourlyTimeBasedWorkflow": {50, 50}, "MassEmail": {10, 10},
	"SingleEmail": {15, 15}, "StreamingApiConcurrentClients": {20, 20},
}

// serveLimits reports the org's limits. DailyApiRequests is the rolling
// allocation the emulator enforces; this call has been counted already, so
// Remaining matches the Sforce-Limit-Info header of the same response.
func (s *Server) serveLimits(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, "GET")
		return
	}
	s.mu.Lock()
	used, limit := s.apiUsed, s.apiLimit
	s.mu.Unlock()
	w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", used, limit))
	out := map[string]any{"DailyApiRequests": map[string]int{"Max": limit, "Remaining": max(0, limit-used)}}
	for k, v := range orgLimits {
		out[k] = map[string]int{"Max": v[0], "Remaining": v[1]}
	}
	writeJSON(w, http.StatusOK, out)
}

// serveUserInfo answers the OpenID Connect userinfo endpoint for the
// session's user. It is not a data API call, so it is not counted.
func (s *Server) serveUserInfo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		methodNotAllowed(w, "GET, POST")
		return
	}
	u, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	local, _, _ := strings.Cut(u.Username, "@")
	idURL := "https://" + LoginHost + "/id/" + s.orgID + "/" + u.ID
	_, offset := s.clk.Now().In(s.loc).Zone()
	writeJSON(w, http.StatusOK, map[string]any{
		"sub": idURL, "user_id": u.ID, "organization_id": s.orgID,
		"preferred_username": u.Username, "nickname": local, "name": local,
		"email": u.Username, "email_verified": true, "zoneinfo": s.loc.String(), "utcOffset": offset * 1000,
		"active": true, "user_type": "STANDARD", "language": "en_US", "locale": "en_US",
		"urls": map[string]string{
			"rest":     s.InstanceURL() + "/services/data/v{version}/",
			"sobjects": s.InstanceURL() + "/services/data/v{version}/sobjects/",
			"query":    s.InstanceURL() + "/services/data/v{version}/query/",
		},
	})
}
