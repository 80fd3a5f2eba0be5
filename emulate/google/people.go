package google

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/api/people/v1"
)

const (
	kindPplPage     = "ppl-page"
	kindPplSync     = "ppl-sync"
	docsConnections = "https://developers.google.com/people/api/rest/v1/people.connections/list"
	docsGet         = "https://developers.google.com/people/api/rest/v1/people/get"
	docsUpdate      = "https://developers.google.com/people/api/rest/v1/people/updateContact"
)

// personFields accepted in read masks (people.connections.list reference).
var readFields = set("addresses", "ageRanges", "biographies", "birthdays", "calendarUrls", "clientData", "coverPhotos",
	"emailAddresses", "events", "externalIds", "genders", "imClients", "interests", "locales", "locations", "memberships",
	"metadata", "miscKeywords", "names", "nicknames", "occupations", "organizations", "phoneNumbers", "photos",
	"relations", "sipAddresses", "skills", "urls", "userDefined")

// updatePersonFields accepted by people.updateContact.
var updateFields = set("addresses", "biographies", "birthdays", "calendarUrls", "clientData", "emailAddresses", "events",
	"externalIds", "genders", "imClients", "interests", "locales", "locations", "memberships", "miscKeywords", "names",
	"nicknames", "occupations", "organizations", "phoneNumbers", "relations", "sipAddresses", "urls", "userDefined")

var singletonFields = []string{"biographies", "birthdays", "genders", "names"}

func set(xs ...string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

func errPeopleUnauthenticated() *apiError {
	e := peopleErr(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.", "")
	e.header = map[string]string{"WWW-Authenticate": `Bearer realm="https://accounts.google.com/", error="invalid_token"`}
	return e
}

func errPeopleNotFound() *apiError {
	return peopleErr(404, "NOT_FOUND", "Requested entity was not found.", "")
}

func (s *Server) servePeople(w http.ResponseWriter, r *http.Request) {
	if e := s.people(w, r); e != nil {
		writePeopleError(w, e)
	}
}

func (s *Server) people(w http.ResponseWriter, r *http.Request) *apiError {
	at, ok := s.authenticate(r)
	if !ok {
		return errPeopleUnauthenticated()
	}
	if _, limited := s.throttled(at); limited {
		e := peopleErr(429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user' of service 'people.googleapis.com'.", "RATE_LIMIT_EXCEEDED")
		e.retryAfter = 1
		return e
	}
	segs, err := splitPath(r.URL.EscapedPath())
	if err != nil || len(segs) < 2 || segs[0] != "v1" {
		return errPeopleNotFound()
	}
	write := r.Method != http.MethodGet
	if write && !at.hasScope(ScopeContacts) || !write && !at.hasScope(ScopeContacts, ScopeContactsReadonly) {
		e := peopleErr(403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.", "ACCESS_TOKEN_SCOPE_INSUFFICIENT")
		return e
	}
	if at.Subject == "" {
		return errPeopleNotFound()
	}
	q := r.URL.Query()
	switch {
	case len(segs) == 4 && segs[1] == "people" && segs[2] == "me" && segs[3] == "connections" && r.Method == http.MethodGet:
		return s.listConnections(w, q, at.Subject)
	case len(segs) == 2 && segs[1] == "people:createContact" && r.Method == http.MethodPost:
		return s.createContact(w, r, at.Subject)
	case len(segs) == 3 && segs[1] == "people":
		id, verb, _ := strings.Cut(segs[2], ":")
		rn := "people/" + id
		switch {
		case verb == "updateContact" && r.Method == http.MethodPatch:
			return s.updateContact(w, r, at.Subject, rn)
		case verb == "deleteContact" && r.Method == http.MethodDelete:
			return s.deleteContactHTTP(w, at.Subject, rn)
		case verb == "" && r.Method == http.MethodGet:
			return s.getContact(w, q, at.Subject, rn)
		}
	}
	return errPeopleNotFound()
}

// parseMask parses a FieldMask parameter against the allowed paths.
func parseMask(v, param, docs string, allowed map[string]bool) (map[string]bool, *apiError) {
	if strings.TrimSpace(v) == "" {
		return nil, peopleErr(400, "INVALID_ARGUMENT", param+" mask is required. Please specify one or more valid paths. Valid paths are documented at "+docs+".", "")
	}
	m := map[string]bool{}
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(f), "person."))
		if !allowed[f] {
			return nil, peopleErr(400, "INVALID_ARGUMENT", fmt.Sprintf("Invalid %s mask path: %q. Valid paths are documented at %s.", param, f, docs), "")
		}
		m[f] = true
	}
	return m, nil
}

func personMap(p *people.Person) map[string]any {
	raw, err := json.Marshal(p)
	if err != nil {
		panic(fmt.Sprintf("google emulator: marshal person: %v", err))
	}
	m := map[string]any{}
	if err := json.Unmarshal(raw, &m); err != nil {
		panic(fmt.Sprintf("google emulator: unmarshal person: %v", err))
	}
	return m
}

// render applies a read mask; resourceName and etag are always present, and
// a deleted contact always carries metadata.deleted.
func render(rec *contactRec, mask map[string]bool) map[string]any {
	m := personMap(rec.p)
	out := map[string]any{"resourceName": m["resourceName"], "etag": m["etag"]}
	for k, v := range m {
		if mask == nil || mask[k] {
			out[k] = v
		}
	}
	if rec.deleted {
		md, _ := m["metadata"].(map[string]any)
		if md == nil {
			md = map[string]any{}
		}
		md["deleted"] = true
		out = map[string]any{"resourceName": m["resourceName"], "etag": m["etag"], "metadata": md}
	}
	return out
}

func (s *Server) pplStampLocked(p *people.Person) int64 {
	seq := s.nextSeq()
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	etag := "%" + strings.TrimRight(fmt.Sprintf("%s%d", hex.EncodeToString(b), seq), "=")
	p.Etag = etag
	if p.Metadata == nil {
		p.Metadata = &people.PersonMetadata{}
	}
	p.Metadata.ObjectType = "PERSON"
	now := s.clk.Now().UTC().Format("2006-01-02T15:04:05.000000Z")
	for _, src := range p.Metadata.Sources {
		if src.Type == "CONTACT" {
			src.Etag, src.UpdateTime = etag, now
		}
	}
	return seq
}

func fillDisplayNames(p *people.Person) {
	for _, n := range p.Names {
		if n.DisplayName == "" {
			n.DisplayName = strings.TrimSpace(strings.Join(nonEmpty(n.HonorificPrefix, n.GivenName, n.MiddleName, n.FamilyName, n.HonorificSuffix), " "))
		}
		if n.DisplayNameLastFirst == "" && n.FamilyName != "" {
			n.DisplayNameLastFirst = strings.TrimSpace(n.FamilyName + ", " + strings.Join(nonEmpty(n.GivenName, n.MiddleName), " "))
		}
	}
}

func nonEmpty(xs ...string) []string {
	var out []string
	for _, x := range xs {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

// contactOnly keeps the contact fields of a person a client sent.
func contactOnly(p *people.Person) (*people.Person, *apiError) {
	m := personMap(p)
	for k := range m {
		if !updateFields[k] {
			delete(m, k)
		}
	}
	for _, f := range singletonFields {
		if arr, ok := m[f].([]any); ok && len(arr) > 1 {
			return nil, peopleErr(400, "INVALID_ARGUMENT", fmt.Sprintf("Only one field is allowed for %s.", f), "")
		}
	}
	raw, _ := json.Marshal(m)
	var out people.Person
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, peopleErr(400, "INVALID_ARGUMENT", "Invalid JSON payload received.", "")
	}
	return &out, nil
}

func (s *Server) createContactLocked(u *userData, in *people.Person) (*contactRec, *apiError) {
	p, e := contactOnly(in)
	if e != nil {
		return nil, e
	}
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(fmt.Sprintf("google emulator: random: %v", err))
	}
	id := n.String()
	p.ResourceName = "people/c" + id
	p.Metadata = &people.PersonMetadata{Sources: []*people.Source{{Type: "CONTACT", Id: strconv.FormatUint(n.Uint64(), 16)}}}
	fillDisplayNames(p)
	seq := s.pplStampLocked(p)
	rec := &contactRec{p: p, seq: seq}
	u.contacts[p.ResourceName] = rec
	return rec, nil
}

func readPerson(r *http.Request) (*people.Person, *apiError) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		return nil, peopleErr(400, "INVALID_ARGUMENT", "Invalid JSON payload received.", "")
	}
	var p people.Person
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, peopleErr(400, "INVALID_ARGUMENT", "Invalid JSON payload received.", "")
	}
	return &p, nil
}

func optionalMask(v string) (map[string]bool, *apiError) {
	if v == "" {
		return nil, nil // all fields
	}
	return parseMask(v, "personFields", docsGet, readFields)
}

func (s *Server) createContact(w http.ResponseWriter, r *http.Request, user string) *apiError {
	mask, e := optionalMask(r.URL.Query().Get("personFields"))
	if e != nil {
		return e
	}
	in, e := readPerson(r)
	if e != nil {
		return e
	}
	s.mu.Lock()
	u := s.userLocked(user)
	if u == nil {
		s.mu.Unlock()
		return errPeopleNotFound()
	}
	rec, e := s.createContactLocked(u, in)
	var out map[string]any
	if e == nil {
		out = render(rec, mask)
	}
	s.mu.Unlock()
	if e != nil {
		return e
	}
	writeJSON(w, 200, out)
	return nil
}

func (s *Server) getContact(w http.ResponseWriter, q map[string][]string, user, rn string) *apiError {
	mask, e := parseMask(first(q["personFields"]), "personFields", docsGet, readFields)
	if e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(user)
	if u == nil {
		return errPeopleNotFound()
	}
	rec := u.contacts[rn]
	if rec == nil || rec.deleted {
		return errPeopleNotFound()
	}
	writeJSON(w, 200, render(rec, mask))
	return nil
}

func first(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	return xs[0]
}

func (s *Server) updateContact(w http.ResponseWriter, r *http.Request, user, rn string) *apiError {
	q := r.URL.Query()
	fields, e := parseMask(q.Get("updatePersonFields"), "updatePersonFields", docsUpdate, updateFields)
	if e != nil {
		return e
	}
	mask, e := optionalMask(q.Get("personFields"))
	if e != nil {
		return e
	}
	in, e := readPerson(r)
	if e != nil {
		return e
	}
	etag := in.Etag
	if in.Metadata != nil {
		for _, src := range in.Metadata.Sources {
			if src.Type == "CONTACT" && src.Etag != "" {
				etag = src.Etag
			}
		}
	}
	if etag == "" {
		return peopleErr(400, "INVALID_ARGUMENT", "Request must set person.etag or person.metadata.sources.etag for the source that is being updated.", "")
	}
	if in.ResourceName != "" && in.ResourceName != rn {
		return peopleErr(400, "INVALID_ARGUMENT", "Resource name in the request body does not match the URL.", "")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(user)
	if u == nil {
		return errPeopleNotFound()
	}
	rec := u.contacts[rn]
	if rec == nil || rec.deleted {
		return errPeopleNotFound()
	}
	if etag != rec.p.Etag {
		return peopleErr(400, "FAILED_PRECONDITION", "Request person.etag is different than the current person.etag. Clear local cache and get the latest person.", "")
	}
	cur := personMap(rec.p)
	body := personMap(in)
	for f := range fields {
		if v, ok := body[f]; ok {
			cur[f] = v
		} else {
			delete(cur, f)
		}
	}
	for _, f := range singletonFields {
		if arr, ok := cur[f].([]any); ok && len(arr) > 1 {
			return peopleErr(400, "INVALID_ARGUMENT", fmt.Sprintf("Only one field is allowed for %s.", f), "")
		}
	}
	raw, _ := json.Marshal(cur)
	var next people.Person
	if err := json.Unmarshal(raw, &next); err != nil {
		return peopleErr(400, "INVALID_ARGUMENT", "Invalid JSON payload received.", "")
	}
	fillDisplayNames(&next)
	seq := s.pplStampLocked(&next)
	nrec := &contactRec{p: &next, seq: seq}
	u.contacts[rn] = nrec
	writeJSON(w, 200, render(nrec, mask))
	return nil
}

func (s *Server) deleteContactLocked(u *userData, rn string) *apiError {
	rec := u.contacts[rn]
	if rec == nil || rec.deleted {
		return errPeopleNotFound()
	}
	p := rec.p
	raw, _ := json.Marshal(p)
	var cp people.Person
	_ = json.Unmarshal(raw, &cp)
	seq := s.pplStampLocked(&cp)
	u.contacts[rn] = &contactRec{p: &cp, seq: seq, deleted: true}
	return nil
}

func (s *Server) deleteContactHTTP(w http.ResponseWriter, user, rn string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(user)
	if u == nil {
		return errPeopleNotFound()
	}
	if e := s.deleteContactLocked(u, rn); e != nil {
		return e
	}
	writeJSON(w, 200, map[string]any{})
	return nil
}

func errExpiredSync() *apiError {
	return peopleErr(400, "FAILED_PRECONDITION", "Sync token is expired. Clear local cache and retry call without the sync token.", "EXPIRED_SYNC_TOKEN")
}

func (s *Server) listConnections(w http.ResponseWriter, q map[string][]string, user string) *apiError {
	get := func(k string) string { return first(q[k]) }
	mask, e := parseMask(get("personFields"), "personFields", docsConnections, readFields)
	if e != nil {
		return e
	}
	pageSize := 100
	if v := get("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1000 {
			return peopleErr(400, "INVALID_ARGUMENT", "Invalid pageSize: must be between 1 and 1000.", "")
		}
		if n > 0 {
			pageSize = n
		}
	}
	sortOrder := get("sortOrder")
	switch sortOrder {
	case "", "LAST_MODIFIED_ASCENDING", "LAST_MODIFIED_DESCENDING", "FIRST_NAME_ASCENDING", "LAST_NAME_ASCENDING":
	default:
		return peopleErr(400, "INVALID_ARGUMENT", "Invalid value at 'sort_order'.", "")
	}
	reqSync := false
	if v := get("requestSyncToken"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return peopleErr(400, "INVALID_ARGUMENT", "Invalid value at 'request_sync_token' (TYPE_BOOL).", "")
		}
		reqSync = b
	}
	syncTok, pageTok := get("syncToken"), get("pageToken")
	hash := paramsHash(get("personFields"), get("pageSize"), sortOrder, get("requestSyncToken"), syncTok, strings.Join(q["sources"], ","))

	s.mu.Lock()
	resp, e := s.listConnectionsLocked(user, mask, pageSize, sortOrder, reqSync, syncTok, pageTok, hash)
	s.mu.Unlock()
	if e != nil {
		return e
	}
	writeJSON(w, 200, resp)
	return nil
}

func (s *Server) listConnectionsLocked(user string, mask map[string]bool, pageSize int, sortOrder string, reqSync bool, syncTok, pageTok, hash string) (map[string]any, *apiError) {
	u := s.userLocked(user)
	if u == nil {
		return nil, errPeopleNotFound()
	}
	now := s.clk.Now()
	valid := func(c cursor) bool {
		return c.Snap >= u.pplFloor && c.From >= u.pplFloor && now.Sub(time.Unix(c.Full, 0)) < s.syncTTL
	}
	var cur cursor
	switch {
	case pageTok != "":
		c, err := decodeToken(s.tokenKey, pageTok)
		if err != nil || c.Kind != kindPplPage || c.Sub != u.email || c.Params != hash {
			return nil, peopleErr(400, "INVALID_ARGUMENT", "Page token is invalid or does not match the request parameters.", "")
		}
		if c.Incr && !valid(c) {
			return nil, errExpiredSync()
		}
		cur = c
	case syncTok != "":
		c, err := decodeToken(s.tokenKey, syncTok)
		if err != nil || c.Kind != kindPplSync || c.Sub != u.email || c.Snap > s.seq {
			return nil, peopleErr(400, "INVALID_ARGUMENT", "Sync token is invalid.", "")
		}
		if !valid(c) {
			return nil, errExpiredSync()
		}
		cur = cursor{Kind: kindPplPage, Sub: u.email, Snap: s.seq, From: c.Snap, Incr: true, Params: hash, Full: c.Full}
	default:
		cur = cursor{Kind: kindPplPage, Sub: u.email, Snap: s.seq, Params: hash, Full: now.Unix()}
	}
	type item struct {
		rec *contactRec
		key string
	}
	var items []item
	for _, rec := range u.contacts {
		if cur.Incr && rec.seq <= cur.From || !cur.Incr && rec.deleted {
			continue
		}
		key := fmt.Sprintf("%020d", rec.seq)
		switch sortOrder {
		case "LAST_MODIFIED_DESCENDING":
			key = fmt.Sprintf("%020d", int64(1<<62)-rec.seq)
		case "FIRST_NAME_ASCENDING", "LAST_NAME_ASCENDING":
			var name string
			if len(rec.p.Names) > 0 {
				name = rec.p.Names[0].GivenName
				if sortOrder == "LAST_NAME_ASCENDING" {
					name = rec.p.Names[0].FamilyName
				}
			}
			key = strings.ToLower(name) + "\x00" + key
		}
		items = append(items, item{rec: rec, key: key})
	}
	sort.Slice(items, func(i, j int) bool {
		if items[i].key != items[j].key {
			return items[i].key < items[j].key
		}
		return items[i].rec.p.ResourceName < items[j].rec.p.ResourceName
	})
	total := len(items)
	start := 0
	if cur.AfterKey != "" {
		start = sort.Search(len(items), func(i int) bool {
			it := items[i]
			return it.key > cur.AfterKey || (it.key == cur.AfterKey && it.rec.p.ResourceName > cur.AfterID)
		})
	}
	page := items[start:]
	resp := map[string]any{"totalPeople": total, "totalItems": total}
	if len(page) > pageSize {
		page = page[:pageSize]
		next := cur
		next.AfterKey, next.AfterID = page[len(page)-1].key, page[len(page)-1].rec.p.ResourceName
		resp["nextPageToken"] = s.encodeToken(next)
	} else if reqSync {
		resp["nextSyncToken"] = s.encodeToken(cursor{Kind: kindPplSync, Sub: u.email, Snap: cur.Snap, Full: cur.Full})
	}
	conns := make([]map[string]any, 0, len(page))
	for _, it := range page {
		conns = append(conns, render(it.rec, mask))
	}
	if len(conns) > 0 {
		resp["connections"] = conns
	}
	return resp, nil
}

// ---- Go API for seeding and inspection ----

// PutContact creates a contact for user as people.createContact would.
func (s *Server) PutContact(user string, p *people.Person) (*people.Person, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(user)
	if u == nil {
		return nil, fmt.Errorf("user %q: not found", user)
	}
	rec, e := s.createContactLocked(u, p)
	if e != nil {
		return nil, fmt.Errorf("put contact: %w", e)
	}
	return clonePerson(rec.p), nil
}

// DeleteContact deletes a contact as the user would in their mailbox.
func (s *Server) DeleteContact(user, resourceName string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(user)
	if u == nil {
		return fmt.Errorf("user %q: not found", user)
	}
	if e := s.deleteContactLocked(u, resourceName); e != nil {
		return fmt.Errorf("delete contact %s: %w", resourceName, e)
	}
	return nil
}

// Contacts returns user's contacts (deleted ones carry metadata.deleted),
// ordered by resource name.
func (s *Server) Contacts(user string) ([]*people.Person, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(user)
	if u == nil {
		return nil, fmt.Errorf("user %q: not found", user)
	}
	out := make([]*people.Person, 0, len(u.contacts))
	for _, rec := range u.contacts {
		p := clonePerson(rec.p)
		if rec.deleted {
			p.Metadata.Deleted = true
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ResourceName < out[j].ResourceName })
	return out, nil
}

func clonePerson(p *people.Person) *people.Person {
	raw, _ := json.Marshal(p)
	var out people.Person
	_ = json.Unmarshal(raw, &out)
	return &out
}
