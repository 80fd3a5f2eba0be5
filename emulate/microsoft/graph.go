package microsoft

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// serveGraph handles graph.microsoft.com/v1.0/users/{id|upn}/...
func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request) {
	now := s.clock.Now()
	reqID := newGUID()
	w.Header().Set("request-id", reqID)
	cid := r.Header.Get("client-request-id")
	if cid == "" || len(cid) > 64 || strings.ContainsAny(cid, "\r\n\"\\") {
		cid = reqID
	}
	w.Header().Set("client-request-id", cid)
	fail := func(e *apiError) { graphError(w, r, s.clock.Now(), e.status, e.code, e.msg) }

	rest, ok := strings.CutPrefix(r.URL.Path, "/v1.0/")
	if !ok {
		ver, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		fail(errBadRequest("BadRequest", "Invalid version: "+truncate(ver, 32)))
		return
	}
	segs := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	if segs[0] != "users" || len(segs) < 2 || segs[1] == "" {
		fail(errBadRequest("BadRequest", "Resource not found for the segment '"+truncate(segs[0], 64)+"'."))
		return
	}

	s.mu.Lock()
	tok, e := s.authLocked(r, now)
	if e != nil {
		s.mu.Unlock()
		fail(e)
		return
	}
	u, e := s.userLocked(tok, segs[1], len(segs) == 2)
	if e != nil {
		s.mu.Unlock()
		fail(e)
		return
	}
	key := tok.clientID + "|" + u.ID
	if e, retry := s.throttleLocked(key, now); e != nil {
		s.mu.Unlock()
		w.Header().Set("Retry-After", strconv.Itoa(retry))
		fail(e)
		return
	}
	s.inflight[key]++
	hold := s.hold
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight[key]--
		if s.inflight[key] <= 0 {
			delete(s.inflight, key)
		}
		s.mu.Unlock()
	}()

	s.sleepLatency(r)
	if hold != nil {
		hold()
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.ErrorRate > 0 && s.rng.Float64() < s.faults.ErrorRate {
		w.Header().Set("Retry-After", "1")
		fail(&apiError{http.StatusServiceUnavailable, "ServiceNotAvailable", "The service is temporarily unavailable. Please retry later."})
		return
	}
	now = s.clock.Now()
	if e := s.routeLocked(w, r, tok, u, segs[2:], now); e != nil {
		fail(e)
	}
}

func (s *Server) authLocked(r *http.Request, now time.Time) (*accessToken, *apiError) {
	unauth := func(msg string) *apiError {
		return &apiError{http.StatusUnauthorized, "InvalidAuthenticationToken", msg}
	}
	h := r.Header.Get("Authorization")
	scheme, raw, _ := strings.Cut(h, " ")
	raw = strings.TrimSpace(raw)
	if !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return nil, unauth("Access token is empty.")
	}
	t := s.tokens[raw]
	if t == nil {
		return nil, unauth("Access token validation failure. Invalid audience.")
	}
	if t.revoked || !now.Before(t.expires) {
		return nil, unauth("Lifetime validation failed, the token is expired.")
	}
	return t, nil
}

// userLocked resolves the {id|userPrincipalName} segment within the
// token's tenant.
func (s *Server) userLocked(tok *accessToken, seg string, directory bool) (*user, *apiError) {
	id := strings.ToLower(seg)
	u := s.users[id]
	if u == nil {
		u = s.users[s.upns[id]]
	}
	if u == nil {
		if directory {
			return nil, &apiError{http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", truncate(seg, 128))}
		}
		return nil, &apiError{http.StatusNotFound, "ErrorInvalidUser", fmt.Sprintf("The requested user '%s' is invalid.", truncate(seg, 128))}
	}
	if u.TenantID != tok.tenantID {
		return nil, &apiError{http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. The token was issued for another tenant."}
	}
	return u, nil
}

// throttleLocked applies forced throttling, the request rate per app and
// mailbox, and the concurrency limit. It returns a 429 and Retry-After.
func (s *Server) throttleLocked(key string, now time.Time) (*apiError, int) {
	if s.faults.Throttle {
		ra := s.faults.RetryAfter
		if ra <= 0 {
			ra = 1
		}
		return &apiError{http.StatusTooManyRequests, "ApplicationThrottled", "Application is over its MailboxConcurrency limit."}, ra
	}
	if s.inflight[key] >= s.opts.MaxConcurrent {
		return &apiError{http.StatusTooManyRequests, "ApplicationThrottled", "Application is over its MailboxConcurrency limit."}, 1
	}
	b := s.rate[key]
	if b == nil || now.Sub(b.start) >= s.opts.RateWindow || now.Before(b.start) {
		b = &rateBucket{start: now}
		s.rate[key] = b
	}
	if b.count >= s.opts.RateLimit {
		left := b.start.Add(s.opts.RateWindow).Sub(now)
		return &apiError{http.StatusTooManyRequests, "ApplicationThrottled", "Application is over its request limit for this mailbox."}, max(1, int(math.Ceil(left.Seconds())))
	}
	b.count++
	return nil, 0
}

// hasPermission checks the app's roles: reading needs X.Read or
// X.ReadWrite, writing needs X.ReadWrite.
func (s *Server) permittedLocked(tok *accessToken, area string, write bool) *apiError {
	ap := s.apps[tok.clientID]
	if ap == nil {
		return &apiError{http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure."}
	}
	if ap.permissions == nil {
		return nil
	}
	a := strings.ToLower(area)
	if ap.permissions[a+".readwrite"] || (!write && ap.permissions[a+".read"]) {
		return nil
	}
	return &apiError{http.StatusForbidden, "ErrorAccessDenied", "Access is denied. Check credentials and try again."}
}

func methodNotAllowed() *apiError {
	return &apiError{http.StatusMethodNotAllowed, "BadRequest", "The HTTP method is not allowed on this resource."}
}

func isDelta(seg string) bool {
	return seg == "delta" || seg == "delta()" || seg == "microsoft.graph.delta"
}

func (s *Server) routeLocked(w http.ResponseWriter, r *http.Request, tok *accessToken, u *user, rest []string, now time.Time) *apiError {
	if len(rest) == 0 {
		if r.Method != http.MethodGet {
			return methodNotAllowed()
		}
		ap := s.apps[tok.clientID]
		if ap != nil && ap.permissions != nil && !ap.permissions["user.read.all"] && !ap.permissions["user.readwrite.all"] && !ap.permissions["directory.read.all"] {
			return &apiError{http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."}
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"@odata.context":    "https://" + GraphHost + "/v1.0/$metadata#users/$entity",
			"id":                u.ID,
			"userPrincipalName": u.UserPrincipalName,
			"displayName":       u.DisplayName,
			"mail":              nilIfEmpty(u.Mail),
		})
		return nil
	}
	write := r.Method != http.MethodGet
	switch rest[0] {
	case "contacts":
		if e := s.permittedLocked(tok, "Contacts", write); e != nil {
			return e
		}
		// /contacts is the default contacts folder, delta included: Graph
		// v1.0 publishes /users/{id}/contacts/delta (microsoft.graph.delta on
		// the contacts collection) with the default folder's semantics.
		return s.contactsLocked(w, r, u, u.defaultFolder, rest[1:], true, now)
	case "contactFolders":
		if e := s.permittedLocked(tok, "Contacts", write); e != nil {
			return e
		}
		if len(rest) == 1 {
			if r.Method != http.MethodGet {
				return methodNotAllowed()
			}
			var value []any
			for _, id := range u.folderIDs() {
				value = append(value, map[string]any{"id": id, "displayName": u.folders[id], "parentFolderId": nil})
			}
			writeJSON(w, http.StatusOK, map[string]any{"@odata.context": "https://" + GraphHost + "/v1.0/$metadata#users('" + u.ID + "')/contactFolders", "value": value})
			return nil
		}
		fid := rest[1]
		if !validID(fid) {
			return errMalformedID()
		}
		if _, ok := u.folders[fid]; !ok {
			return errNotFound()
		}
		if len(rest) == 2 {
			if r.Method != http.MethodGet {
				return methodNotAllowed()
			}
			writeJSON(w, http.StatusOK, map[string]any{"id": fid, "displayName": u.folders[fid], "parentFolderId": nil})
			return nil
		}
		if rest[2] != "contacts" {
			return errBadRequest("BadRequest", "Resource not found for the segment '"+truncate(rest[2], 64)+"'.")
		}
		return s.contactsLocked(w, r, u, fid, rest[3:], true, now)
	case "events":
		if e := s.permittedLocked(tok, "Calendars", write); e != nil {
			return e
		}
		return s.eventsLocked(w, r, u, rest[1:], now)
	case "calendar":
		if e := s.permittedLocked(tok, "Calendars", write); e != nil {
			return e
		}
		if len(rest) >= 2 && rest[1] == "events" {
			return s.eventsLocked(w, r, u, rest[2:], now)
		}
		if len(rest) >= 2 && rest[1] == "calendarView" {
			return s.calendarViewLocked(w, r, u, rest[2:], now)
		}
		return errBadRequest("BadRequest", "Resource not found for the segment 'calendar'.")
	case "calendarView":
		if e := s.permittedLocked(tok, "Calendars", write); e != nil {
			return e
		}
		return s.calendarViewLocked(w, r, u, rest[1:], now)
	}
	return errBadRequest("BadRequest", "Resource not found for the segment '"+truncate(rest[0], 64)+"'.")
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Server) contactsLocked(w http.ResponseWriter, r *http.Request, u *user, folder string, rest []string, deltaOK bool, now time.Time) *apiError {
	q := r.URL.Query()
	switch {
	case len(rest) == 0:
		switch r.Method {
		case http.MethodGet:
			sel, err := parseSelect(q.Get("$select"), contactProps, "microsoft.graph.contact")
			if err != nil {
				return errBadRequest("BadRequest", err.Error())
			}
			x, e := parseExtQuery(q, true)
			if e != nil {
				return e
			}
			items := x.keep(u.contactsIn(folder))
			bodies := make([]map[string]any, len(items))
			for i, it := range items {
				bodies[i] = x.render(it, applySelect(it.renderContact(), sel))
			}
			return s.writePage(w, r, bodies, "https://"+GraphHost+"/v1.0/$metadata#users('"+u.ID+"')/contacts")
		case http.MethodPost:
			body, e := decodeBody(r)
			if e != nil {
				return e
			}
			ext, e := takeExtProps(body)
			if e != nil {
				return e
			}
			it, e := u.createContact(folder, body, now)
			if e != nil {
				return e
			}
			it.setExtProps(ext)
			w.Header().Set("Location", "https://"+GraphHost+"/v1.0/users('"+u.ID+"')/contacts('"+it.id+"')")
			writeJSON(w, http.StatusCreated, it.renderContact())
			return nil
		}
		return methodNotAllowed()
	case len(rest) == 1 && isDelta(rest[0]) && deltaOK:
		if r.Method != http.MethodGet {
			return methodNotAllowed()
		}
		return s.serveDeltaLocked(w, r, u, deltaRequest{
			kind: "contacts", scope: folder, typeName: "contact", known: contactProps,
			current: func(_, _ time.Time) []instance {
				var out []instance
				for _, it := range u.contactsIn(folder) {
					out = append(out, instance{id: it.id, ck: it.changeKey, body: it.renderContact})
				}
				return out
			},
		}, now)
	case len(rest) == 1:
		id := rest[0]
		switch r.Method {
		case http.MethodGet:
			sel, err := parseSelect(q.Get("$select"), contactProps, "microsoft.graph.contact")
			if err != nil {
				return errBadRequest("BadRequest", err.Error())
			}
			x, e := parseExtQuery(q, false)
			if e != nil {
				return e
			}
			it, e := u.contact(id, folder)
			if e != nil {
				return e
			}
			writeJSON(w, http.StatusOK, x.render(it, applySelect(it.renderContact(), sel)))
			return nil
		case http.MethodPatch:
			body, e := decodeBody(r)
			if e != nil {
				return e
			}
			ext, e := takeExtProps(body)
			if e != nil {
				return e
			}
			it, e := u.updateContact(id, folder, body, r.Header, now)
			if e != nil {
				return e
			}
			it.setExtProps(ext)
			writeJSON(w, http.StatusOK, it.renderContact())
			return nil
		case http.MethodDelete:
			if e := u.deleteContact(id, folder, r.Header); e != nil {
				return e
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		return methodNotAllowed()
	}
	return errBadRequest("BadRequest", "Resource not found for the segment '"+truncate(rest[len(rest)-1], 64)+"'.")
}

func (s *Server) eventsLocked(w http.ResponseWriter, r *http.Request, u *user, rest []string, now time.Time) *apiError {
	q := r.URL.Query()
	switch {
	case len(rest) == 0:
		switch r.Method {
		case http.MethodGet:
			sel, err := parseSelect(q.Get("$select"), eventProps, "microsoft.graph.event")
			if err != nil {
				return errBadRequest("BadRequest", err.Error())
			}
			x, e := parseExtQuery(q, true)
			if e != nil {
				return e
			}
			items := x.keep(u.topLevelEvents())
			bodies := make([]map[string]any, len(items))
			for i, it := range items {
				bodies[i] = x.render(it, applySelect(it.renderEvent(), sel))
			}
			return s.writePage(w, r, bodies, "https://"+GraphHost+"/v1.0/$metadata#users('"+u.ID+"')/events")
		case http.MethodPost:
			body, e := decodeBody(r)
			if e != nil {
				return e
			}
			ext, e := takeExtProps(body)
			if e != nil {
				return e
			}
			it, created, e := u.createEvent(body, now)
			if e != nil {
				return e
			}
			if created {
				it.setExtProps(ext)
			}
			w.Header().Set("Location", "https://"+GraphHost+"/v1.0/users('"+u.ID+"')/events('"+it.id+"')")
			writeJSON(w, http.StatusCreated, it.renderEvent())
			return nil
		}
		return methodNotAllowed()
	case len(rest) == 1:
		id := rest[0]
		switch r.Method {
		case http.MethodGet:
			sel, err := parseSelect(q.Get("$select"), eventProps, "microsoft.graph.event")
			if err != nil {
				return errBadRequest("BadRequest", err.Error())
			}
			x, e := parseExtQuery(q, false)
			if e != nil {
				return e
			}
			m, e := u.getEvent(id)
			if e != nil {
				return e
			}
			writeJSON(w, http.StatusOK, x.render(u.events[id], applySelect(m, sel)))
			return nil
		case http.MethodPatch:
			body, e := decodeBody(r)
			if e != nil {
				return e
			}
			ext, e := takeExtProps(body)
			if e != nil {
				return e
			}
			m, e := u.updateEvent(id, body, r.Header, now)
			if e != nil {
				return e
			}
			u.events[id].setExtProps(ext)
			writeJSON(w, http.StatusOK, m)
			return nil
		case http.MethodDelete:
			if e := u.deleteEvent(id, r.Header, now); e != nil {
				return e
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		return methodNotAllowed()
	case len(rest) == 2 && rest[1] == "instances":
		if r.Method != http.MethodGet {
			return methodNotAllowed()
		}
		ws, we, e := window(q)
		if e != nil {
			return e
		}
		it, _, _, e := u.resolveEvent(rest[0])
		if e != nil {
			return e
		}
		if it == nil || it.typ != "seriesMaster" {
			return errBadRequest("ErrorInvalidRequest", "The instances of an event can only be listed for a series master.")
		}
		var bodies []map[string]any
		for _, in := range u.calendarView(ws, we, false) {
			if mid, _, ok := splitOccurrenceID(in.id); ok && mid == it.id {
				bodies = append(bodies, in.body())
			}
		}
		return s.writePage(w, r, bodies, "https://"+GraphHost+"/v1.0/$metadata#Collection(event)")
	}
	return errBadRequest("BadRequest", "Resource not found for the segment '"+truncate(rest[len(rest)-1], 64)+"'.")
}

func (s *Server) calendarViewLocked(w http.ResponseWriter, r *http.Request, u *user, rest []string, now time.Time) *apiError {
	if r.Method != http.MethodGet {
		return methodNotAllowed()
	}
	q := r.URL.Query()
	switch {
	case len(rest) == 0:
		ws, we, e := window(q)
		if e != nil {
			return e
		}
		sel, err := parseSelect(q.Get("$select"), eventProps, "microsoft.graph.event")
		if err != nil {
			return errBadRequest("BadRequest", err.Error())
		}
		var bodies []map[string]any
		for _, in := range u.calendarView(ws, we, false) {
			bodies = append(bodies, applySelect(in.body(), sel))
		}
		return s.writePage(w, r, bodies, "https://"+GraphHost+"/v1.0/$metadata#users('"+u.ID+"')/calendarView")
	case len(rest) == 1 && isDelta(rest[0]):
		dr := deltaRequest{kind: "calendarView", typeName: "event", known: eventProps,
			current: func(ws, we time.Time) []instance { return u.calendarView(ws, we, true) }}
		if q.Get("$deltatoken") == "" && q.Get("$skiptoken") == "" {
			ws, we, e := window(q)
			if e != nil {
				return e
			}
			dr.ws, dr.we = ws, we
		}
		return s.serveDeltaLocked(w, r, u, dr, now)
	}
	return errBadRequest("BadRequest", "Resource not found for the segment '"+truncate(rest[len(rest)-1], 64)+"'.")
}

// queryFold reads a query parameter ignoring the case of its name, as Graph
// accepts startdatetime and startDateTime alike.
func queryFold(q url.Values, name string) string {
	if v := q.Get(name); v != "" {
		return v
	}
	for k, v := range q {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// window parses the startDateTime/endDateTime of a calendar view: ISO 8601,
// UTC when no offset is given.
func window(q url.Values) (time.Time, time.Time, *apiError) {
	sv, ev := queryFold(q, "startDateTime"), queryFold(q, "endDateTime")
	if sv == "" || ev == "" {
		return time.Time{}, time.Time{}, errBadRequest("ErrorInvalidParameter", "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.")
	}
	ws, err1 := parseISO(sv)
	we, err2 := parseISO(ev)
	if err1 != nil || err2 != nil {
		return time.Time{}, time.Time{}, errBadRequest("ErrorInvalidParameter", "The value of startDateTime or endDateTime is not a valid ISO 8601 date and time.")
	}
	if !we.After(ws) {
		return time.Time{}, time.Time{}, errBadRequest("ErrorInvalidParameter", "endDateTime must be after startDateTime.")
	}
	return ws, we, nil
}

func parseISO(v string) (time.Time, error) {
	for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(l, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not ISO 8601: %q", truncate(v, 40))
}

// writePage answers a list with $top/$skip paging and an @odata.nextLink
// carrying $skip, as Graph's Outlook lists do.
func (s *Server) writePage(w http.ResponseWriter, r *http.Request, all []map[string]any, context string) *apiError {
	q := r.URL.Query()
	top, set, err := parseTop(q)
	if err != nil {
		return errBadRequest("BadRequest", err.Error())
	}
	if !set {
		top = s.opts.DefaultPageSize
	}
	skip, err := parseSkip(q)
	if err != nil {
		return errBadRequest("BadRequest", err.Error())
	}
	start := min(skip, len(all))
	end := min(start+top, len(all))
	value := make([]any, 0, end-start)
	for _, b := range all[start:end] {
		value = append(value, b)
	}
	resp := map[string]any{"@odata.context": context, "value": value}
	if end < len(all) && top > 0 {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("$skip", strconv.Itoa(end))
		nq.Set("$top", strconv.Itoa(top))
		resp["@odata.nextLink"] = (&url.URL{Scheme: "https", Host: GraphHost, Path: r.URL.Path, RawQuery: nq.Encode()}).String()
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
