package ews

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

// AddServiceAccount registers (or replaces) a Basic-auth service account.
func (s *Server) AddServiceAccount(username, password string) error {
	if username == "" || password == "" {
		return errors.New("ews: service account needs a username and a password")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accounts[strings.ToLower(username)] = &account{username: username, password: password, grants: map[string]bool{}}
	return nil
}

// AddMailbox creates a mailbox with empty contacts and calendar folders.
func (s *Server) AddMailbox(smtp, displayName string) error {
	if !strings.Contains(smtp, "@") {
		return fmt.Errorf("ews: %q is not an SMTP address", smtp)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(smtp)
	if s.mailboxes[key] != nil {
		return fmt.Errorf("ews: mailbox %s already exists", smtp)
	}
	mb := &mailbox{smtp: smtp, name: displayName, folders: map[string]*folder{}}
	mb.folders["contacts"] = &folder{id: newFolderID(), name: "contacts", class: "Contact", mbox: mb, items: map[string]*item{}}
	mb.folders["calendar"] = &folder{id: newFolderID(), name: "calendar", class: "CalendarItem", mbox: mb, items: map[string]*item{}}
	s.mailboxes[key] = mb
	return nil
}

// GrantImpersonation lets account impersonate smtp; "*" grants every
// mailbox (the ApplicationImpersonation role with an organisation scope).
func (s *Server) GrantImpersonation(username, smtp string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[strings.ToLower(username)]
	if a == nil {
		return fmt.Errorf("ews: unknown service account %q", username)
	}
	if smtp == "*" {
		a.impersonateAll = true
		return nil
	}
	a.grants[strings.ToLower(smtp)] = true
	return nil
}

// RevokeImpersonation removes a grant made by GrantImpersonation.
func (s *Server) RevokeImpersonation(username, smtp string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.accounts[strings.ToLower(username)]; a != nil {
		if smtp == "*" {
			a.impersonateAll = false
		}
		delete(a.grants, strings.ToLower(smtp))
	}
}

// Contact is a contact as seeded by tests.
type Contact struct {
	GivenName   string            `json:"given_name,omitempty"`
	Surname     string            `json:"surname,omitempty"`
	CompanyName string            `json:"company_name,omitempty"`
	DisplayName string            `json:"display_name,omitempty"`
	JobTitle    string            `json:"job_title,omitempty"`
	Emails      map[string]string `json:"emails,omitempty"` // EmailAddress1..3
	Phones      map[string]string `json:"phones,omitempty"` // BusinessPhone, MobilePhone, ...
}

// CalendarItem is a single appointment as seeded by tests.
type CalendarItem struct {
	Subject       string    `json:"subject"`
	Location      string    `json:"location,omitempty"`
	Body          string    `json:"body,omitempty"`
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"`
	IsAllDayEvent bool      `json:"is_all_day_event,omitempty"`
	Sensitivity   string    `json:"sensitivity,omitempty"`
	Attendees     []string  `json:"attendees,omitempty"`
}

func (c Contact) patch() (*itemPatch, error) {
	p := &itemPatch{props: map[string]string{}, emails: c.Emails, phones: c.Phones}
	for _, kv := range [][2]string{{"DisplayName", c.DisplayName}, {"GivenName", c.GivenName}, {"CompanyName", c.CompanyName}, {"JobTitle", c.JobTitle}, {"Surname", c.Surname}} {
		if kv[1] != "" {
			p.set = append(p.set, kv[0])
			p.props[kv[0]] = kv[1]
		}
	}
	for k := range c.Emails {
		if !emailKeys[k] {
			return nil, fmt.Errorf("ews: bad email key %q", k)
		}
	}
	for k := range c.Phones {
		if !phoneKeys[k] {
			return nil, fmt.Errorf("ews: bad phone key %q", k)
		}
	}
	if len(c.Emails) > 0 {
		p.set = append(p.set, "EmailAddresses")
	}
	if len(c.Phones) > 0 {
		p.set = append(p.set, "PhoneNumbers")
	}
	return p, nil
}

func (c CalendarItem) patch() (*itemPatch, error) {
	p := &itemPatch{props: map[string]string{
		"Subject": c.Subject, "Start": c.Start.UTC().Format(ewsTime), "End": c.End.UTC().Format(ewsTime),
		"IsAllDayEvent": fmt.Sprint(c.IsAllDayEvent),
	}, set: []string{"Subject", "Start", "End", "IsAllDayEvent"}, attendees: c.Attendees}
	if c.Location != "" {
		p.set, p.props["Location"] = append(p.set, "Location"), c.Location
	}
	if c.Body != "" {
		p.set, p.props["Body"], p.bodyType = append(p.set, "Body"), c.Body, "Text"
	}
	if c.Sensitivity != "" {
		if !slices.Contains(enumValues["Sensitivity"], c.Sensitivity) {
			return nil, fmt.Errorf("ews: bad sensitivity %q", c.Sensitivity)
		}
		p.set, p.props["Sensitivity"] = append(p.set, "Sensitivity"), c.Sensitivity
	}
	if len(c.Attendees) > 0 {
		p.set = append(p.set, "RequiredAttendees")
	}
	return p, nil
}

func (s *Server) seed(smtp, folderName, class string, p *itemPatch) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.mailboxes[strings.ToLower(smtp)]
	if mb == nil {
		return "", fmt.Errorf("ews: no mailbox %s", smtp)
	}
	it, err := s.newItemLocked(mb.folders[folderName], class, p)
	if err != nil {
		return "", fmt.Errorf("ews: seed %s: %w", class, err)
	}
	return it.id, nil
}

// AddContact stores a contact in smtp's contacts folder, as if the user had
// created it in Outlook, and returns its item id.
func (s *Server) AddContact(smtp string, c Contact) (string, error) {
	p, err := c.patch()
	if err != nil {
		return "", err
	}
	return s.seed(smtp, "contacts", "Contact", p)
}

// AddCalendarItem stores an appointment in smtp's calendar.
func (s *Server) AddCalendarItem(smtp string, c CalendarItem) (string, error) {
	p, err := c.patch()
	if err != nil {
		return "", err
	}
	return s.seed(smtp, "calendar", "CalendarItem", p)
}

// EditItem changes simple properties of an item as the mailbox owner would
// (new ChangeKey, reported by SyncFolderItems as an Update).
func (s *Server) EditItem(id string, props map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.itemsByID[id]
	if it == nil {
		return fmt.Errorf("ews: no item %s", truncate(id, 20))
	}
	next := cloneItem(it)
	for k, v := range props {
		if !slices.Contains(orderFor(it.class), k) || readOnlyProps[k] || k == "EmailAddresses" || k == "PhoneNumbers" || k == "RequiredAttendees" {
			return fmt.Errorf("ews: property %s cannot be edited", k)
		}
		next.props[k] = v
	}
	if err := validateItem(next); err != nil {
		return fmt.Errorf("ews: edit: %w", err)
	}
	it.props = next.props
	s.touchLocked(it)
	return nil
}

// RemoveItem deletes an item as the mailbox owner would.
func (s *Server) RemoveItem(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.itemsByID[id]
	if it == nil {
		return fmt.Errorf("ews: no item %s", truncate(id, 20))
	}
	s.deleteItemLocked(it)
	return nil
}

// ItemInfo is an item as the admin API lists it.
type ItemInfo struct {
	ID        string            `json:"id"`
	ChangeKey string            `json:"change_key"`
	Class     string            `json:"class"`
	Folder    string            `json:"folder"`
	Deleted   bool              `json:"deleted"`
	Props     map[string]string `json:"props"`
	Emails    map[string]string `json:"emails,omitempty"`
	Phones    map[string]string `json:"phones,omitempty"`
	Attendees []string          `json:"attendees,omitempty"`
}

// Items lists a mailbox folder ("contacts" or "calendar"), tombstones
// included, oldest first.
func (s *Server) Items(smtp, folderName string) ([]ItemInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.mailboxes[strings.ToLower(smtp)]
	if mb == nil {
		return nil, fmt.Errorf("ews: no mailbox %s", smtp)
	}
	f := mb.folders[folderName]
	if f == nil {
		return nil, fmt.Errorf("ews: no folder %s", folderName)
	}
	out := []ItemInfo{}
	for _, it := range f.items {
		c := cloneItem(it)
		out = append(out, ItemInfo{ID: it.id, ChangeKey: it.changeKey, Class: it.class, Folder: folderName, Deleted: it.deleted,
			Props: c.props, Emails: c.emails, Phones: c.phones, Attendees: c.attendees})
	}
	sort.Slice(out, func(i, j int) bool { return f.items[out[i].ID].createdSeq < f.items[out[j].ID].createdSeq })
	return out, nil
}

// Invitations returns the meeting messages "sent" so far.
func (s *Server) Invitations() []Invitation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.invitations)
}

// SetFaults replaces the fault switches.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// InvalidateSyncStates makes every SyncState issued so far invalid, as
// after a mailbox move; clients must resynchronise from scratch.
func (s *Server) InvalidateSyncStates() {
	s.mu.Lock()
	s.generation++
	s.mu.Unlock()
}

// Admin returns the JSON admin API (mounted at /_emulator/ews/):
//
//	POST /accounts     {"username","password"}
//	POST /mailboxes    {"smtp","display_name"}
//	GET  /mailboxes
//	POST /grants       {"username","smtp"}            ("*" = every mailbox)
//	POST /mailboxes/{smtp}/contacts   Contact           -> {"id"}
//	POST /mailboxes/{smtp}/calendar   CalendarItem      -> {"id"}
//	GET  /mailboxes/{smtp}/{folder}
//	GET  /invitations
//	POST /faults       {"latency_ms","server_busy","backoff_ms","invalidate_sync_states"}
func (s *Server) Admin() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /accounts", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Username, Password string }
		if decodeAdmin(w, r, &in) {
			adminResult(w, nil, s.AddServiceAccount(in.Username, in.Password))
		}
	})
	mux.HandleFunc("POST /mailboxes", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			SMTP        string `json:"smtp"`
			DisplayName string `json:"display_name"`
		}
		if decodeAdmin(w, r, &in) {
			adminResult(w, nil, s.AddMailbox(in.SMTP, in.DisplayName))
		}
	})
	mux.HandleFunc("GET /mailboxes", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		out := []string{}
		for _, mb := range s.mailboxes {
			out = append(out, mb.smtp)
		}
		s.mu.Unlock()
		sort.Strings(out)
		writeAdminJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("POST /grants", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Username, SMTP string }
		if decodeAdmin(w, r, &in) {
			adminResult(w, nil, s.GrantImpersonation(in.Username, in.SMTP))
		}
	})
	mux.HandleFunc("POST /mailboxes/{smtp}/contacts", func(w http.ResponseWriter, r *http.Request) {
		var in Contact
		if decodeAdmin(w, r, &in) {
			id, err := s.AddContact(r.PathValue("smtp"), in)
			adminResult(w, map[string]string{"id": id}, err)
		}
	})
	mux.HandleFunc("POST /mailboxes/{smtp}/calendar", func(w http.ResponseWriter, r *http.Request) {
		var in CalendarItem
		if decodeAdmin(w, r, &in) {
			id, err := s.AddCalendarItem(r.PathValue("smtp"), in)
			adminResult(w, map[string]string{"id": id}, err)
		}
	})
	mux.HandleFunc("GET /mailboxes/{smtp}/{folder}", func(w http.ResponseWriter, r *http.Request) {
		items, err := s.Items(r.PathValue("smtp"), r.PathValue("folder"))
		if err != nil {
			writeAdminJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
			return
		}
		writeAdminJSON(w, http.StatusOK, items)
	})
	mux.HandleFunc("GET /invitations", func(w http.ResponseWriter, r *http.Request) {
		writeAdminJSON(w, http.StatusOK, s.Invitations())
	})
	mux.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			LatencyMS            int  `json:"latency_ms"`
			ServerBusy           int  `json:"server_busy"`
			BackOffMS            int  `json:"backoff_ms"`
			InvalidateSyncStates bool `json:"invalidate_sync_states"`
		}
		if !decodeAdmin(w, r, &in) {
			return
		}
		if in.LatencyMS < 0 || in.ServerBusy < 0 || in.BackOffMS < 0 {
			writeAdminJSON(w, http.StatusBadRequest, map[string]string{"error": "negative values are not allowed"})
			return
		}
		s.SetFaults(Faults{Latency: time.Duration(in.LatencyMS) * time.Millisecond, ServerBusy: in.ServerBusy, BackOff: time.Duration(in.BackOffMS) * time.Millisecond})
		if in.InvalidateSyncStates {
			s.InvalidateSyncStates()
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

func decodeAdmin(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<20))
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		writeAdminJSON(w, http.StatusBadRequest, map[string]string{"error": "bad JSON body: " + err.Error()})
		return false
	}
	return true
}

func adminResult(w http.ResponseWriter, ok any, err error) {
	if err != nil {
		writeAdminJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if ok == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeAdminJSON(w, http.StatusCreated, ok)
}

func writeAdminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
