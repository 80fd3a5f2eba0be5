package google

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

// A cursor is Google's nextSyncToken of the last complete listing, bound to
// what it was made for:
//
//	google:v1?k=events&u=3f2a…&ws=2026-11-01T00:00:00Z&we=2027-03-01T00:00:00Z&f=…&t=<nextSyncToken>
//
// k is the kind, u the first 16 hex digits of SHA-256 of the lower-cased
// user (not the address), ws/we the calendar window (events only), f a
// hash of the request shape the token was obtained with (personFields, or
// singleEvents/showDeleted), t the token itself: an opaque position in the
// user's change history, not a credential.
const cursorPrefix = "google:v1?"

type cursor struct {
	kind   model.Kind
	user   string
	shape  string
	ws, we time.Time
	token  string
}

func userTag(user string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(user))))
	return hex.EncodeToString(sum[:8])
}

// shapeTag hashes the parameters that must be the same for every request of
// a sync chain; a cursor made with other ones is listed afresh.
func shapeTag(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:6])
}

func makeCursor(token, shape string, s connector.Scope) string {
	if token == "" {
		return ""
	}
	v := url.Values{}
	v.Set("k", string(s.Kind))
	v.Set("u", userTag(s.User))
	if s.Kind == model.Events {
		v.Set("ws", s.WindowStart.UTC().Truncate(time.Second).Format(time.RFC3339))
		v.Set("we", s.WindowEnd.UTC().Truncate(time.Second).Format(time.RFC3339))
	}
	v.Set("f", shape)
	v.Set("t", token)
	return cursorPrefix + v.Encode()
}

var errBadCursor = errors.New("google: cursor is not a sync token of this connector for this user and kind")

// parseCursor checks a stored cursor. One that is not this connector's, or
// was made for another user or kind, is not used: ErrResync.
func parseCursor(raw string, s connector.Scope) (*cursor, error) {
	rest, ok := strings.CutPrefix(raw, cursorPrefix)
	if !ok {
		return nil, errBadCursor
	}
	v, err := url.ParseQuery(rest)
	if err != nil {
		return nil, errBadCursor
	}
	cur := &cursor{kind: model.Kind(v.Get("k")), user: v.Get("u"), shape: v.Get("f"), token: v.Get("t")}
	if cur.kind != s.Kind || cur.user != userTag(s.User) || cur.token == "" || len(cur.token) > 8192 {
		return nil, errBadCursor
	}
	if s.Kind == model.Events {
		ws, err1 := time.Parse(time.RFC3339, v.Get("ws"))
		we, err2 := time.Parse(time.RFC3339, v.Get("we"))
		if err1 != nil || err2 != nil {
			return nil, errBadCursor
		}
		cur.ws, cur.we = ws, we
	}
	return cur, nil
}

// fits reports whether the cursor was made for the scope's window (events)
// and with the current request shape; if not, the connector lists afresh.
func (cur *cursor) fits(s connector.Scope, shape string) bool {
	if cur.shape != shape {
		return false
	}
	if s.Kind != model.Events {
		return true
	}
	return cur.ws.Equal(s.WindowStart.UTC().Truncate(time.Second)) && cur.we.Equal(s.WindowEnd.UTC().Truncate(time.Second))
}

func resyncCursor(err error) error {
	return errors.Join(connector.ErrResync, err)
}
