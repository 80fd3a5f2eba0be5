package microsoft

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"
)

// Delta queries keep their sync state on the server, as Exchange does: a
// delta token names a snapshot (item id -> change key) of the collection
// at the end of a round, and a skip token names a page of a round in
// progress. A round's answers are frozen when it starts, so paging is
// stable; anything changed meanwhile shows up in the next round.

type syncState struct {
	user, kind, scope string
	ws, we            time.Time
	snapshot          map[string]string
	sel               []string
	created           time.Time
	round             string // the round that produced it
}

type deltaRound struct {
	user, kind, scope string
	ws, we            time.Time
	entries           []deltaEntry
	newSnapshot       map[string]string
	sel               []string
	pageSize          int
	created           time.Time
	finalState        string
}

type deltaEntry struct {
	id      string
	removed string // "", "deleted" or "changed"
	body    map[string]any
}

const (
	tokDelta = 'D'
	tokSkip  = 'S'
	tokIDLen = 16
)

var errBadToken = errors.New("malformed sync token")

func newTokenID() string {
	var b [tokIDLen]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func encodeToken(kind byte, id string, offset int) string {
	raw, _ := hex.DecodeString(id)
	b := append([]byte{kind}, raw...)
	if kind == tokSkip {
		b = binary.BigEndian.AppendUint32(b, uint32(offset))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeToken parses a $deltatoken or $skiptoken value this server made.
func decodeToken(s string) (kind byte, id string, offset int, err error) {
	if len(s) > 128 {
		return 0, "", 0, errBadToken
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) < 1+tokIDLen {
		return 0, "", 0, errBadToken
	}
	kind = b[0]
	id = hex.EncodeToString(b[1 : 1+tokIDLen])
	rest := b[1+tokIDLen:]
	switch {
	case kind == tokDelta && len(rest) == 0:
		return kind, id, 0, nil
	case kind == tokSkip && len(rest) == 4:
		off := binary.BigEndian.Uint32(rest)
		if off > 1<<24 {
			return 0, "", 0, errBadToken
		}
		return kind, id, int(off), nil
	}
	return 0, "", 0, errBadToken
}

func errGone(code, msg string) *apiError {
	return &apiError{http.StatusGone, code, msg}
}

// deltaRequest describes the collection a delta call is about.
type deltaRequest struct {
	kind, scope string
	ws, we      time.Time // calendarView window; zero for contacts
	typeName    string    // contact | event
	current     func(ws, we time.Time) []instance
	known       map[string]bool
}

// serveDeltaLocked answers one delta call: the first page of a new round
// (no token, or a delta token) or a further page (skip token).
func (s *Server) serveDeltaLocked(w http.ResponseWriter, r *http.Request, u *user, dr deltaRequest, now time.Time) *apiError {
	q := r.URL.Query()
	s.pruneDeltaLocked(now)
	var rd *deltaRound
	var rid string
	offset := 0
	switch {
	case q.Get("$skiptoken") != "":
		kind, id, off, err := decodeToken(q.Get("$skiptoken"))
		if err != nil || kind != tokSkip {
			return errGone("SyncStateInvalid", "The sync state is invalid; start a new synchronization without a token.")
		}
		rd = s.rounds[id]
		if rd != nil && now.Sub(rd.created) > s.opts.DeltaTokenTTL {
			delete(s.rounds, id)
			rd = nil
		}
		if rd == nil || rd.user != u.ID || rd.kind != dr.kind || rd.scope != dr.scope || off > len(rd.entries) {
			return errGone("SyncStateNotFound", "The sync state generation is not found; start a new synchronization without a token.")
		}
		rid, offset = id, off
	case q.Get("$deltatoken") != "":
		kind, id, _, err := decodeToken(q.Get("$deltatoken"))
		if err != nil || kind != tokDelta {
			return errGone("SyncStateInvalid", "The sync state is invalid; start a new synchronization without a token.")
		}
		st := s.states[id]
		if st != nil && now.Sub(st.created) > s.opts.DeltaTokenTTL {
			delete(s.states, id)
			st = nil
		}
		if st == nil || st.user != u.ID || st.kind != dr.kind || st.scope != dr.scope {
			return errGone("SyncStateNotFound", "The sync state generation is not found; start a new synchronization without a token.")
		}
		// The client holds this round's deltaLink, so it will not page the
		// round that produced it again: free the frozen pages.
		delete(s.rounds, st.round)
		rd, rid = s.startRoundLocked(u, dr, st.ws, st.we, st.snapshot, st.sel, now), ""
	default:
		sel, err := parseSelect(q.Get("$select"), dr.known, "microsoft.graph."+dr.typeName)
		if err != nil {
			return errBadRequest("BadRequest", err.Error())
		}
		rd = s.startRoundLocked(u, dr, dr.ws, dr.we, nil, sel, now)
	}
	if rid == "" {
		rid = newTokenID()
		s.rounds[rid] = rd
	}
	pageSize := parseMaxPageSize(r.Header)
	applied := pageSize > 0
	if pageSize > 0 {
		rd.pageSize = pageSize
	}
	if rd.pageSize <= 0 {
		rd.pageSize = s.opts.DefaultPageSize
	}
	end := min(offset+rd.pageSize, len(rd.entries))
	value := make([]any, 0, end-offset)
	for _, e := range rd.entries[offset:end] {
		if e.removed != "" {
			value = append(value, map[string]any{
				"@odata.type": "#microsoft.graph." + dr.typeName,
				"id":          e.id,
				"@removed":    map[string]any{"reason": e.removed},
			})
			continue
		}
		value = append(value, applySelect(e.body, rd.sel))
	}
	link := url.URL{Scheme: "https", Host: GraphHost, Path: r.URL.Path}
	resp := map[string]any{
		"@odata.context": "https://" + GraphHost + "/v1.0/$metadata#Collection(" + dr.typeName + ")",
		"value":          value,
	}
	if end < len(rd.entries) {
		link.RawQuery = "$skiptoken=" + encodeToken(tokSkip, rid, end)
		resp["@odata.nextLink"] = link.String()
	} else {
		if rd.finalState == "" {
			rd.finalState = newTokenID()
			s.states[rd.finalState] = &syncState{user: rd.user, kind: rd.kind, scope: rd.scope, ws: rd.ws, we: rd.we,
				snapshot: rd.newSnapshot, sel: rd.sel, created: now, round: rid}
		}
		link.RawQuery = "$deltatoken=" + encodeToken(tokDelta, rd.finalState, 0)
		resp["@odata.deltaLink"] = link.String()
	}
	pa := "odata.track-changes"
	if applied {
		pa += ", odata.maxpagesize=" + strconv.Itoa(rd.pageSize)
	}
	w.Header().Set("Preference-Applied", pa)
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// startRoundLocked diffs the collection against base and freezes the answer.
func (s *Server) startRoundLocked(u *user, dr deltaRequest, ws, we time.Time, base map[string]string, sel []string, now time.Time) *deltaRound {
	cur := dr.current(ws, we)
	rd := &deltaRound{user: u.ID, kind: dr.kind, scope: dr.scope, ws: ws, we: we, sel: sel, created: now,
		newSnapshot: make(map[string]string, len(cur))}
	for _, in := range cur {
		rd.newSnapshot[in.id] = in.ck
		if old, ok := base[in.id]; ok && old == in.ck {
			continue
		}
		rd.entries = append(rd.entries, deltaEntry{id: in.id, body: in.body()})
	}
	var gone []string
	for id := range base {
		if _, ok := rd.newSnapshot[id]; !ok {
			gone = append(gone, id)
		}
	}
	sort.Strings(gone)
	for _, id := range gone {
		reason := "deleted"
		if u.stillExists(id) {
			reason = "changed" // it exists but has left this view (window or folder)
		}
		rd.entries = append(rd.entries, deltaEntry{id: id, removed: reason})
	}
	return rd
}

func (u *user) stillExists(id string) bool {
	if u.contacts[id] != nil || u.events[id] != nil {
		return true
	}
	if mid, t, ok := splitOccurrenceID(id); ok {
		m := u.events[mid]
		return m != nil && m.typ == "seriesMaster" && !m.cancelled[t.Unix()] && m.isOccurrence(t)
	}
	return false
}

// pruneDeltaLocked forgets sync states and rounds older than the TTL; a
// token naming one then answers 410, as an expired Graph delta token does.
// Lookups check the TTL themselves; pruning only bounds memory, so it runs
// when the tables have doubled since the last pass (amortised O(1)).
func (s *Server) pruneDeltaLocked(now time.Time) {
	if len(s.states)+len(s.rounds) < s.deltaPruneAt {
		return
	}
	defer func() { s.deltaPruneAt = max(pruneFloor, 2*(len(s.states)+len(s.rounds))) }()
	for id, st := range s.states {
		if now.Sub(st.created) > s.opts.DeltaTokenTTL {
			delete(s.states, id)
		}
	}
	for id, rd := range s.rounds {
		if now.Sub(rd.created) > s.opts.DeltaTokenTTL {
			delete(s.rounds, id)
		}
	}
}
