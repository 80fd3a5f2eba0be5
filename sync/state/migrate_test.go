package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/syncgate/syncgate/sync/model"
)

func latestVersion(t testing.TB, d *dialect) int {
	t.Helper()
	ms, err := loadMigrations(migrationFiles, d.migrations)
	if err != nil {
		t.Fatal(err)
	}
	return ms[len(ms)-1].version
}

func dialectOf(tg target) *dialect {
	if tg.backend == "postgres" {
		return postgresDialect
	}
	return sqliteDialect
}

// Reopening keeps the data and applies nothing twice.
func TestReopenKeepsDataAndVersion(t *testing.T) {
	eachTarget(t, func(t *testing.T, tg target) {
		s := mustOpen(t, tg)
		p := &Pair{User: alice, Kind: model.Events, CRMID: "00U1", MailID: "AAMkE1", Key: "sg-e1"}
		in := &Intent{User: alice, Kind: model.Events, Op: OpUpdate, Target: model.Mail, PairID: 1, Payload: []byte("{}")}
		tx(t, s, func(ctx context.Context, w Writer) error {
			if err := w.PutPair(ctx, p); err != nil {
				return err
			}
			if err := w.AddIntent(ctx, in); err != nil {
				return err
			}
			return w.SetCursor(ctx, alice, model.Events, model.Mail, "delta-1")
		})
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			s = mustOpen(t, tg)
			got := pairs(t, s, alice, model.Events)
			if len(got) != 1 || !samePair(got[0], *p) {
				t.Errorf("after reopen: %+v, want %+v", got, *p)
			}
			if c, _ := s.Cursor(bg, alice, model.Events, model.Mail); c != "delta-1" {
				t.Errorf("cursor after reopen: %q", c)
			}
			if ins, _ := s.Intents(bg, alice, model.Events); len(ins) != 1 || ins[0].ID != in.ID {
				t.Errorf("intents after reopen: %+v", ins)
			}
			s.Close()
		}
		db := tg.raw(t)
		var n, v int
		if err := db.QueryRow(`SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &v); err != nil {
			t.Fatal(err)
		}
		if want := latestVersion(t, dialectOf(tg)); n != want || v != want {
			t.Errorf("schema_migrations: %d rows, version %d; want %d and %d", n, v, want, want)
		}
	})
}

// A database migrated by a newer syncgate is refused, not used.
func TestRefusesNewerSchema(t *testing.T) {
	eachTarget(t, func(t *testing.T, tg target) {
		s := mustOpen(t, tg)
		s.Close()
		newer := latestVersion(t, dialectOf(tg)) + 41
		db := tg.raw(t)
		if _, err := db.Exec(dialectOf(tg).rebind(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from_the_future', 'x')`), newer); err != nil {
			t.Fatal(err)
		}
		s, err := tg.open(bg)
		if err == nil {
			s.Close()
			t.Fatal("opened a database with a newer schema")
		}
		if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), fmt.Sprint(newer)) {
			t.Errorf("error %q: want ErrSchemaTooNew naming version %d", err, newer)
		}
	})
}

// withMigrations is the real migrations of d plus extra files.
func withMigrations(t testing.TB, d *dialect, extra map[string]string) fs.FS {
	t.Helper()
	m := fstest.MapFS{}
	ents, err := fs.ReadDir(migrationFiles, d.migrations)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := fs.ReadFile(migrationFiles, d.migrations+"/"+e.Name())
		if err != nil {
			t.Fatal(err)
		}
		m[d.migrations+"/"+e.Name()] = &fstest.MapFile{Data: b}
	}
	for name, sql := range extra {
		m[d.migrations+"/"+name] = &fstest.MapFile{Data: []byte(sql)}
	}
	return m
}

// A later binary's migration is applied on top, once; a failing one
// leaves the database at the version before it, with nothing of it.
func TestMigrationsUpgradeInSteps(t *testing.T) {
	eachTarget(t, func(t *testing.T, tg target) {
		s := mustOpen(t, tg)
		s.Close()
		d := dialectOf(tg)
		db := tg.raw(t)
		base := latestVersion(t, d)
		next := fmt.Sprintf("%04d_add_notes.sql", base+1)
		bad := fmt.Sprintf("%04d_broken.sql", base+2)

		up := withMigrations(t, d, map[string]string{next: `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
INSERT INTO notes (id, body) VALUES (1, 'hello');`})
		for range 2 { // the second run finds nothing to do
			if err := migrateFS(bg, db, d, up); err != nil {
				t.Fatal(err)
			}
		}
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM notes`).Scan(&n); err != nil || n != 1 {
			t.Errorf("notes: %d rows, %v; want the migration applied once", n, err)
		}
		broken := withMigrations(t, d, map[string]string{next: `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);`,
			bad: `CREATE TABLE half (x INTEGER); SELECT no_such_column FROM notes;`})
		err := migrateFS(bg, db, d, broken)
		if err == nil || !strings.Contains(err.Error(), "broken") {
			t.Fatalf("broken migration: %v", err)
		}
		if v, err := schemaVersion(bg, db); err != nil || v != base+1 {
			t.Errorf("version after a failed migration: %d, %v; want %d", v, err, base+1)
		}
		if _, err := db.Exec(`SELECT * FROM half`); err == nil {
			t.Error("a failed migration left its first statement behind")
		}
		// The store of this binary now refuses the upgraded database.
		if s, err := tg.open(bg); !errors.Is(err, ErrSchemaTooNew) {
			if s != nil {
				s.Close()
			}
			t.Errorf("open after an upgrade by a newer binary: %v", err)
		}
	})
}

// Processes starting together migrate once between them.
func TestConcurrentOpen(t *testing.T) {
	eachTarget(t, func(t *testing.T, tg target) {
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := tg.open(bg)
				if err != nil {
					errs <- err
					return
				}
				s.Close()
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		var n int
		if err := tg.raw(t).QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if want := latestVersion(t, dialectOf(tg)); n != want {
			t.Errorf("%d migration rows, want %d", n, want)
		}
	})
}

func TestLoadMigrationsRejects(t *testing.T) {
	cases := map[string]fstest.MapFS{
		"gap":        {"m/0001_a.sql": {}, "m/0003_c.sql": {}},
		"duplicate":  {"m/0001_a.sql": {}, "m/0001_b.sql": {}},
		"bad name":   {"m/0001_a.sql": {}, "m/2_b.sql": {}},
		"not sql":    {"m/0001_a.sql": {}, "m/README": {}},
		"none":       {"m/.keep": {}},
		"from two":   {"m/0002_b.sql": {}},
		"upper case": {"m/0001_Init.sql": {}},
	}
	for name, fsys := range cases {
		if _, err := loadMigrations(fsys, "m"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, d := range []*dialect{sqliteDialect, postgresDialect} {
		if _, err := loadMigrations(migrationFiles, d.migrations); err != nil {
			t.Errorf("embedded %s migrations: %v", d.name, err)
		}
	}
}

// Both dialects' migrations create the same tables and columns, so the
// shared SQL works on both.
func TestDialectsHaveTheSameSchema(t *testing.T) {
	cols := map[string]string{}
	eachTarget(t, func(t *testing.T, tg target) {
		s := mustOpen(t, tg)
		defer s.Close()
		q := `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, column_name`
		if tg.backend == "sqlite" {
			q = `SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY 1, 2`
		}
		rows, err := tg.raw(t).Query(q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var b strings.Builder
		for rows.Next() {
			var tbl, col string
			if err := rows.Scan(&tbl, &col); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s.%s\n", tbl, col)
		}
		cols[tg.backend] = b.String()
	})
	if len(cols) == 2 && cols["sqlite"] != cols["postgres"] {
		t.Errorf("schemas differ:\nsqlite:\n%s\npostgres:\n%s", cols["sqlite"], cols["postgres"])
	}
}

func TestOpenSQLiteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	s, err := OpenSQLite(bg, path)
	if err != nil {
		t.Fatal(err)
	}
	tx(t, s, func(ctx context.Context, w Writer) error {
		return w.SetCursor(ctx, alice, model.Contacts, model.CRM, "c")
	})
	defer s.Close()
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s mode %o, want 600", filepath.Base(p), m)
		}
	}
	var mode string
	if err := rawDB(t, "sqlite", path).QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode %q, %v; want wal", mode, err)
	}

	if _, err := OpenSQLite(bg, filepath.Join(dir, "missing", "state.db")); err == nil {
		t.Error("opened a file in a directory that does not exist")
	}
	if _, err := OpenSQLite(bg, ""); err == nil {
		t.Error("opened an empty path")
	}
}

// Two stores on one file stand for two processes (a running engine and a
// `syncgate sync resync`): their write transactions wait for each other
// instead of failing with SQLITE_BUSY.
func TestSQLiteTwoProcessesNoBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	var stores []Store
	for range 2 {
		s, err := OpenSQLite(bg, path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores = append(stores, s)
	}
	const each = 40
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				errs <- s.Tx(bg, func(ctx context.Context, w Writer) error {
					c, err := w.Cursor(ctx, alice, model.Contacts, model.Mail)
					if err != nil {
						return err
					}
					var n int
					fmt.Sscan(c, &n)
					if err := w.SetCursor(ctx, alice, model.Contacts, model.Mail, fmt.Sprint(n+1)); err != nil {
						return err
					}
					return w.PutPair(ctx, &Pair{User: alice, Kind: model.Contacts, MailID: fmt.Sprintf("m%d-%d", i, j)})
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if c, _ := stores[0].Cursor(bg, alice, model.Contacts, model.Mail); c != fmt.Sprint(2*each) {
		t.Errorf("counter %s, want %d", c, 2*each)
	}
}
