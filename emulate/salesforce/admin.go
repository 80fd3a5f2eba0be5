package salesforce

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Seed creates a record of object type obj owned by the user with the given
// username ("" for the first user found, or none), as if that user had
// created it through the API. It returns the new id.
func (s *Server) Seed(username, obj string, fields map[string]any) (string, error) {
	sc, ok := schemaFor(obj)
	if !ok {
		return "", fmt.Errorf("salesforce: unknown object %q", obj)
	}
	// Seeding waits for a running composite call, whose allOrNone rollback
	// would otherwise take the seeded record with it.
	s.tx.RLock()
	defer s.tx.RUnlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	var u *User
	if username != "" {
		if u = s.users[strings.ToLower(username)]; u == nil {
			return "", fmt.Errorf("salesforce: unknown user %q", username)
		}
	}
	// Round-trip through JSON so Go callers may pass time.Time and ints.
	b, err := json.Marshal(fields)
	if err != nil {
		return "", fmt.Errorf("salesforce: seed %s: %w", obj, err)
	}
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		return "", fmt.Errorf("salesforce: seed %s: %w", obj, err)
	}
	id, oe := s.createLocked(u, sc, body)
	if oe != nil {
		return "", fmt.Errorf("salesforce: seed %s: %w", obj, oe)
	}
	return id, nil
}

// Record is a stored record as the admin API lists it.
type Record struct {
	ID      string         `json:"id"`
	Type    string         `json:"type"`
	Deleted bool           `json:"deleted"`
	Fields  map[string]any `json:"fields"`
}

// Records lists every record of obj, deleted ones included, in creation order.
func (s *Server) Records(obj string) ([]Record, error) {
	sc, ok := schemaFor(obj)
	if !ok {
		return nil, fmt.Errorf("salesforce: unknown object %q", obj)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.objects[strings.ToLower(sc.name)]
	out := make([]Record, 0, len(st.order))
	for _, id := range st.order {
		r := st.records[id]
		f := map[string]any{}
		for k, v := range r.fields {
			fl, _ := sc.field(k)
			f[k] = render(fl, v)
		}
		out = append(out, Record{ID: id, Type: sc.name, Deleted: r.deleted(), Fields: f})
	}
	return out, nil
}

// SetFaults replaces the fault switches.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// SetAPILimit changes the daily allocation; usage is kept.
func (s *Server) SetAPILimit(n int) {
	s.mu.Lock()
	s.apiLimit = n
	s.mu.Unlock()
}

// ExhaustAPILimit uses up the rest of the current allocation.
func (s *Server) ExhaustAPILimit() {
	s.mu.Lock()
	s.apiUsed = s.apiLimit
	s.mu.Unlock()
}

// APIUsage reports calls counted in the current window and the allocation.
func (s *Server) APIUsage() (used, limit int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apiUsed, s.apiLimit
}

// Admin returns the JSON admin API (mounted by the caller at
// /_emulator/salesforce/, prefix stripped):
//
//	POST /apps      {"name","consumer_key","certificate_pem","pre_approved":[...]}
//	POST /users     {"username","id"?}                     -> {"id"}
//	GET  /users
//	POST /records/{Object}?as=username  {field: value}     -> {"id"}
//	GET  /records/{Object}
//	POST /faults    {"latency_ms","fail_5xx","status_5xx","api_limit","exhaust_api_limit","expire_sessions"}
//	GET  /usage                                             -> {"used","limit"}
func (s *Server) Admin() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /apps", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Name           string   `json:"name"`
			ConsumerKey    string   `json:"consumer_key"`
			CertificatePEM string   `json:"certificate_pem"`
			PreApproved    []string `json:"pre_approved"`
		}
		if !decodeAdmin(w, r, &in) {
			return
		}
		if err := s.AddConnectedApp(ConnectedApp{Name: in.Name, ConsumerKey: in.ConsumerKey, CertificatePEM: in.CertificatePEM, PreApproved: in.PreApproved}); err != nil {
			adminError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]string{"consumer_key": in.ConsumerKey})
	})
	mux.HandleFunc("POST /users", func(w http.ResponseWriter, r *http.Request) {
		var in User
		if !decodeAdmin(w, r, &in) {
			return
		}
		id, err := s.AddUser(in)
		if err != nil {
			adminError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]string{"id": id})
	})
	mux.HandleFunc("GET /users", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		out := []User{}
		for _, u := range s.users {
			out = append(out, *u)
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("POST /records/{object}", func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		if !decodeAdmin(w, r, &in) {
			return
		}
		id, err := s.Seed(r.URL.Query().Get("as"), r.PathValue("object"), in)
		if err != nil {
			adminError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]string{"id": id})
	})
	mux.HandleFunc("GET /records/{object}", func(w http.ResponseWriter, r *http.Request) {
		recs, err := s.Records(r.PathValue("object"))
		if err != nil {
			adminError(w, http.StatusNotFound, err)
			return
		}
		writeJSON(w, http.StatusOK, recs)
	})
	mux.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			LatencyMS       int  `json:"latency_ms"`
			Fail5xx         int  `json:"fail_5xx"`
			Status5xx       int  `json:"status_5xx"`
			APILimit        int  `json:"api_limit"`
			ExhaustAPILimit bool `json:"exhaust_api_limit"`
			ExpireSessions  bool `json:"expire_sessions"`
		}
		if !decodeAdmin(w, r, &in) {
			return
		}
		if in.LatencyMS < 0 || in.Fail5xx < 0 || in.APILimit < 0 {
			adminError(w, http.StatusBadRequest, errors.New("negative values are not allowed"))
			return
		}
		s.SetFaults(Faults{Latency: time.Duration(in.LatencyMS) * time.Millisecond, Fail5xx: in.Fail5xx, Status5xx: in.Status5xx})
		if in.APILimit > 0 {
			s.SetAPILimit(in.APILimit)
		}
		if in.ExhaustAPILimit {
			s.ExhaustAPILimit()
		}
		if in.ExpireSessions {
			s.ExpireSessions()
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /usage", func(w http.ResponseWriter, r *http.Request) {
		used, limit := s.APIUsage()
		writeJSON(w, http.StatusOK, map[string]int{"used": used, "limit": limit})
	})
	return mux
}

func decodeAdmin(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<20))
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		adminError(w, http.StatusBadRequest, fmt.Errorf("bad JSON body: %w", err))
		return false
	}
	return true
}

func adminError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}
