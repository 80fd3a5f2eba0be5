package ews

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

// A cursor is the SyncState of the last complete SyncFolderItems round,
// exactly as Exchange returned it, bound to what it was made for:
//
//	ews1?f=contacts&k=contacts&s=H4sIAAAA…&u=3f2a9c…
//	ews1?f=calendar&k=events&s=…&u=…&we=2027-01-01T00:00:00Z&ws=2026-01-01T00:00:00Z
//
// f is the distinguished folder, k the kind, u the first 16 hex digits of
// SHA-256 of the lower-cased user (not the address itself), ws/we the
// calendar window (events only), s the SyncState (base64, a sync-state
// blob and not a credential). A SyncState does not name its mailbox, so
// without the binding a cursor stored for one user could be replayed for
// another.
const cursorPrefix = "ews1?"

// maxSyncState bounds a stored SyncState (Exchange's are a few KB).
const maxSyncState = 1 << 20

type cursor struct {
	state  string
	ws, we time.Time
}

func userTag(user string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(user))))
	return hex.EncodeToString(sum[:8])
}

func makeCursor(state string, s connector.Scope) string {
	v := url.Values{}
	v.Set("f", folderOf(s.Kind))
	v.Set("k", string(s.Kind))
	v.Set("u", userTag(s.User))
	v.Set("s", state)
	if s.Kind == model.Events {
		v.Set("ws", s.WindowStart.UTC().Truncate(time.Second).Format(time.RFC3339))
		v.Set("we", s.WindowEnd.UTC().Truncate(time.Second).Format(time.RFC3339))
	}
	return cursorPrefix + v.Encode()
}

var errBadCursor = errors.New("ews: cursor is not a SyncState of this connector for this user and kind")

// parseCursor checks a stored cursor. One that fails any check is not
// used (ErrResync), never sent.
func parseCursor(raw string, s connector.Scope) (*cursor, error) {
	if !strings.HasPrefix(raw, cursorPrefix) || len(raw) > 2*maxSyncState {
		return nil, errBadCursor
	}
	v, err := url.ParseQuery(raw[len(cursorPrefix):])
	if err != nil {
		return nil, errBadCursor
	}
	for _, k := range []string{"f", "k", "u", "s", "ws", "we"} {
		if len(v[k]) > 1 {
			return nil, errBadCursor
		}
	}
	if v.Get("k") != string(s.Kind) || v.Get("f") != folderOf(s.Kind) || v.Get("u") != userTag(s.User) {
		return nil, errBadCursor
	}
	cur := &cursor{state: v.Get("s")}
	if !validSyncState(cur.state) {
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

// validSyncState accepts what Exchange sends as a SyncState: base64.
func validSyncState(st string) bool {
	if st == "" || len(st) > maxSyncState {
		return false
	}
	_, err := base64.StdEncoding.DecodeString(st)
	return err == nil
}

// sameWindow reports whether the cursor was made for the scope's window.
func (cur *cursor) sameWindow(s connector.Scope) bool {
	return cur.ws.Equal(s.WindowStart.UTC().Truncate(time.Second)) && cur.we.Equal(s.WindowEnd.UTC().Truncate(time.Second))
}
