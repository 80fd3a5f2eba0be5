package microsoft

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"
)

// AddUser registers a mailbox user in a tenant, with a default contacts
// folder and calendar.
func (s *Server) AddUser(u User) error {
	if u.ID == "" || u.UserPrincipalName == "" {
		return errors.New("user id and userPrincipalName are required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tid := s.resolveTenantLocked(u.TenantID)
	if tid == "" {
		return fmt.Errorf("user %s: unknown tenant %q", u.ID, u.TenantID)
	}
	id := strings.ToLower(u.ID)
	if _, dup := s.users[id]; dup {
		return fmt.Errorf("user %s already exists", u.ID)
	}
	if other, dup := s.upns[strings.ToLower(u.UserPrincipalName)]; dup {
		return fmt.Errorf("userPrincipalName %s is already used by %s", u.UserPrincipalName, other)
	}
	u.TenantID, u.ID = tid, id
	nu := &user{User: u, folders: map[string]string{}, contacts: map[string]*item{}, events: map[string]*item{}, txn: map[string]string{}}
	nu.defaultFolder = newID()
	nu.folders[nu.defaultFolder] = "Contacts"
	s.users[id] = nu
	s.upns[strings.ToLower(u.UserPrincipalName)] = id
	return nil
}

// Users lists the registered users.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, u.User)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (u *user) folderIDs() []string {
	ids := []string{u.defaultFolder}
	var rest []string
	for id := range u.folders {
		if id != u.defaultFolder {
			rest = append(rest, id)
		}
	}
	sort.Strings(rest)
	return append(ids, rest...)
}

func (s *Server) seedUserLocked(idOrUPN string) (*user, error) {
	id := strings.ToLower(idOrUPN)
	if u := s.users[id]; u != nil {
		return u, nil
	}
	if u := s.users[s.upns[id]]; u != nil {
		return u, nil
	}
	return nil, fmt.Errorf("%w %q", errUnknownUser, idOrUPN)
}

// DefaultContactFolder returns the id of the user's default contacts folder.
func (s *Server) DefaultContactFolder(userID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.seedUserLocked(userID)
	if err != nil {
		return "", err
	}
	return u.defaultFolder, nil
}

// AddContactFolder creates a contacts folder and returns its id.
func (s *Server) AddContactFolder(userID, displayName string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.seedUserLocked(userID)
	if err != nil {
		return "", err
	}
	id := newID()
	u.folders[id] = displayName
	return id, nil
}

// normalize gives Go-built property maps the JSON types the store expects
// (float64 numbers, []any lists) and detaches them from the caller.
func normalize(props map[string]any) (map[string]any, error) {
	b, err := json.Marshal(props)
	if err != nil {
		return nil, fmt.Errorf("encode properties: %w", err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decode properties: %w", err)
	}
	if out == nil {
		out = map[string]any{}
	}
	return out, nil
}

func asErr(e *apiError) error {
	if e == nil {
		return nil
	}
	return e
}

// AddContact stores a Graph contact (JSON properties) in a folder (empty:
// the default one) and returns it as Graph renders it.
func (s *Server) AddContact(userID, folderID string, props map[string]any) (map[string]any, error) {
	props, err := normalize(props)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.seedUserLocked(userID)
	if err != nil {
		return nil, err
	}
	if folderID == "" {
		folderID = u.defaultFolder
	}
	if _, ok := u.folders[folderID]; !ok {
		return nil, fmt.Errorf("unknown contact folder %q", folderID)
	}
	it, e := u.createContact(folderID, props, s.clock.Now())
	if e != nil {
		return nil, e
	}
	return it.renderContact(), nil
}

// UpdateContact changes a contact as a mailbox user would (new change key).
func (s *Server) UpdateContact(userID, id string, props map[string]any) (map[string]any, error) {
	props, err := normalize(props)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.seedUserLocked(userID)
	if err != nil {
		return nil, err
	}
	it, e := u.updateContact(id, "", props, http.Header{}, s.clock.Now())
	if e != nil {
		return nil, e
	}
	return it.renderContact(), nil
}

// DeleteContact deletes a contact as a mailbox user would.
func (s *Server) DeleteContact(userID, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.seedUserLocked(userID)
	if err != nil {
		return err
	}
	return asErr(u.deleteContact(id, "", http.Header{}))
}

// Contacts lists a user's contacts in every folder, as Graph renders them.
func (s *Server) Contacts(userID string) ([]map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.seedUserLocked(userID)
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	for _, f := range u.folderIDs() {
		for _, it := range u.contactsIn(f) {
			out = append(out, it.renderContact())
		}
	}
	return out, nil
}

// AddEvent stores a Graph event (JSON properties, recurrence allowed) in
// the user's calendar and returns it as Graph renders it.
func (s *Server) AddEvent(userID string, props map[string]any) (map[string]any, error) {
	props, err := normalize(props)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.seedUserLocked(userID)
	if err != nil {
		return nil, err
	}
	it, _, e := u.createEvent(props, s.clock.Now())
	if e != nil {
		return nil, e
	}
	return it.renderEvent(), nil
}

// UpdateEvent changes an event, occurrence (making an exception) or series
// as a mailbox user would.
func (s *Server) UpdateEvent(userID, id string, props map[string]any) (map[string]any, error) {
	props, err := normalize(props)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.seedUserLocked(userID)
	if err != nil {
		return nil, err
	}
	m, e := u.updateEvent(id, props, http.Header{}, s.clock.Now())
	if e != nil {
		return nil, e
	}
	return m, nil
}

// DeleteEvent deletes an event or series, or cancels an occurrence.
func (s *Server) DeleteEvent(userID, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.seedUserLocked(userID)
	if err != nil {
		return err
	}
	return asErr(u.deleteEvent(id, http.Header{}, s.clock.Now()))
}

// Events lists a user's single instances, series masters and exceptions.
func (s *Server) Events(userID string) ([]map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.seedUserLocked(userID)
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	for _, it := range u.topLevelEvents() {
		out = append(out, it.renderEvent())
		for _, xid := range it.exceptions {
			if x := u.events[xid]; x != nil {
				out = append(out, x.renderEvent())
			}
		}
	}
	return out, nil
}

// CalendarView is what GET /users/{u}/calendarView answers for [ws, we):
// single instances, occurrences and exceptions overlapping it, in start
// order (the emulator's own expansion, for tests to compare with).
func (s *Server) CalendarView(userID string, ws, we time.Time) ([]map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.seedUserLocked(userID)
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	for _, in := range u.calendarView(ws, we, false) {
		out = append(out, in.body())
	}
	return out, nil
}

// Admin returns the admin API, meant to be mounted at /_emulator/microsoft/
// with the prefix stripped. It answers loopback clients only.
//
//	POST /tenants                 Tenant
//	GET  /tenants
//	POST /apps                    App (secret and certificate in, never out)
//	GET  /apps
//	POST /users                   User
//	GET  /users
//	POST /users/{u}/contactFolders {"displayName"}
//	GET|POST /users/{u}/contacts   (POST body: Graph contact; ?folder=id)
//	PATCH|DELETE /users/{u}/contacts/{id}
//	GET|POST /users/{u}/events     (POST body: Graph event)
//	PATCH|DELETE /users/{u}/events/{id}
//	GET|PUT /faults               Faults
//	POST /tokens/expire
//	POST /delta/invalidate
func (s *Server) Admin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		ip := net.ParseIP(host)
		if err != nil || ip == nil || !ip.IsLoopback() {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "the emulator admin API answers loopback clients only"})
			return
		}
		if err := s.admin(w, r); err != nil {
			status := http.StatusBadRequest
			var ae *apiError
			if errors.As(err, &ae) {
				status = ae.status
			} else if errors.Is(err, errUnknownUser) {
				status = http.StatusNotFound
			}
			writeJSON(w, status, map[string]string{"error": err.Error()})
		}
	})
}

var errNoRoute = errors.New("no such admin endpoint")

func readJSON(r *http.Request, v any) error {
	d := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 4<<20))
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("decode request body: %w", err)
	}
	return nil
}

func (s *Server) admin(w http.ResponseWriter, r *http.Request) error {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	route := r.Method + " " + segs[0]
	switch {
	case route == "POST tenants" && len(segs) == 1:
		var t Tenant
		if err := readJSON(r, &t); err != nil {
			return err
		}
		if err := s.AddTenant(t); err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, t)
	case route == "GET tenants" && len(segs) == 1:
		writeJSON(w, http.StatusOK, s.Tenants())
	case route == "POST apps" && len(segs) == 1:
		var a App
		if err := readJSON(r, &a); err != nil {
			return err
		}
		if err := s.AddApp(a); err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, map[string]string{"clientId": a.ClientID, "tenantId": a.TenantID})
	case route == "GET apps" && len(segs) == 1:
		writeJSON(w, http.StatusOK, s.Apps())
	case route == "POST users" && len(segs) == 1:
		var u User
		if err := readJSON(r, &u); err != nil {
			return err
		}
		if err := s.AddUser(u); err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, u)
	case route == "GET users" && len(segs) == 1:
		writeJSON(w, http.StatusOK, s.Users())
	case segs[0] == "users" && len(segs) >= 3:
		return s.adminUserData(w, r, segs[1], segs[2:])
	case route == "GET faults" && len(segs) == 1:
		writeJSON(w, http.StatusOK, s.CurrentFaults())
	case (route == "PUT faults" || route == "POST faults") && len(segs) == 1:
		var f Faults
		if err := readJSON(r, &f); err != nil {
			return err
		}
		if f.ErrorRate < 0 || f.ErrorRate > 1 || f.Latency < 0 || f.Latency > time.Minute {
			return errors.New("errorRate must be in [0,1] and latency in [0,1m]")
		}
		s.SetFaults(f)
		writeJSON(w, http.StatusOK, f)
	case route == "POST tokens" && len(segs) == 2 && segs[1] == "expire":
		s.ExpireAllTokens()
		w.WriteHeader(http.StatusNoContent)
	case route == "POST delta" && len(segs) == 2 && segs[1] == "invalidate":
		s.InvalidateDeltaTokens()
		w.WriteHeader(http.StatusNoContent)
	default:
		return &apiError{status: http.StatusNotFound, code: "NotFound", msg: errNoRoute.Error()}
	}
	return nil
}

func (s *Server) adminUserData(w http.ResponseWriter, r *http.Request, uid string, rest []string) error {
	kind := rest[0]
	switch {
	case kind == "contactFolders" && len(rest) == 1 && r.Method == http.MethodPost:
		var body struct {
			DisplayName string `json:"displayName"`
		}
		if err := readJSON(r, &body); err != nil {
			return err
		}
		id, err := s.AddContactFolder(uid, body.DisplayName)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, map[string]string{"id": id, "displayName": body.DisplayName})
		return nil
	case (kind == "contacts" || kind == "events") && len(rest) == 1:
		switch r.Method {
		case http.MethodGet:
			var list []map[string]any
			var err error
			if kind == "contacts" {
				list, err = s.Contacts(uid)
			} else {
				list, err = s.Events(uid)
			}
			if err != nil {
				return err
			}
			if list == nil {
				list = []map[string]any{}
			}
			writeJSON(w, http.StatusOK, list)
			return nil
		case http.MethodPost:
			var body map[string]any
			if err := readJSON(r, &body); err != nil {
				return err
			}
			var m map[string]any
			var err error
			if kind == "contacts" {
				m, err = s.AddContact(uid, r.URL.Query().Get("folder"), body)
			} else {
				m, err = s.AddEvent(uid, body)
			}
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusCreated, m)
			return nil
		}
	case (kind == "contacts" || kind == "events") && len(rest) == 2:
		id := rest[1]
		switch r.Method {
		case http.MethodPatch:
			var body map[string]any
			if err := readJSON(r, &body); err != nil {
				return err
			}
			var m map[string]any
			var err error
			if kind == "contacts" {
				m, err = s.UpdateContact(uid, id, body)
			} else {
				m, err = s.UpdateEvent(uid, id, body)
			}
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, m)
			return nil
		case http.MethodDelete:
			var err error
			if kind == "contacts" {
				err = s.DeleteContact(uid, id)
			} else {
				err = s.DeleteEvent(uid, id)
			}
			if err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
	}
	return &apiError{status: http.StatusNotFound, code: "NotFound", msg: errNoRoute.Error()}
}
