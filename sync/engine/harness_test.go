package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/syncgate/syncgate/internal/pgtest"
	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/connector/memory"
	"github.com/syncgate/syncgate/sync/model"
	"github.com/syncgate/syncgate/sync/state"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// stores are the state stores every engine test runs against.
var stores = []struct {
	name string
	open func(t testing.TB) state.Store
}{
	{"sqlite", func(t testing.TB) state.Store {
		t.Helper()
		st, err := state.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
	{"postgres", func(t testing.TB) state.Store {
		t.Helper()
		st, err := state.OpenPostgres(context.Background(), pgtest.Start(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
}

// memAudit keeps the actions a pass recorded.
type memAudit struct {
	mu  sync.Mutex
	all []Action
}

func (m *memAudit) Record(_ context.Context, a Action) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.all = append(m.all, a)
	return nil
}

func (m *memAudit) count(act string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, a := range m.all {
		if a.Action == act {
			n++
		}
	}
	return n
}

// world is an engine with two in-memory sides.
type world struct {
	t     testing.TB
	store state.Store
	crm   *memory.Side
	mail  *memory.Side
	audit *memAudit
	eng   *Engine
	user  string
	// conns, when set, stand between the engine and the sides (a service
	// that refuses some writes, see noRestore).
	crmConn, mailConn connector.Connector
}

func newWorld(t testing.TB, st state.Store) *world {
	t.Helper()
	w := &world{t: t, store: st, crm: memory.New(model.CRM), mail: memory.New(model.Mail), audit: &memAudit{}, user: "alice@corp.example"}
	w.eng = &Engine{Store: st, Audit: w.audit}
	return w
}

func (w *world) job(kind model.Kind, ks KindSettings) Job {
	ks.Enabled = true
	j := Job{User: w.user, Kind: kind, CRM: w.crm, Mail: w.mail, Settings: ks}
	if w.crmConn != nil {
		j.CRM = w.crmConn
	}
	if w.mailConn != nil {
		j.Mail = w.mailConn
	}
	return j
}

func (w *world) pass(kind model.Kind, ks KindSettings) (Result, error) {
	return w.eng.Run(context.Background(), w.job(kind, ks))
}

func (w *world) mustPass(kind model.Kind, ks KindSettings) Result {
	w.t.Helper()
	r, err := w.pass(kind, ks)
	if err != nil {
		w.t.Fatalf("pass: %v", err)
	}
	return r
}

func contact(first, last, email string) *model.Item {
	return &model.Item{Contact: &model.Contact{FirstName: first, LastName: last, Email: email}}
}

func forEachStore(t *testing.T, fn func(t *testing.T, st state.Store)) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) { fn(t, s.open(t)) })
	}
}

func itemsByHash(items []*model.Item) map[string]int {
	m := map[string]int{}
	for _, it := range items {
		m[it.Hash()]++
	}
	return m
}

func describe(items []*model.Item) string {
	s := ""
	for _, it := range items {
		if it.Contact != nil {
			s += fmt.Sprintf("[%s %s %s key=%s] ", it.ID, it.Contact.LastName, it.Contact.Email, it.Key)
		} else {
			s += fmt.Sprintf("[%s %s key=%s] ", it.ID, it.Event.Subject, it.Key)
		}
	}
	return s
}
