package salesforce

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Supported REST API versions (inclusive).
const (
	MinAPIVersion = 31.0
	MaxAPIVersion = 64.0
)

func parseVersion(seg string) (string, float64, bool) {
	if len(seg) < 4 || seg[0] != 'v' || !strings.Contains(seg, ".") {
		return "", 0, false
	}
	v, err := strconv.ParseFloat(seg[1:], 64)
	if err != nil || v < MinAPIVersion || v > MaxAPIVersion || seg[len(seg)-2:] != ".0" {
		return "", 0, false
	}
	return seg, v, true
}

func notFound(w http.ResponseWriter) {
	writeErrors(w, http.StatusNotFound, apiError{Message: "The requested resource does not exist", ErrorCode: "NOT_FOUND"})
}

func writeOpError(w http.ResponseWriter, e *opError) { writeErrors(w, e.status, e.errs...) }

// splitDataPath splits /services/data/vXX.X/rest into the version and the
// segments after it.
func splitDataPath(p string) (version string, vnum float64, segs []string, ok bool) {
	rest, found := strings.CutPrefix(p, "/services/data/")
	if !found {
		return "", 0, nil, false
	}
	segs = strings.Split(strings.TrimSuffix(rest, "/"), "/")
	version, vnum, ok = parseVersion(segs[0])
	return version, vnum, segs[1:], ok
}

func (s *Server) serveData(w http.ResponseWriter, r *http.Request) {
	version, vnum, segs, ok := splitDataPath(r.URL.Path)
	if !ok {
		notFound(w)
		return
	}
	user, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	if !s.countAPICall(w) {
		return
	}
	// The composite resource may roll several requests back (allOrNone):
	// it runs alone; every other data request runs beside the others.
	if len(segs) == 1 && segs[0] == "composite" {
		s.tx.Lock()
		defer s.tx.Unlock()
	} else {
		s.tx.RLock()
		defer s.tx.RUnlock()
	}
	s.route(w, r, user, version, vnum, segs)
}

// route serves one data request after authentication and API accounting;
// composite subrequests enter here too.
func (s *Server) route(w http.ResponseWriter, r *http.Request, user *User, version string, vnum float64, segs []string) {
	switch {
	case len(segs) == 0 || segs[0] == "":
		writeJSON(w, http.StatusOK, map[string]string{
			"sobjects":  "/services/data/" + version + "/sobjects",
			"query":     "/services/data/" + version + "/query",
			"queryAll":  "/services/data/" + version + "/queryAll",
			"limits":    "/services/data/" + version + "/limits",
			"composite": "/services/data/" + version + "/composite",
		})
	case segs[0] == "sobjects" && len(segs) == 1:
		s.serveDescribeGlobal(w, r, version)
	case segs[0] == "limits" && len(segs) == 1:
		s.serveLimits(w, r)
	case segs[0] == "composite":
		s.serveCompositeFamily(w, r, user, version, vnum, segs[1:])
	case segs[0] == "query" || segs[0] == "queryAll":
		if r.Method != http.MethodGet {
			methodNotAllowed(w, "GET")
			return
		}
		if len(segs) == 2 {
			s.serveQueryMore(w, segs[1], version)
			return
		}
		if len(segs) != 1 {
			notFound(w)
			return
		}
		s.serveQuery(w, r, version, segs[0] == "queryAll")
	case segs[0] == "sobjects" && len(segs) >= 2:
		sc, ok := schemaFor(segs[1])
		if !ok {
			writeErrors(w, http.StatusNotFound, apiError{Message: "sObject type '" + truncate(segs[1], 80) + "' is not supported.", ErrorCode: "NOT_FOUND"})
			return
		}
		s.serveSObject(w, r, user, sc, segs[2:], version, vnum)
	default:
		notFound(w)
	}
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeErrors(w, http.StatusMethodNotAllowed, apiError{Message: "HTTP Method not allowed. Allowed are " + allow, ErrorCode: "METHOD_NOT_ALLOWED"})
}

// countAPICall applies the rolling 24h allocation and sets Sforce-Limit-Info.
func (s *Server) countAPICall(w http.ResponseWriter) bool {
	now := s.clk.Now()
	s.mu.Lock()
	if now.Sub(s.apiWindow) >= 24*time.Hour {
		s.apiWindow, s.apiUsed = now, 0
	}
	over := s.apiUsed >= s.apiLimit
	if !over {
		s.apiUsed++
	}
	used, limit := s.apiUsed, s.apiLimit
	s.mu.Unlock()
	w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", used, limit))
	if over {
		writeErrors(w, http.StatusForbidden, apiError{Message: "TotalRequests Limit exceeded.", ErrorCode: "REQUEST_LIMIT_EXCEEDED"})
		return false
	}
	return true
}

func readBody(w http.ResponseWriter, r *http.Request) (map[string]any, *opError) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		return nil, newOpError(http.StatusRequestEntityTooLarge, "JSON_PARSER_ERROR", "request body too large or unreadable")
	}
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil || body == nil {
		return nil, newOpError(http.StatusBadRequest, "JSON_PARSER_ERROR", "The request body is not a JSON object")
	}
	return body, nil
}

func (s *Server) serveSObject(w http.ResponseWriter, r *http.Request, user *User, sc *schema, segs []string, version string, vnum float64) {
	switch {
	case len(segs) == 0:
		switch r.Method {
		case http.MethodPost:
			body, oe := readBody(w, r)
			if oe != nil {
				writeOpError(w, oe)
				return
			}
			s.mu.Lock()
			id, oe := s.createLocked(user, sc, body)
			s.mu.Unlock()
			if oe != nil {
				writeOpError(w, oe)
				return
			}
			w.Header().Set("Location", "/services/data/"+version+"/sobjects/"+sc.name+"/"+id)
			writeJSON(w, http.StatusCreated, map[string]any{"id": id, "success": true, "errors": []any{}})
		case http.MethodGet:
			writeJSON(w, http.StatusOK, map[string]any{"objectDescribe": objectFlags(sc, version), "recentItems": []any{}})
		default:
			methodNotAllowed(w, "GET, POST")
		}
	case len(segs) == 1 && segs[0] == "describe":
		s.serveDescribe(w, r, sc, version)
	case len(segs) == 1 && (segs[0] == "updated" || segs[0] == "deleted"):
		if r.Method != http.MethodGet {
			methodNotAllowed(w, "GET")
			return
		}
		s.serveReplication(w, r, sc, segs[0] == "deleted")
	case len(segs) == 1:
		s.serveRecord(w, r, user, sc, segs[0], version)
	case len(segs) == 2:
		s.serveExternal(w, r, user, sc, segs[0], segs[1], version, vnum)
	default:
		notFound(w)
	}
}

func parseFieldsParam(sc *schema, raw string) ([]string, *opError) {
	if raw == "" {
		return nil, nil
	}
	var out []string
	for _, n := range strings.Split(raw, ",") {
		n = strings.TrimSpace(n)
		f, ok := sc.field(n)
		if !ok {
			return nil, newOpError(http.StatusBadRequest, "INVALID_FIELD", fmt.Sprintf("No such column '%s' on entity '%s'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", truncate(n, 80), sc.name))
		}
		out = append(out, f.name)
	}
	return out, nil
}

func (s *Server) serveRecord(w http.ResponseWriter, r *http.Request, user *User, sc *schema, rawID, version string) {
	switch r.Method {
	case http.MethodGet:
		fields, oe := parseFieldsParam(sc, r.URL.Query().Get("fields"))
		if oe != nil {
			writeOpError(w, oe)
			return
		}
		s.mu.Lock()
		rec, oe := s.lookupLocked(sc, rawID)
		var out orderedJSON
		if oe == nil {
			out = renderRecord(sc, rec, fields, version)
		}
		s.mu.Unlock()
		if oe != nil {
			writeOpError(w, oe)
			return
		}
		writeJSON(w, http.StatusOK, out)
	case http.MethodPatch:
		body, oe := readBody(w, r)
		if oe != nil {
			writeOpError(w, oe)
			return
		}
		s.mu.Lock()
		rec, oe := s.lookupLocked(sc, rawID)
		if oe == nil {
			oe = s.updateLocked(user, sc, rec, body)
		}
		s.mu.Unlock()
		if oe != nil {
			writeOpError(w, oe)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		s.mu.Lock()
		rec, oe := s.lookupLocked(sc, rawID)
		if oe == nil {
			s.deleteLocked(user, rec)
		}
		s.mu.Unlock()
		if oe != nil {
			writeOpError(w, oe)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		methodNotAllowed(w, "GET, PATCH, DELETE")
	}
}

// serveExternal handles sobjects/{type}/{extIdField}/{value}.
func (s *Server) serveExternal(w http.ResponseWriter, r *http.Request, user *User, sc *schema, fieldName, rawValue, version string, vnum float64) {
	value, err := url.PathUnescape(rawValue)
	if err != nil {
		notFound(w)
		return
	}
	s.mu.Lock()
	ext := s.extID[sc.name]
	s.mu.Unlock()
	if ext == "" || !strings.EqualFold(fieldName, ext) {
		writeErrors(w, http.StatusNotFound, apiError{Message: "Provided external ID field does not exist or is not accessible: " + truncate(fieldName, 80), ErrorCode: "NOT_FOUND"})
		return
	}
	var body map[string]any
	if r.Method == http.MethodPatch {
		var oe *opError
		if body, oe = readBody(w, r); oe != nil {
			writeOpError(w, oe)
			return
		}
		if v, ok := body[ext]; ok && v != value {
			writeErrors(w, http.StatusBadRequest, apiError{Message: "The " + ext + " field should not be specified in the sobject data.", ErrorCode: "INVALID_FIELD", Fields: []string{ext}})
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var matches []*record
	st := s.objects[strings.ToLower(sc.name)]
	for _, id := range st.order {
		rec := st.records[id]
		if !rec.deleted() && rec.str(ext) == value {
			matches = append(matches, rec)
		}
	}
	if len(matches) > 1 {
		var urls []string
		for _, m := range matches {
			urls = append(urls, "/services/data/"+version+"/sobjects/"+sc.name+"/"+m.id)
		}
		writeJSON(w, http.StatusMultipleChoices, urls)
		return
	}
	switch r.Method {
	case http.MethodGet:
		if len(matches) == 0 {
			notFound(w)
			return
		}
		fields, oe := parseFieldsParam(sc, r.URL.Query().Get("fields"))
		if oe != nil {
			writeOpError(w, oe)
			return
		}
		writeJSON(w, http.StatusOK, renderRecord(sc, matches[0], fields, version))
	case http.MethodPatch:
		if len(matches) == 0 {
			if vnum >= 61 && r.URL.Query().Get("updateOnly") == "true" {
				notFound(w)
				return
			}
			body[ext] = value
			id, oe := s.createLocked(user, sc, body)
			if oe != nil {
				writeOpError(w, oe)
				return
			}
			resp := map[string]any{"id": id, "success": true, "errors": []any{}}
			if vnum >= 46 {
				resp["created"] = true
			}
			writeJSON(w, http.StatusCreated, resp)
			return
		}
		if oe := s.updateLocked(user, sc, matches[0], body); oe != nil {
			writeOpError(w, oe)
			return
		}
		if vnum >= 46 {
			// Since API 46.0 an upsert that updates answers 200 with a body;
			// earlier versions answered 204.
			writeJSON(w, http.StatusOK, map[string]any{"id": matches[0].id, "success": true, "errors": []any{}, "created": false})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		if len(matches) == 0 {
			notFound(w)
			return
		}
		s.deleteLocked(user, matches[0])
		w.WriteHeader(http.StatusNoContent)
	default:
		methodNotAllowed(w, "GET, PATCH, DELETE")
	}
}

// serveReplication implements sobjects/{type}/updated and /deleted.
func (s *Server) serveReplication(w http.ResponseWriter, r *http.Request, sc *schema, deleted bool) {
	q := r.URL.Query()
	if q.Get("start") == "" || q.Get("end") == "" {
		writeErrors(w, http.StatusBadRequest, apiError{Message: "Missing required query parameters: start, end", ErrorCode: "MISSING_ARGUMENT"})
		return
	}
	start, err1 := parseDateTime(q.Get("start"))
	end, err2 := parseDateTime(q.Get("end"))
	if err1 != nil || err2 != nil {
		writeErrors(w, http.StatusBadRequest, apiError{Message: "Invalid date/time: use ISO 8601, e.g. 2024-05-06T00:00:00+00:00", ErrorCode: "INVALID_REPLICATION_DATE"})
		return
	}
	// Salesforce ignores seconds in both bounds.
	start, end = start.Truncate(time.Minute), end.Truncate(time.Minute)
	now := s.clk.Now().UTC()
	window := 30 * 24 * time.Hour
	if deleted {
		window = 15 * 24 * time.Hour
	}
	if !start.Before(end) {
		writeErrors(w, http.StatusBadRequest, apiError{Message: "startDate must chronologically precede endDate", ErrorCode: "INVALID_REPLICATION_DATE"})
		return
	}
	if start.Before(now.Truncate(24 * time.Hour).Add(-window)) {
		writeErrors(w, http.StatusBadRequest, apiError{Message: fmt.Sprintf("startDate cannot be more than %d days ago", int(window.Hours()/24)), ErrorCode: "INVALID_REPLICATION_DATE"})
		return
	}
	covered := end
	if nowMin := now.Truncate(time.Minute); nowMin.Before(covered) {
		covered = nowMin
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.objects[strings.ToLower(sc.name)]
	var recs []*record
	for _, id := range st.order {
		rec := st.records[id]
		ms := rec.modstamp()
		if rec.deleted() == deleted && !ms.Before(start) && ms.Before(covered) {
			recs = append(recs, rec)
		}
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].modstamp().Before(recs[j].modstamp()) })
	if !deleted {
		ids := []string{}
		for _, rec := range recs {
			ids = append(ids, rec.id)
		}
		writeJSON(w, http.StatusOK, map[string]any{"ids": ids, "latestDateCovered": formatTime(covered)})
		return
	}
	out := []map[string]string{}
	earliest := now.Truncate(24 * time.Hour).Add(-window)
	for _, rec := range recs {
		out = append(out, map[string]string{"id": rec.id, "deletedDate": formatTime(rec.modstamp())})
	}
	writeJSON(w, http.StatusOK, map[string]any{"deletedRecords": out, "earliestDateAvailable": formatTime(earliest), "latestDateCovered": formatTime(covered)})
}
