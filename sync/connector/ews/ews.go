package ews

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/model"
)

// KeyPropertySetID and KeyPropertyName name the extended property that
// carries syncgate's idempotency key: a named MAPI property of type String
// in syncgate's own property set. It is the same property the Graph
// connector writes (graph.KeyPropertyID), so a mailbox keeps its keys
// whichever API reaches it; changing it would orphan every key written.
const (
	KeyPropertySetID = "2f98f854-a3ff-4ae6-b70a-fc40b568f277"
	KeyPropertyName  = "SyncgateKey"
)

var keyURI = extendedFieldURI{PropertySetID: KeyPropertySetID, PropertyName: KeyPropertyName, PropertyType: "String"}

// Delete types (DeleteItem DeleteType).
const (
	MoveToDeletedItems = "MoveToDeletedItems"
	SoftDelete         = "SoftDelete"
	HardDelete         = "HardDelete"
)

// Options configures a Connector. Zero values take the defaults.
type Options struct {
	// URL of the EWS endpoint, e.g. https://mail.corp.example/EWS/Exchange.asmx.
	URL string
	// PageSize is SyncFolderItems' MaxChangesReturned and FindItem's
	// MaxEntriesReturned (default 100, at most 512 as the schema allows).
	PageSize int
	// GetBatch is how many ids one GetItem reads (default 50).
	GetBatch int
	// MaxPages bounds one SyncFolderItems round or FindItem listing
	// (default 100,000): a server that never ends is an error.
	MaxPages int
	// MaxBusyRetries is how many times an ErrorServerBusy is waited out
	// (default 3) before *connector.ThrottledError.
	MaxBusyRetries int
	// MaxBackOff is the longest BackOffMilliseconds waited (default 30 s);
	// a longer one is returned as *connector.ThrottledError at once.
	MaxBackOff time.Duration
	// TimeZone is the Windows time-zone id all-day events are written in
	// (StartTimeZone/EndTimeZone, midnights of that zone), default "UTC".
	// Set it to the users' zone so Outlook shows them on one day.
	TimeZone string
	// DeleteType is DeleteItem's DeleteType: MoveToDeletedItems (default:
	// the user can restore the item from Deleted Items), SoftDelete or
	// HardDelete.
	DeleteType string
	// MaxResponseBytes bounds one response body (default 32 MiB).
	MaxResponseBytes int64
}

// Connector reads and writes one mailbox's contacts (distinguished folder
// contacts) and calendar (distinguished folder calendar) through EWS.
type Connector struct {
	hc         *http.Client
	url        string
	pageSize   int
	getBatch   int
	maxPages   int
	busyTries  int
	maxBackOff time.Duration
	tzID       string
	tz         *time.Location
	deleteType string
	maxBody    int64
	// sleep waits d or until ctx ends; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

var _ connector.Connector = (*Connector)(nil)

// New returns a connector that sends every request with hc, which in
// production is the gateway client's (sync/gateway): it routes through the
// syncgate gateway, which injects the EWS service account's credential.
// The connector never sets Authorization.
func New(hc *http.Client, o Options) (*Connector, error) {
	if hc == nil {
		return nil, errors.New("ews: nil HTTP client")
	}
	u, err := url.Parse(o.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Path == "" {
		return nil, errors.New("ews: URL must be https://host/EWS/Exchange.asmx without query or credentials")
	}
	c := &Connector{hc: hc, url: u.String(), pageSize: o.PageSize, getBatch: o.GetBatch, maxPages: o.MaxPages,
		busyTries: o.MaxBusyRetries, maxBackOff: o.MaxBackOff, tzID: o.TimeZone, deleteType: o.DeleteType, maxBody: o.MaxResponseBytes, sleep: sleepCtx}
	if c.pageSize <= 0 {
		c.pageSize = 100
	}
	c.pageSize = min(c.pageSize, 512)
	if c.getBatch <= 0 {
		c.getBatch = 50
	}
	if c.maxPages <= 0 {
		c.maxPages = 100000
	}
	if c.busyTries <= 0 {
		c.busyTries = 3
	}
	if c.maxBackOff <= 0 {
		c.maxBackOff = 30 * time.Second
	}
	if c.tzID == "" {
		c.tzID = "UTC"
	}
	loc, ok := parseZone(c.tzID)
	if !ok {
		return nil, fmt.Errorf("ews: unknown time zone %q (want a Windows time-zone id)", truncate(c.tzID, 64))
	}
	c.tz = loc
	switch c.deleteType {
	case "":
		c.deleteType = MoveToDeletedItems
	case MoveToDeletedItems, SoftDelete, HardDelete:
	default:
		return nil, fmt.Errorf("ews: DeleteType %q: want %s, %s or %s", truncate(c.deleteType, 32), MoveToDeletedItems, SoftDelete, HardDelete)
	}
	if c.maxBody <= 0 {
		c.maxBody = 32 << 20
	}
	return c, nil
}

// Side reports the mailbox side.
func (c *Connector) Side() model.Side { return model.Mail }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// folderOf is the distinguished folder of a kind.
func folderOf(k model.Kind) string {
	if k == model.Events {
		return "calendar"
	}
	return "contacts"
}

func checkScope(s connector.Scope) error {
	if strings.TrimSpace(s.User) == "" || strings.ContainsAny(s.User, " \t\r\n<>&\"'") || !strings.Contains(s.User, "@") {
		return errors.New("ews: scope needs the acting user's SMTP address")
	}
	switch s.Kind {
	case model.Contacts, model.Events:
		return nil
	}
	return fmt.Errorf("ews: unknown kind %q", s.Kind)
}

func checkWindow(s connector.Scope) error {
	if s.Kind == model.Events && (s.WindowStart.IsZero() || !s.WindowEnd.After(s.WindowStart)) {
		return errors.New("ews: events need a window (WindowStart < WindowEnd)")
	}
	return nil
}

// checkKey refuses keys that could not be written or searched for.
func checkKey(key string) error {
	if key == "" || len(key) > 255 || strings.ContainsAny(key, "\x00\r\n") {
		return errors.New("ews: idempotency key must be 1-255 characters without control characters")
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
