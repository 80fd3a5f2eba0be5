package google

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"

	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/people/v1"
)

// Admin returns the seeding, inspection and fault-injection API, meant to be
// mounted at /_emulator/google/ with the prefix stripped. It answers loopback
// clients only, even if the mount forgets to check.
//
//	GET    state                              domain, service accounts, users, faults
//	PUT    domain                             {"domain": "corp.example"}
//	GET    service-accounts | POST {ServiceAccount}
//	GET    users            | POST {"email": "..."}
//	GET    users/{email}/events   | POST {Calendar event}   | DELETE users/{email}/events/{id}
//	GET    users/{email}/contacts | POST {People person}    | DELETE users/{email}/contacts/{id}
//	GET    faults | PUT {Faults} | DELETE faults           (reset)
//	POST   expire-tokens
//	POST   invalidate-sync-tokens             {"user": "..."}  ("" = everyone)
func (s *Server) Admin() http.Handler { return http.HandlerFunc(s.serveAdmin) }

func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

type adminErr struct {
	Error string `json:"error"`
}

func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	if !isLoopback(r.RemoteAddr) {
		writeJSON(w, http.StatusForbidden, adminErr{"admin API is for loopback clients only"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	bad := func(code int, msg string) { writeJSON(w, code, adminErr{msg}) }
	decode := func(v any) bool {
		b, err := io.ReadAll(r.Body)
		if err == nil {
			err = json.Unmarshal(b, v)
		}
		if err != nil {
			bad(400, "request body: invalid JSON")
			return false
		}
		return true
	}
	route := r.Method + " " + segs[0]
	if segs[0] == "users" && len(segs) >= 3 {
		route = r.Method + " users/*/" + segs[2]
		if len(segs) == 4 {
			route += "/*"
		}
	} else if len(segs) > 1 {
		bad(404, "no such admin resource")
		return
	}
	switch route {
	case "GET state":
		writeJSON(w, 200, map[string]any{"domain": s.Domain(), "service_accounts": s.ServiceAccounts(), "users": s.Users(), "faults": s.Faults()})
	case "PUT domain":
		var body struct{ Domain string }
		if decode(&body) {
			if body.Domain == "" {
				bad(400, "domain is required")
				return
			}
			s.SetDomain(body.Domain)
			writeJSON(w, 200, map[string]string{"domain": s.Domain()})
		}
	case "GET service-accounts":
		writeJSON(w, 200, s.ServiceAccounts())
	case "POST service-accounts":
		var sa ServiceAccount
		if decode(&sa) {
			if err := s.AddServiceAccount(sa); err != nil {
				bad(400, err.Error())
				return
			}
			writeJSON(w, 201, map[string]string{"client_email": sa.ClientEmail})
		}
	case "GET users":
		writeJSON(w, 200, s.Users())
	case "POST users":
		var body struct{ Email string }
		if decode(&body) {
			if err := s.AddUser(body.Email); err != nil {
				bad(400, err.Error())
				return
			}
			writeJSON(w, 201, map[string]string{"email": strings.ToLower(body.Email)})
		}
	case "GET users/*/events":
		evs, err := s.Events(segs[1])
		if err != nil {
			bad(404, err.Error())
			return
		}
		writeJSON(w, 200, evs)
	case "POST users/*/events":
		var ev calendar.Event
		if decode(&ev) {
			out, err := s.PutEvent(segs[1], &ev)
			if err != nil {
				bad(400, err.Error())
				return
			}
			writeJSON(w, 201, out)
		}
	case "DELETE users/*/events/*":
		if err := s.DeleteEvent(segs[1], segs[3]); err != nil {
			bad(404, err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case "GET users/*/contacts":
		cs, err := s.Contacts(segs[1])
		if err != nil {
			bad(404, err.Error())
			return
		}
		writeJSON(w, 200, cs)
	case "POST users/*/contacts":
		var p people.Person
		if decode(&p) {
			out, err := s.PutContact(segs[1], &p)
			if err != nil {
				bad(400, err.Error())
				return
			}
			writeJSON(w, 201, out)
		}
	case "DELETE users/*/contacts/*":
		if err := s.DeleteContact(segs[1], "people/"+segs[3]); err != nil {
			bad(404, err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case "GET faults":
		writeJSON(w, 200, s.Faults())
	case "PUT faults":
		var f Faults
		if decode(&f) {
			if f.RateLimit != 0 && f.RateLimit != 403 && f.RateLimit != 429 {
				bad(400, "rate_limit must be 0, 403 or 429")
				return
			}
			if f.FailStatus != 0 && (f.FailStatus < 500 || f.FailStatus > 599) {
				bad(400, "fail_status must be a 5xx status")
				return
			}
			s.SetFaults(f)
			writeJSON(w, 200, s.Faults())
		}
	case "DELETE faults":
		s.SetFaults(Faults{})
		writeJSON(w, 200, s.Faults())
	case "POST expire-tokens":
		s.ExpireTokens()
		writeJSON(w, 200, map[string]bool{"expired": true})
	case "POST invalidate-sync-tokens":
		var body struct{ User string }
		if decode(&body) {
			if err := s.InvalidateSyncTokens(body.User); err != nil {
				bad(404, err.Error())
				return
			}
			writeJSON(w, 200, map[string]bool{"invalidated": true})
		}
	default:
		bad(404, "no such admin resource")
	}
}
