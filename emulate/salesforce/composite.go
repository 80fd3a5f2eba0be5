package salesforce

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Composite resources, as documented in the REST API Developer Guide:
//   - sObject Collections, /composite/sobjects (API 42.0+): create (POST),
//     update (PATCH), upsert by external id (PATCH .../{type}/{field}, API
//     46.0+), delete (DELETE ?ids=), retrieve (GET .../{type}?ids=&fields=);
//     up to 200 records, allOrNone, one result per record in request order:
//     https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections.htm
//   - Composite, /composite: up to 25 subrequests (at most 5 of them queries
//     or collections) with @{referenceId.field} references, allOrNone rolls
//     every subrequest back, the whole call counts as one API request:
//     https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_composite_post.htm
//   - Composite Batch, /composite/batch: up to 25 independent subrequests,
//     haltOnError, each subrequest counts against the API allocation:
//     https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_batch.htm
//
// Emulator choices where the guide is silent: a collection whose records mix
// more than ten type chunks is not refused; a composite subrequest that names
// a resource the composite resource does not support answers 400
// INVALID_API_INPUT inside the composite response; a malformed envelope
// answers 400 JSON_PARSER_ERROR (as the guide shows for a missing
// referenceId) and too many subrequests 400 LIMIT_EXCEEDED.

const (
	maxCollection       = 200
	maxSubrequests      = 25
	maxCompositeQueries = 5
	maxCompositeBody    = 8 << 20
)

// collError is one error of a collection result; unlike the REST error
// array it names the code statusCode and always carries fields.
type collError struct {
	StatusCode string   `json:"statusCode"`
	Message    string   `json:"message"`
	Fields     []string `json:"fields"`
}

// collResult is a SaveResult, DeleteResult or UpsertResult.
type collResult struct {
	ID      string      `json:"id,omitempty"`
	Success bool        `json:"success"`
	Errors  []collError `json:"errors"`
	Created *bool       `json:"created,omitempty"`
}

func collErrors(oe *opError) []collError {
	out := make([]collError, 0, len(oe.errs))
	for _, e := range oe.errs {
		f := e.Fields
		if f == nil {
			f = []string{}
		}
		out = append(out, collError{StatusCode: e.ErrorCode, Message: e.Message, Fields: f})
	}
	return out
}

func failed(id string, oe *opError) collResult {
	return collResult{ID: id, Success: false, Errors: collErrors(oe)}
}

var rolledBack = collError{StatusCode: "ALL_OR_NONE_OPERATION_ROLLED_BACK",
	Message: "Record rolled back because not all records were valid and the request was using AllOrNone header", Fields: []string{}}

// storeSnapshot is the record state an allOrNone request restores.
type storeSnapshot map[string]objSnapshot

type objSnapshot struct {
	order  []string
	recs   map[string]*record
	fields map[string]map[string]any
}

func (s *Server) snapshotLocked() storeSnapshot {
	snap := make(storeSnapshot, len(s.objects))
	for name, st := range s.objects {
		o := objSnapshot{order: append([]string(nil), st.order...), recs: make(map[string]*record, len(st.records)),
			fields: make(map[string]map[string]any, len(st.records))}
		for id, r := range st.records {
			o.recs[id] = r
			f := make(map[string]any, len(r.fields))
			for k, v := range r.fields {
				f[k] = v
			}
			o.fields[id] = f
		}
		snap[name] = o
	}
	return snap
}

// restoreLocked puts every record back as it was at the snapshot: records
// created since vanish, updated and deleted ones get their old fields.
func (s *Server) restoreLocked(snap storeSnapshot) {
	for name, o := range snap {
		st := s.objects[name]
		st.order = o.order
		st.records = make(map[string]*record, len(o.recs))
		for id, r := range o.recs {
			r.fields = o.fields[id]
			st.records[id] = r
		}
	}
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) *opError {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCompositeBody))
	if err != nil {
		return newOpError(http.StatusRequestEntityTooLarge, "JSON_PARSER_ERROR", "request body too large or unreadable")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return newOpError(http.StatusBadRequest, "JSON_PARSER_ERROR", "The request body is not valid JSON for this resource: "+truncate(err.Error(), 200))
	}
	return nil
}

// keyFold finds a key case-insensitively, as sObject field names are.
func keyFold(m map[string]any, name string) (string, any, bool) {
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return k, v, true
		}
	}
	return "", nil, false
}

// recordType reads attributes.type of a collection record.
func recordType(rec map[string]any) (*schema, *opError) {
	attrs, _ := rec["attributes"].(map[string]any)
	typ, _ := attrs["type"].(string)
	if typ == "" {
		return nil, newOpError(http.StatusBadRequest, "INVALID_TYPE", "Each record in the collection needs an attributes map with a type")
	}
	sc, ok := schemaFor(typ)
	if !ok {
		return nil, newOpError(http.StatusBadRequest, "INVALID_TYPE", "sObject type '"+truncate(typ, 80)+"' is not supported.")
	}
	return sc, nil
}

func withoutKeys(rec map[string]any, drop ...string) map[string]any {
	out := make(map[string]any, len(rec))
	for k, v := range rec {
		skip := false
		for _, d := range drop {
			if strings.EqualFold(k, d) {
				skip = true
			}
		}
		if !skip {
			out[k] = v
		}
	}
	return out
}

func (s *Server) serveCompositeFamily(w http.ResponseWriter, r *http.Request, user *User, version string, vnum float64, segs []string) {
	switch {
	case len(segs) == 0:
		switch r.Method {
		case http.MethodGet:
			base := "/services/data/" + version + "/composite"
			writeJSON(w, http.StatusOK, map[string]string{"batch": base + "/batch", "sobjects": base + "/sobjects"})
		case http.MethodPost:
			s.serveComposite(w, r, user)
		default:
			methodNotAllowed(w, "GET, POST")
		}
	case segs[0] == "sobjects" && vnum >= 42:
		s.serveCollections(w, r, user, version, vnum, segs[1:])
	case segs[0] == "batch" && len(segs) == 1:
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		s.serveBatch(w, r, user)
	default:
		notFound(w)
	}
}

// ---- sObject Collections ----

type collectionIn struct {
	AllOrNone bool             `json:"allOrNone"`
	Records   []map[string]any `json:"records"`
}

func (s *Server) serveCollections(w http.ResponseWriter, r *http.Request, user *User, version string, vnum float64, segs []string) {
	switch {
	case len(segs) == 0 && (r.Method == http.MethodPost || r.Method == http.MethodPatch):
		var in collectionIn
		if oe := readJSON(w, r, &in); oe != nil {
			writeOpError(w, oe)
			return
		}
		if in.Records == nil {
			writeErrors(w, http.StatusBadRequest, apiError{Message: "'records' is a required field.", ErrorCode: "JSON_PARSER_ERROR"})
			return
		}
		if len(in.Records) > maxCollection {
			writeErrors(w, http.StatusBadRequest, apiError{Message: fmt.Sprintf("record limit reached. cannot submit more than %d records into this call", maxCollection), ErrorCode: "EXCEEDED_ID_LIMIT"})
			return
		}
		s.mu.Lock()
		var res []collResult
		if r.Method == http.MethodPost {
			res = s.collectionLocked(in, false, func(rec map[string]any) collResult { return s.collCreateLocked(user, rec) })
		} else {
			res = s.collectionLocked(in, true, func(rec map[string]any) collResult { return s.collUpdateLocked(user, rec) })
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, res)
	case len(segs) == 2 && r.Method == http.MethodPatch && vnum >= 46:
		s.serveCollectionUpsert(w, r, user, segs[0], segs[1])
	case len(segs) == 0 && r.Method == http.MethodDelete:
		q := r.URL.Query()
		var ids []string
		for _, id := range strings.Split(q.Get("ids"), ",") {
			if id = strings.TrimSpace(id); id != "" {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			writeErrors(w, http.StatusBadRequest, apiError{Message: "Missing required parameter: ids", ErrorCode: "MISSING_ARGUMENT"})
			return
		}
		if len(ids) > maxCollection {
			writeErrors(w, http.StatusBadRequest, apiError{Message: fmt.Sprintf("record limit reached. cannot submit more than %d records into this call", maxCollection), ErrorCode: "EXCEEDED_ID_LIMIT"})
			return
		}
		allOrNone, err := parseBoolParam(q.Get("allOrNone"))
		if err != nil {
			writeErrors(w, http.StatusBadRequest, apiError{Message: "allOrNone must be true or false", ErrorCode: "INVALID_INPUT"})
			return
		}
		in := collectionIn{AllOrNone: allOrNone}
		for _, id := range ids {
			in.Records = append(in.Records, map[string]any{"Id": id})
		}
		s.mu.Lock()
		res := s.collectionLocked(in, true, func(rec map[string]any) collResult { return s.collDeleteLocked(user, rec["Id"].(string)) })
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, res)
	case len(segs) == 1 && r.Method == http.MethodGet:
		s.serveCollectionRetrieve(w, r, segs[0], version)
	case len(segs) == 0:
		methodNotAllowed(w, "POST, PATCH, DELETE")
	default:
		notFound(w)
	}
}

func parseBoolParam(v string) (bool, error) {
	if v == "" {
		return false, nil
	}
	return strconv.ParseBool(v)
}

// collectionLocked runs op on every record in order. With allOrNone, any
// failure restores the store and marks every other record rolled back
// (keeping the ids of updates and deletes, which the caller named).
func (s *Server) collectionLocked(in collectionIn, keepIDs bool, op func(map[string]any) collResult) []collResult {
	var snap storeSnapshot
	if in.AllOrNone {
		snap = s.snapshotLocked()
	}
	res := make([]collResult, len(in.Records))
	anyFailed := false
	for i, rec := range in.Records {
		if rec == nil {
			res[i] = failed("", newOpError(http.StatusBadRequest, "INVALID_TYPE", "Each record in the collection needs an attributes map with a type"))
		} else {
			res[i] = op(rec)
		}
		anyFailed = anyFailed || !res[i].Success
	}
	if in.AllOrNone && anyFailed {
		s.restoreLocked(snap)
		for i := range res {
			if res[i].Success {
				id := res[i].ID
				if !keepIDs {
					id = ""
				}
				res[i] = collResult{ID: id, Success: false, Errors: []collError{rolledBack}}
			}
		}
	}
	return res
}

func (s *Server) collCreateLocked(user *User, rec map[string]any) collResult {
	sc, oe := recordType(rec)
	if oe != nil {
		return failed("", oe)
	}
	if _, _, has := keyFold(rec, "Id"); has {
		return failed("", newOpError(http.StatusBadRequest, "INVALID_FIELD", "cannot specify Id in an insert call", "Id"))
	}
	id, oe := s.createLocked(user, sc, withoutKeys(rec, "attributes"))
	if oe != nil {
		return failed("", oe)
	}
	return collResult{ID: id, Success: true, Errors: []collError{}}
}

// collRecordLocked resolves a record id named in a collection request.
func (s *Server) collRecordLocked(sc *schema, raw any) (*record, string, *opError) {
	rawID, _ := raw.(string)
	id, ok := normalizeID(rawID)
	if !ok || sc != nil && !strings.HasPrefix(id, sc.prefix) {
		name := "Record"
		if sc != nil {
			name = sc.name
		}
		return nil, "", newOpError(http.StatusBadRequest, "MALFORMED_ID", fmt.Sprintf("%s ID: id value of incorrect type: %s", name, truncate(rawID, 20)), "Id")
	}
	if sc == nil {
		for _, cand := range schemas {
			if strings.HasPrefix(id, cand.prefix) {
				sc = cand
			}
		}
		if sc == nil {
			return nil, id, newOpError(http.StatusBadRequest, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
		}
	}
	rec, oe := s.lookupLocked(sc, id)
	return rec, id, oe
}

func (s *Server) collUpdateLocked(user *User, rec map[string]any) collResult {
	sc, oe := recordType(rec)
	if oe != nil {
		return failed("", oe)
	}
	_, raw, has := keyFold(rec, "Id")
	if !has {
		return failed("", newOpError(http.StatusBadRequest, "MISSING_ARGUMENT", "Id not specified in an update call", "Id"))
	}
	target, id, oe := s.collRecordLocked(sc, raw)
	if oe != nil {
		return failed(id, oe)
	}
	if oe := s.updateLocked(user, sc, target, withoutKeys(rec, "attributes", "Id")); oe != nil {
		return failed(id, oe)
	}
	return collResult{ID: id, Success: true, Errors: []collError{}}
}

func (s *Server) collDeleteLocked(user *User, rawID string) collResult {
	if _, ok := normalizeID(rawID); !ok {
		return collResult{Success: false, Errors: []collError{{StatusCode: "MALFORMED_ID", Message: "malformed id " + truncate(rawID, 20), Fields: []string{}}}}
	}
	target, id, oe := s.collRecordLocked(nil, rawID)
	if oe != nil {
		return failed(id, oe)
	}
	s.deleteLocked(user, target)
	return collResult{ID: id, Success: true, Errors: []collError{}}
}

// serveCollectionUpsert is PATCH /composite/sobjects/{type}/{extIdField}.
func (s *Server) serveCollectionUpsert(w http.ResponseWriter, r *http.Request, user *User, typ, fieldName string) {
	sc, ok := schemaFor(typ)
	if !ok {
		writeErrors(w, http.StatusNotFound, apiError{Message: "sObject type '" + truncate(typ, 80) + "' is not supported.", ErrorCode: "NOT_FOUND"})
		return
	}
	s.mu.Lock()
	ext := s.extID[sc.name]
	s.mu.Unlock()
	if ext == "" || !strings.EqualFold(fieldName, ext) {
		writeErrors(w, http.StatusNotFound, apiError{Message: "Provided external ID field does not exist or is not accessible: " + truncate(fieldName, 80), ErrorCode: "NOT_FOUND"})
		return
	}
	var in collectionIn
	if oe := readJSON(w, r, &in); oe != nil {
		writeOpError(w, oe)
		return
	}
	if in.Records == nil {
		writeErrors(w, http.StatusBadRequest, apiError{Message: "'records' is a required field.", ErrorCode: "JSON_PARSER_ERROR"})
		return
	}
	if len(in.Records) > maxCollection {
		writeErrors(w, http.StatusBadRequest, apiError{Message: fmt.Sprintf("record limit reached. cannot submit more than %d records into this call", maxCollection), ErrorCode: "EXCEEDED_ID_LIMIT"})
		return
	}
	s.mu.Lock()
	res := s.collectionLocked(in, false, func(rec map[string]any) collResult { return s.collUpsertLocked(user, sc, ext, rec) })
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) collUpsertLocked(user *User, sc *schema, ext string, rec map[string]any) collResult {
	rsc, oe := recordType(rec)
	if oe != nil {
		return failed("", oe)
	}
	if rsc != sc {
		return failed("", newOpError(http.StatusBadRequest, "INVALID_TYPE", "Every record of this upsert must be of type "+sc.name))
	}
	_, raw, _ := keyFold(rec, ext)
	value, _ := raw.(string)
	if value == "" {
		return failed("", newOpError(http.StatusBadRequest, "MISSING_ARGUMENT", ext+" not specified", ext))
	}
	var matches []*record
	st := s.objects[strings.ToLower(sc.name)]
	for _, id := range st.order {
		if r := st.records[id]; !r.deleted() && r.str(ext) == value {
			matches = append(matches, r)
		}
	}
	body := withoutKeys(rec, "attributes")
	switch len(matches) {
	case 0:
		id, oe := s.createLocked(user, sc, body)
		if oe != nil {
			return failed("", oe)
		}
		created := true
		return collResult{ID: id, Success: true, Errors: []collError{}, Created: &created}
	case 1:
		if oe := s.updateLocked(user, sc, matches[0], body); oe != nil {
			return failed(matches[0].id, oe)
		}
		created := false
		return collResult{ID: matches[0].id, Success: true, Errors: []collError{}, Created: &created}
	}
	return failed("", newOpError(http.StatusBadRequest, "DUPLICATE_EXTERNAL_ID", fmt.Sprintf("%s = %s matched %d records", ext, truncate(value, 80), len(matches)), ext))
}

// serveCollectionRetrieve is GET /composite/sobjects/{type}?ids=&fields=:
// the records in the order asked, null for an id that names none.
func (s *Server) serveCollectionRetrieve(w http.ResponseWriter, r *http.Request, typ, version string) {
	sc, ok := schemaFor(typ)
	if !ok {
		writeErrors(w, http.StatusNotFound, apiError{Message: "sObject type '" + truncate(typ, 80) + "' is not supported.", ErrorCode: "NOT_FOUND"})
		return
	}
	q := r.URL.Query()
	if q.Get("ids") == "" || q.Get("fields") == "" {
		writeErrors(w, http.StatusBadRequest, apiError{Message: "Missing required parameters: ids, fields", ErrorCode: "MISSING_ARGUMENT"})
		return
	}
	fields, oe := parseFieldsParam(sc, q.Get("fields"))
	if oe != nil {
		writeOpError(w, oe)
		return
	}
	ids := strings.Split(q.Get("ids"), ",")
	if len(ids) > 2000 {
		writeErrors(w, http.StatusBadRequest, apiError{Message: "record limit reached. cannot retrieve more than 2000 records in this call", ErrorCode: "EXCEEDED_ID_LIMIT"})
		return
	}
	s.mu.Lock()
	out := make([]any, len(ids))
	for i, raw := range ids {
		if rec, err := s.lookupLocked(sc, strings.TrimSpace(raw)); err == nil {
			out[i] = renderRecord(sc, rec, fields, version)
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// ---- subrequests ----

// subrequest runs one composite or batch subrequest as user and returns
// its status, headers and body. count applies the API allocation to it.
func (s *Server) subrequest(ctx context.Context, user *User, method, rawURL string, body []byte, hdr map[string]string,
	allowed func(segs []string, vnum float64) bool, count bool) (int, http.Header, []byte) {
	rec := httptest.NewRecorder()
	u, err := url.Parse(rawURL)
	if err != nil {
		writeErrors(rec, http.StatusNotFound, apiError{Message: "The requested resource does not exist", ErrorCode: "NOT_FOUND"})
		return rec.Code, rec.Header(), rec.Body.Bytes()
	}
	version, vnum, segs, ok := splitDataPath(u.Path)
	if !ok {
		notFound(rec)
		return rec.Code, rec.Header(), rec.Body.Bytes()
	}
	if !allowed(segs, vnum) {
		writeErrors(rec, http.StatusBadRequest, apiError{Message: "This resource is not supported in this composite request: " + truncate(u.Path, 120), ErrorCode: "INVALID_API_INPUT"})
		return rec.Code, rec.Header(), rec.Body.Bytes()
	}
	var rd io.Reader = http.NoBody
	if len(body) > 0 {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "https://"+s.instanceHost+u.RequestURI(), rd)
	if err != nil {
		writeErrors(rec, http.StatusBadRequest, apiError{Message: "Invalid subrequest", ErrorCode: "INVALID_API_INPUT"})
		return rec.Code, rec.Header(), rec.Body.Bytes()
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	if count && !s.countAPICall(rec) {
		return rec.Code, rec.Header(), rec.Body.Bytes()
	}
	s.route(rec, req, user, version, vnum, segs)
	return rec.Code, rec.Header(), rec.Body.Bytes()
}

func decodeLoose(b []byte) any {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	var v any
	if json.Unmarshal(b, &v) != nil {
		return string(b)
	}
	return v
}

var validMethods = map[string]bool{http.MethodGet: true, http.MethodPost: true, http.MethodPatch: true, http.MethodPut: true, http.MethodDelete: true, http.MethodHead: true}

// ---- Composite ----

type compositeSub struct {
	Method      string            `json:"method"`
	URL         string            `json:"url"`
	ReferenceID string            `json:"referenceId"`
	Body        json.RawMessage   `json:"body"`
	HTTPHeaders map[string]string `json:"httpHeaders"`
}

type compositeIn struct {
	AllOrNone          bool           `json:"allOrNone"`
	CollateSubrequests bool           `json:"collateSubrequests"`
	CompositeRequest   []compositeSub `json:"compositeRequest"`
}

type compositeOut struct {
	Body           any               `json:"body"`
	HTTPHeaders    map[string]string `json:"httpHeaders"`
	HTTPStatusCode int               `json:"httpStatusCode"`
	ReferenceID    string            `json:"referenceId"`
}

var (
	referenceIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_]*$`)
	referencePattern   = regexp.MustCompile(`@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[[0-9]+\])*)\}`)
)

// compositeAllowed: sObject resources, query, queryAll (and queryMore) and,
// since API 43.0, sObject Collections.
func compositeAllowed(segs []string, vnum float64) bool {
	if len(segs) == 0 {
		return false
	}
	switch segs[0] {
	case "sobjects", "query", "queryAll":
		return true
	case "composite":
		return len(segs) >= 2 && segs[1] == "sobjects" && vnum >= 43
	}
	return false
}

func isQueryLike(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	_, _, segs, ok := splitDataPath(u.Path)
	return ok && len(segs) > 0 && (segs[0] == "query" || segs[0] == "queryAll" || segs[0] == "composite")
}

func halted(ref, msg string) compositeOut {
	return compositeOut{Body: []apiError{{Message: msg, ErrorCode: "PROCESSING_HALTED"}}, HTTPHeaders: map[string]string{},
		HTTPStatusCode: http.StatusBadRequest, ReferenceID: ref}
}

func (s *Server) serveComposite(w http.ResponseWriter, r *http.Request, user *User) {
	var in compositeIn
	if oe := readJSON(w, r, &in); oe != nil {
		writeOpError(w, oe)
		return
	}
	bad := func(code, msg string) {
		writeErrors(w, http.StatusBadRequest, apiError{Message: msg, ErrorCode: code})
	}
	if len(in.CompositeRequest) == 0 {
		bad("JSON_PARSER_ERROR", "'compositeRequest' is a required field.")
		return
	}
	if len(in.CompositeRequest) > maxSubrequests {
		bad("LIMIT_EXCEEDED", fmt.Sprintf("A composite request can have at most %d subrequests.", maxSubrequests))
		return
	}
	seen := map[string]bool{}
	queries := 0
	for _, sub := range in.CompositeRequest {
		switch {
		case sub.Method == "":
			bad("JSON_PARSER_ERROR", "'method' is a required field.")
			return
		case !validMethods[sub.Method]:
			bad("JSON_PARSER_ERROR", "Invalid method: "+truncate(sub.Method, 20))
			return
		case sub.URL == "":
			bad("JSON_PARSER_ERROR", "'url' is a required field.")
			return
		case !strings.HasPrefix(sub.URL, "/services/data/"):
			bad("JSON_PARSER_ERROR", "The url of a subrequest must start with /services/data/vXX.X/: "+truncate(sub.URL, 80))
			return
		case sub.ReferenceID == "":
			bad("JSON_PARSER_ERROR", "'referenceId' is a required field.")
			return
		case !referenceIDPattern.MatchString(sub.ReferenceID):
			bad("JSON_PARSER_ERROR", "Invalid referenceId: "+truncate(sub.ReferenceID, 80)+" (letters, digits and underscores, starting with a letter or digit)")
			return
		case seen[sub.ReferenceID]:
			bad("JSON_PARSER_ERROR", "Duplicate ReferenceId provided in the request: "+truncate(sub.ReferenceID, 80))
			return
		}
		seen[sub.ReferenceID] = true
		if isQueryLike(sub.URL) {
			queries++
		}
	}
	if queries > maxCompositeQueries {
		bad("LIMIT_EXCEEDED", fmt.Sprintf("A composite request can have at most %d query and sObject Collections subrequests.", maxCompositeQueries))
		return
	}

	var snap storeSnapshot
	if in.AllOrNone {
		s.mu.Lock()
		snap = s.snapshotLocked()
		s.mu.Unlock()
	}
	out := make([]compositeOut, len(in.CompositeRequest))
	results := map[string]any{}
	failedAt := -1
	for i, sub := range in.CompositeRequest {
		u, missing := resolveString(sub.URL, results)
		var body []byte
		if missing == "" && len(sub.Body) > 0 && string(sub.Body) != "null" {
			var v any
			if err := json.Unmarshal(sub.Body, &v); err == nil {
				v, missing = resolveValue(v, results)
				body, _ = json.Marshal(v)
			}
		}
		if missing != "" {
			ref, _, _ := strings.Cut(strings.TrimPrefix(missing, "@{"), ".")
			ref, _, _ = strings.Cut(ref, "[")
			out[i] = halted(sub.ReferenceID, fmt.Sprintf("Invalid reference specified. No value for %s found in %s. Provided referenceId ('%s') must be the referenceId of an earlier subrequest that succeeded.",
				strings.TrimSuffix(strings.TrimPrefix(missing, "@{"), "}"), ref, ref))
			if in.AllOrNone {
				failedAt = i
				break
			}
			continue
		}
		status, hdr, raw := s.subrequest(r.Context(), user, sub.Method, u, body, sub.HTTPHeaders, compositeAllowed, false)
		o := compositeOut{Body: decodeLoose(raw), HTTPHeaders: map[string]string{}, HTTPStatusCode: status, ReferenceID: sub.ReferenceID}
		for _, h := range []string{"Location", "ETag", "Last-Modified"} {
			if v := hdr.Get(h); v != "" {
				o.HTTPHeaders[h] = v
			}
		}
		out[i] = o
		if status >= 400 {
			if in.AllOrNone {
				failedAt = i
				break
			}
			continue
		}
		results[sub.ReferenceID] = o.Body
	}
	if failedAt >= 0 {
		s.mu.Lock()
		s.restoreLocked(snap)
		s.mu.Unlock()
		for i, sub := range in.CompositeRequest {
			if i != failedAt {
				out[i] = halted(sub.ReferenceID, "The transaction was rolled back since another operation in the same transaction failed.")
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"compositeResponse": out})
}

// lookupRef evaluates refId.path[n].field against earlier results.
func lookupRef(m []string, results map[string]any) (any, bool) {
	cur, ok := results[m[1]]
	if !ok {
		return nil, false
	}
	path := m[2]
	for path != "" {
		if path[0] == '.' {
			end := strings.IndexAny(path[1:], ".[")
			if end < 0 {
				end = len(path) - 1
			}
			key := path[1 : 1+end]
			path = path[1+end:]
			obj, isObj := cur.(map[string]any)
			if !isObj {
				return nil, false
			}
			if cur, ok = obj[key]; !ok {
				// Field names are case-insensitive in sObject bodies.
				if _, v, found := keyFold(obj, key); found {
					cur, ok = v, true
				} else {
					return nil, false
				}
			}
			continue
		}
		end := strings.IndexByte(path, ']')
		n, _ := strconv.Atoi(path[1:end])
		path = path[end+1:]
		arr, isArr := cur.([]any)
		if !isArr || n >= len(arr) {
			return nil, false
		}
		cur = arr[n]
	}
	return cur, cur != nil
}

func refText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// resolveString replaces every @{...} reference in s; missing names the
// first reference that has no value.
func resolveString(str string, results map[string]any) (out, missing string) {
	out = referencePattern.ReplaceAllStringFunc(str, func(ref string) string {
		v, ok := lookupRef(referencePattern.FindStringSubmatch(ref), results)
		if !ok {
			if missing == "" {
				missing = ref
			}
			return ref
		}
		return refText(v)
	})
	return out, missing
}

// resolveValue replaces references inside a JSON body; a string that is
// exactly one reference takes the referenced value with its JSON type.
func resolveValue(v any, results map[string]any) (any, string) {
	switch x := v.(type) {
	case string:
		if m := referencePattern.FindStringSubmatch(x); m != nil && m[0] == x {
			val, ok := lookupRef(m, results)
			if !ok {
				return x, x
			}
			return val, ""
		}
		return resolveString(x, results)
	case map[string]any:
		for k, e := range x {
			nv, missing := resolveValue(e, results)
			if missing != "" {
				return v, missing
			}
			x[k] = nv
		}
	case []any:
		for i, e := range x {
			nv, missing := resolveValue(e, results)
			if missing != "" {
				return v, missing
			}
			x[i] = nv
		}
	}
	return v, ""
}

// ---- Composite Batch ----

type batchSub struct {
	Method         string          `json:"method"`
	URL            string          `json:"url"`
	RichInput      json.RawMessage `json:"richInput"`
	BinaryPartName string          `json:"binaryPartName"`
}

type batchIn struct {
	BatchRequests []batchSub `json:"batchRequests"`
	HaltOnError   bool       `json:"haltOnError"`
}

type batchResult struct {
	StatusCode int `json:"statusCode"`
	Result     any `json:"result"`
}

// batchAllowed refuses nested composite resources.
func batchAllowed(segs []string, _ float64) bool { return len(segs) == 0 || segs[0] != "composite" }

func (s *Server) serveBatch(w http.ResponseWriter, r *http.Request, user *User) {
	var in batchIn
	if oe := readJSON(w, r, &in); oe != nil {
		writeOpError(w, oe)
		return
	}
	bad := func(code, msg string) {
		writeErrors(w, http.StatusBadRequest, apiError{Message: msg, ErrorCode: code})
	}
	if len(in.BatchRequests) == 0 {
		bad("JSON_PARSER_ERROR", "'batchRequests' is a required field.")
		return
	}
	if len(in.BatchRequests) > maxSubrequests {
		bad("LIMIT_EXCEEDED", fmt.Sprintf("A batch request can have at most %d subrequests.", maxSubrequests))
		return
	}
	urls := make([]string, len(in.BatchRequests))
	for i, sub := range in.BatchRequests {
		switch {
		case !validMethods[strings.ToUpper(sub.Method)]:
			bad("JSON_PARSER_ERROR", "Invalid method: "+truncate(sub.Method, 20))
			return
		case sub.URL == "":
			bad("JSON_PARSER_ERROR", "'url' is a required field.")
			return
		case sub.BinaryPartName != "":
			bad("JSON_PARSER_ERROR", "binary parts are not supported by the syncgate Salesforce emulator")
			return
		}
		// Batch URLs are relative to /services/data: "v62.0/sobjects/...".
		u := sub.URL
		if !strings.HasPrefix(u, "/services/data/") {
			u = "/services/data/" + strings.TrimPrefix(u, "/")
		}
		urls[i] = u
	}
	res := make([]batchResult, len(in.BatchRequests))
	hasErrors, halt := false, false
	for i, sub := range in.BatchRequests {
		if halt {
			res[i] = batchResult{StatusCode: http.StatusPreconditionFailed, Result: []apiError{{Message: "Batch processing halted per request", ErrorCode: "BATCH_PROCESSING_HALTED"}}}
			continue
		}
		var body []byte
		if len(sub.RichInput) > 0 && string(sub.RichInput) != "null" {
			body = sub.RichInput
		}
		status, _, raw := s.subrequest(r.Context(), user, strings.ToUpper(sub.Method), urls[i], body, nil, batchAllowed, true)
		res[i] = batchResult{StatusCode: status, Result: decodeLoose(raw)}
		if status >= 400 {
			hasErrors = true
			halt = in.HaltOnError
		}
	}
	s.mu.Lock()
	used, limit := s.apiUsed, s.apiLimit
	s.mu.Unlock()
	w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", used, limit))
	writeJSON(w, http.StatusOK, map[string]any{"hasErrors": hasErrors, "results": res})
}
