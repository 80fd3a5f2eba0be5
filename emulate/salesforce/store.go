package salesforce

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

type record struct {
	id     string
	fields map[string]any // canonical field name -> stored value
}

type objectStore struct {
	records map[string]*record
	order   []string // creation order, for stable listing
}

// opError is a data-API failure with its HTTP status.
type opError struct {
	status int
	errs   []apiError
}

func (e *opError) Error() string {
	if len(e.errs) == 0 {
		return fmt.Sprintf("status %d", e.status)
	}
	return e.errs[0].ErrorCode + ": " + e.errs[0].Message
}

func newOpError(status int, code, msg string, fields ...string) *opError {
	return &opError{status: status, errs: []apiError{{Message: msg, ErrorCode: code, Fields: fields}}}
}

func (r *record) deleted() bool { b, _ := r.fields["IsDeleted"].(bool); return b }

func (r *record) modstamp() time.Time { t, _ := r.fields["SystemModstamp"].(time.Time); return t }

func (r *record) str(name string) string { s, _ := r.fields[name].(string); return s }

// writeFieldsLocked validates body against the schema and applies it to dst.
func (s *Server) writeFieldsLocked(sc *schema, dst map[string]any, body map[string]any) *opError {
	var readOnly []string
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "attributes" {
			continue
		}
		f, ok := sc.field(k)
		if !ok {
			return newOpError(http.StatusBadRequest, "INVALID_FIELD", fmt.Sprintf("No such column '%s' on sobject of type %s", truncate(k, 80), sc.name))
		}
		if f.system {
			readOnly = append(readOnly, f.name)
			continue
		}
		v, err := coerce(f, body[k])
		if err != nil {
			return newOpError(http.StatusBadRequest, "JSON_PARSER_ERROR", err.Error())
		}
		if v == nil || v == "" {
			delete(dst, f.name)
		} else {
			dst[f.name] = v
		}
	}
	if len(readOnly) > 0 {
		return newOpError(http.StatusBadRequest, "INVALID_FIELD_FOR_INSERT_UPDATE",
			"Unable to create/update fields: "+strings.Join(readOnly, ", ")+". Please check the security settings of this field and verify that it is read/write for your profile or permission set.", readOnly...)
	}
	return nil
}

// finishLocked derives computed fields and checks required ones and references.
func (s *Server) finishLocked(sc *schema, id string, f map[string]any) *opError {
	switch sc.name {
	case "Contact", "Lead":
		name := strings.TrimSpace(fmt.Sprint(valueOr(f["FirstName"], "")) + " " + fmt.Sprint(valueOr(f["LastName"], "")))
		f["Name"] = name
		if sc.name == "Lead" {
			if _, ok := f["Status"]; !ok {
				f["Status"] = "Open - Not Contacted"
			}
			if _, ok := f["IsConverted"]; !ok {
				f["IsConverted"] = false
			}
		}
	case "Event":
		if err := normalizeEvent(f); err != nil {
			return err
		}
		if _, ok := f["IsRecurrence"]; !ok {
			f["IsRecurrence"] = false
		}
		var old map[string]any
		if r := s.objects["event"].records[id]; r != nil {
			old = r.fields
		}
		if err := seriesFieldsLocked(f, old); err != nil {
			return err
		}
	case "EventRelation":
		if _, ok := f["Status"]; !ok {
			f["Status"] = "New"
		}
		if err := s.checkEventRelationLocked(id, f); err != nil {
			return err
		}
	}
	var missing []string
	for _, fl := range sortedFields(sc) {
		if fl.required {
			if v, ok := f[fl.name]; !ok || v == nil || v == "" {
				missing = append(missing, fl.name)
			}
		}
	}
	if len(missing) > 0 {
		return newOpError(http.StatusBadRequest, "REQUIRED_FIELD_MISSING", "Required fields are missing: ["+strings.Join(missing, ", ")+"]", missing...)
	}
	for _, fl := range sortedFields(sc) {
		if fl.typ != tID || fl.system {
			continue
		}
		ref, ok := f[fl.name].(string)
		if !ok {
			continue
		}
		if fl.name == "OwnerId" {
			if s.usersByID[ref] == nil {
				return newOpError(http.StatusBadRequest, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", fl.name)
			}
			continue
		}
		if !s.existsLocked(ref) {
			return newOpError(http.StatusBadRequest, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", fl.name)
		}
	}
	if ext := s.extID[sc.name]; ext != "" {
		if v, ok := f[ext].(string); ok {
			for _, other := range s.objects[strings.ToLower(sc.name)].records {
				if other.id != id && !other.deleted() && other.str(ext) == v {
					return newOpError(http.StatusBadRequest, "DUPLICATE_VALUE", fmt.Sprintf("duplicate value found: %s duplicates value on record with id: %s", ext, other.id), ext)
				}
			}
		}
	}
	return nil
}

func valueOr(v any, d any) any {
	if v == nil {
		return d
	}
	return v
}

func sortedFields(sc *schema) []*field {
	out := make([]*field, 0, len(sc.fields))
	for _, f := range sc.fields {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// normalizeEvent keeps StartDateTime/ActivityDateTime/EndDateTime/
// DurationInMinutes consistent as Salesforce does.
func normalizeEvent(f map[string]any) *opError {
	start, ok := f["StartDateTime"].(time.Time)
	if !ok {
		start, ok = f["ActivityDateTime"].(time.Time)
	}
	if !ok {
		if d, dok := f["ActivityDate"].(time.Time); dok {
			start, ok = d, true
		}
	}
	if !ok {
		return newOpError(http.StatusBadRequest, "REQUIRED_FIELD_MISSING", "Required fields are missing: [StartDateTime]", "StartDateTime")
	}
	end, eok := f["EndDateTime"].(time.Time)
	if dur, dok := f["DurationInMinutes"].(int); !eok && dok {
		end, eok = start.Add(time.Duration(dur)*time.Minute), true
	}
	if !eok {
		return newOpError(http.StatusBadRequest, "REQUIRED_FIELD_MISSING", "Required fields are missing: [EndDateTime]", "EndDateTime")
	}
	if end.Before(start) {
		return newOpError(http.StatusBadRequest, "FIELD_INTEGRITY_EXCEPTION", "End Date Time: The end date time cannot be before the start date time", "EndDateTime")
	}
	if end.Sub(start) > 14*24*time.Hour {
		return newOpError(http.StatusBadRequest, "FIELD_INTEGRITY_EXCEPTION", "Event duration cannot exceed 14 days", "EndDateTime")
	}
	f["StartDateTime"] = start
	f["ActivityDateTime"] = start
	f["EndDateTime"] = end
	f["ActivityDate"] = time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, time.UTC)
	f["DurationInMinutes"] = int(end.Sub(start) / time.Minute)
	if _, ok := f["IsAllDayEvent"]; !ok {
		f["IsAllDayEvent"] = false
	}
	if _, ok := f["IsPrivate"]; !ok {
		f["IsPrivate"] = false
	}
	if _, ok := f["ShowAs"]; !ok {
		f["ShowAs"] = "Busy"
	}
	return nil
}

func (s *Server) existsLocked(id string) bool {
	if s.usersByID[id] != nil {
		return true
	}
	for _, st := range s.objects {
		if r, ok := st.records[id]; ok && !r.deleted() {
			return true
		}
	}
	return false
}

// createLocked inserts a record as user and returns its id.
func (s *Server) createLocked(user *User, sc *schema, body map[string]any) (string, *opError) {
	f := map[string]any{}
	if err := s.writeFieldsLocked(sc, f, body); err != nil {
		return "", err
	}
	if _, ok := f["OwnerId"]; !ok && user != nil && sc.fields["ownerid"] != nil {
		f["OwnerId"] = user.ID
	}
	id := s.newIDLocked(sc.prefix)
	if err := s.finishLocked(sc, id, f); err != nil {
		return "", err
	}
	now := s.clk.Now().UTC().Truncate(time.Millisecond)
	f["Id"] = id
	f["IsDeleted"] = false
	f["CreatedDate"], f["LastModifiedDate"], f["SystemModstamp"] = now, now, now
	if user != nil {
		f["CreatedById"], f["LastModifiedById"] = user.ID, user.ID
	}
	st := s.objects[strings.ToLower(sc.name)]
	st.records[id] = &record{id: id, fields: f}
	st.order = append(st.order, id)
	if sc.name == "Event" {
		s.afterEventWriteLocked(st.records[id], nil)
	}
	return id, nil
}

// lookupLocked finds a live record of type sc.
func (s *Server) lookupLocked(sc *schema, rawID string) (*record, *opError) {
	id, ok := normalizeID(rawID)
	if !ok || !strings.HasPrefix(id, sc.prefix) {
		if !ok {
			return nil, newOpError(http.StatusBadRequest, "MALFORMED_ID", fmt.Sprintf("%s ID: id value of incorrect type: %s", sc.name, truncate(rawID, 20)), "Id")
		}
		return nil, newOpError(http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
	}
	r := s.objects[strings.ToLower(sc.name)].records[id]
	if r == nil {
		return nil, newOpError(http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
	}
	if r.deleted() {
		return nil, newOpError(http.StatusNotFound, "ENTITY_IS_DELETED", "entity is deleted")
	}
	return r, nil
}

func (s *Server) updateLocked(user *User, sc *schema, r *record, body map[string]any) *opError {
	f := make(map[string]any, len(r.fields))
	for k, v := range r.fields {
		f[k] = v
	}
	if err := s.writeFieldsLocked(sc, f, body); err != nil {
		return err
	}
	if sc.name == "Event" {
		// A moved start without a new end keeps the duration, as in the UI.
		_, newStart := fieldIn(body, "StartDateTime", "ActivityDateTime")
		_, newEnd := fieldIn(body, "EndDateTime", "DurationInMinutes")
		if newStart && !newEnd {
			if d, ok := r.fields["DurationInMinutes"].(int); ok {
				delete(f, "EndDateTime")
				f["DurationInMinutes"] = d
			}
		}
		if _, ok := fieldIn(body, "DurationInMinutes"); ok {
			if _, e := fieldIn(body, "EndDateTime"); !e {
				delete(f, "EndDateTime")
			}
		}
		if _, ok := fieldIn(body, "ActivityDateTime"); ok {
			if _, e := fieldIn(body, "StartDateTime"); !e {
				delete(f, "StartDateTime")
			}
		}
	}
	if err := s.finishLocked(sc, r.id, f); err != nil {
		return err
	}
	now := s.clk.Now().UTC().Truncate(time.Millisecond)
	if prev := r.modstamp(); !now.After(prev) {
		now = prev.Add(time.Millisecond) // keep SystemModstamp strictly increasing
	}
	f["LastModifiedDate"], f["SystemModstamp"] = now, now
	if user != nil {
		f["LastModifiedById"] = user.ID
	}
	old := r.fields
	r.fields = f
	if sc.name == "Event" {
		s.afterEventWriteLocked(r, old)
	}
	return nil
}

func fieldIn(body map[string]any, names ...string) (string, bool) {
	for k := range body {
		for _, n := range names {
			if strings.EqualFold(k, n) {
				return n, true
			}
		}
	}
	return "", false
}

func (s *Server) deleteLocked(user *User, r *record) {
	now := s.clk.Now().UTC().Truncate(time.Millisecond)
	r.fields["IsDeleted"] = true
	r.fields["SystemModstamp"] = now
	if user != nil {
		r.fields["LastModifiedById"] = user.ID
	}
	if strings.HasPrefix(r.id, "00U") { // an event's relations (and a series' occurrences) go with it
		s.deleteSeriesLocked(r, now)
		for _, er := range s.objects["eventrelation"].records {
			if er.str("EventId") == r.id && !er.deleted() {
				er.fields["IsDeleted"] = true
				er.fields["SystemModstamp"] = now
			}
		}
	}
}

// renderRecord renders selected fields (all when fields is nil) in order.
func renderRecord(sc *schema, r *record, fields []string, version string) orderedJSON {
	out := orderedJSON{{"attributes", map[string]string{"type": sc.name, "url": "/services/data/" + version + "/sobjects/" + sc.name + "/" + r.id}}}
	if fields == nil {
		for _, f := range sortedFields(sc) {
			fields = append(fields, f.name)
		}
		sort.SliceStable(fields, func(i, j int) bool { return fields[i] == "Id" && fields[j] != "Id" })
	}
	for _, name := range fields {
		f, _ := sc.field(name)
		out = append(out, kv{f.name, render(f, r.fields[f.name])})
	}
	return out
}

type kv struct {
	k string
	v any
}

// orderedJSON is a JSON object that keeps key order, as Salesforce does.
type orderedJSON []kv

func (o orderedJSON) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(e.v)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", e.k, err)
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
