package google

import (
	"net/url"
	"slices"
	"strings"

	"google.golang.org/api/calendar/v3"
)

// Guest notifications. events.insert, events.patch, events.update and
// events.delete take sendUpdates (all | externalOnly | none) and the
// deprecated sendNotifications (default false): with "all" Google emails
// every guest of the event about the change, with "externalOnly" only
// guests outside Google Calendar, with "none" nobody
// (https://developers.google.com/calendar/api/v3/reference/events/insert,
// …/events/patch, …/events/delete, "sendUpdates"). The emulator sends no
// mail; it records each API write with its sendUpdates and the guests
// Google would have emailed, so tests can prove a client never notifies
// anyone.

// CalendarWrite is one write to a user's calendar through the API.
type CalendarWrite struct {
	Op          string   `json:"op"` // insert, patch, update, delete
	EventID     string   `json:"event_id"`
	SendUpdates string   `json:"send_updates"` // as sent; "" when absent
	Attendees   int      `json:"attendees"`    // attendees of the event after the write (before, for a delete)
	Notified    []string `json:"notified"`     // guests Google would have emailed
}

// maxWriteLog bounds the per-user write log (oldest entries go first).
const maxWriteLog = 10000

var sendUpdatesValues = []string{"all", "externalOnly", "none"}

// checkSendUpdates refuses an unknown sendUpdates value, as the API does
// for any enum parameter.
func checkSendUpdates(q url.Values) *apiError {
	if v := q.Get("sendUpdates"); v != "" && !slices.Contains(sendUpdatesValues, v) {
		return calParamErr(400, "invalid", "Invalid value for: sendUpdates", "sendUpdates")
	}
	if v := q.Get("sendNotifications"); v != "" {
		if _, e := parseBool(q, "sendNotifications"); e != nil {
			return e
		}
	}
	return nil
}

// noteWriteLocked records a write of ev by its owner u.
func (s *Server) noteWriteLocked(u *userData, op string, ev *calendar.Event, q url.Values) {
	if ev == nil {
		return
	}
	mode := q.Get("sendUpdates")
	if mode == "" {
		if b, _ := parseBool(q, "sendNotifications"); b {
			mode = "all"
		} else {
			mode = "none"
		}
	}
	w := CalendarWrite{Op: op, EventID: ev.Id, SendUpdates: q.Get("sendUpdates"), Attendees: len(ev.Attendees), Notified: []string{}}
	if mode != "none" {
		for _, a := range ev.Attendees {
			if a == nil || a.Self || a.Organizer || a.Resource {
				continue
			}
			email := strings.ToLower(strings.TrimSpace(a.Email))
			if email == "" || email == u.email {
				continue
			}
			if mode == "externalOnly" && s.users[email] != nil {
				continue // a guest on Google Calendar (a user of this emulator)
			}
			w.Notified = append(w.Notified, email)
		}
	}
	u.writes = append(u.writes, w)
	if len(u.writes) > maxWriteLog {
		u.writes = slices.Delete(u.writes, 0, len(u.writes)-maxWriteLog)
	}
}

// CalendarWrites returns the API writes to user's calendar, oldest first.
func (s *Server) CalendarWrites(user string) []CalendarWrite {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(user)
	if u == nil {
		return nil
	}
	out := make([]CalendarWrite, len(u.writes))
	for i, w := range u.writes {
		w.Notified = slices.Clone(w.Notified)
		out[i] = w
	}
	return out
}

// Notifications returns the guests Google would have emailed about API
// writes to user's calendar, in order (one entry per guest and write).
func (s *Server) Notifications(user string) []string {
	var out []string
	for _, w := range s.CalendarWrites(user) {
		out = append(out, w.Notified...)
	}
	return out
}
