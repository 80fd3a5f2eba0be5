package state

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/syncgate/syncgate/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// target is one empty database of one backend: it can be opened (again)
// through the store and reached directly, to look under the store.
type target struct {
	backend string
	open    func(ctx context.Context) (Store, error)
	raw     func(t testing.TB) *sql.DB
}

// backends are the stores every test of this package runs against.
var backends = []struct {
	name string
	new  func(t testing.TB) target
}{
	{"sqlite", func(t testing.TB) target {
		path := filepath.Join(t.TempDir(), "state.db")
		return target{
			backend: "sqlite",
			open:    func(ctx context.Context) (Store, error) { return OpenSQLite(ctx, path) },
			raw:     func(t testing.TB) *sql.DB { return rawDB(t, "sqlite", path) },
		}
	}},
	{"postgres", func(t testing.TB) target {
		dsn := pgtest.Start(t)
		return target{
			backend: "postgres",
			open:    func(ctx context.Context) (Store, error) { return OpenPostgres(ctx, dsn) },
			raw:     func(t testing.TB) *sql.DB { return rawDB(t, "pgx", dsn) },
		}
	}},
}

func rawDB(t testing.TB, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// eachTarget runs fn once per backend, each on a fresh database.
func eachTarget(t *testing.T, fn func(t *testing.T, tg target)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b.new(t)) })
	}
}

// eachStore runs fn once per backend, each with an open store on a fresh
// database, closed when the test ends.
func eachStore(t *testing.T, fn func(t *testing.T, s Store)) {
	t.Helper()
	eachTarget(t, func(t *testing.T, tg target) { fn(t, mustOpen(t, tg)) })
}

func mustOpen(t testing.TB, tg target) Store {
	t.Helper()
	s, err := tg.open(context.Background())
	if err != nil {
		t.Fatalf("open %s: %v", tg.backend, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// tx runs fn in a transaction and fails the test on error.
func tx(t testing.TB, s Store, fn func(ctx context.Context, w Writer) error) {
	t.Helper()
	if err := s.Tx(context.Background(), fn); err != nil {
		t.Fatalf("tx: %v", err)
	}
}
