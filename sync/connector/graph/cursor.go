package graph

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

// A cursor is the @odata.deltaLink of the last complete round, exactly as
// Graph returned it, with a fragment that binds it to what it was made for:
//
//	https://graph.microsoft.com/v1.0/users/{u}/calendarView/delta?$deltatoken=…#k=events&u=3f2a…&ws=2026-01-01T00:00:00Z&we=2027-01-01T00:00:00Z
//
// k is the kind, u the first 16 hex digits of SHA-256 of the lower-cased
// user (not the address itself), ws/we the calendar window (events only).
// A fragment is never sent in a request, so the link is used as is. The
// deltaLink carries Graph's $deltatoken, a sync-state handle and not a
// credential; the whole link is kept because the token alone does not say
// which folder it belongs to.
type cursor struct {
	link   *url.URL // without the fragment
	kind   model.Kind
	user   string
	ws, we time.Time
}

func userTag(user string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(user))))
	return hex.EncodeToString(sum[:8])
}

func makeCursor(deltaLink string, s connector.Scope) string {
	v := url.Values{}
	v.Set("k", string(s.Kind))
	v.Set("u", userTag(s.User))
	if s.Kind == model.Events {
		v.Set("ws", s.WindowStart.UTC().Format(time.RFC3339))
		v.Set("we", s.WindowEnd.UTC().Format(time.RFC3339))
	}
	link := deltaLink
	if i := strings.IndexByte(link, '#'); i >= 0 {
		link = link[:i]
	}
	return link + "#" + v.Encode()
}

var errBadCursor = errors.New("graph: cursor is not a delta link of this connector")

// parseCursor checks a stored cursor: a deltaLink under the base URL, made
// for this user and kind. A cursor that fails any check is no longer valid
// (ErrResync), never followed.
func (c *Connector) parseCursor(raw string, s connector.Scope) (*cursor, error) {
	u, ok := c.underBase(raw)
	if !ok {
		return nil, errBadCursor
	}
	frag, err := url.ParseQuery(u.EscapedFragment())
	if err != nil {
		return nil, errBadCursor
	}
	u.Fragment, u.RawFragment = "", ""
	if u.Query().Get("$deltatoken") == "" {
		return nil, errBadCursor
	}
	cur := &cursor{link: u, kind: model.Kind(frag.Get("k")), user: frag.Get("u")}
	if cur.kind != s.Kind || cur.user != userTag(s.User) {
		return nil, errBadCursor
	}
	if s.Kind == model.Events {
		ws, err1 := time.Parse(time.RFC3339, frag.Get("ws"))
		we, err2 := time.Parse(time.RFC3339, frag.Get("we"))
		if err1 != nil || err2 != nil {
			return nil, errBadCursor
		}
		cur.ws, cur.we = ws, we
	}
	return cur, nil
}

// sameWindow reports whether the cursor was made for the scope's window
// (to the second, as it is stored).
func (cur *cursor) sameWindow(s connector.Scope) bool {
	return cur.ws.Equal(s.WindowStart.UTC().Truncate(time.Second)) && cur.we.Equal(s.WindowEnd.UTC().Truncate(time.Second))
}
