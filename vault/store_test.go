package vault

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// storeContract runs the Store behaviour both backends must share.
func storeContract(t *testing.T, s Store) {
	ctx := context.Background()
	t.Run("get missing", func(t *testing.T) {
		_, err := s.Get(ctx, "nope/missing")
		mustErrIs(t, err, ErrNotFound)
		_, err = s.Versions(ctx, "nope/missing")
		mustErrIs(t, err, ErrNotFound)
	})
	t.Run("put get versions", func(t *testing.T) {
		v1, err := s.Put(ctx, "graph/client-secret", []byte("s3cret-one"), 0)
		if err != nil || v1 != 1 {
			t.Fatalf("put = %d, %v; want 1", v1, err)
		}
		v2, err := s.Put(ctx, "graph/client-secret", []byte("s3cret-two"), 1)
		if err != nil || v2 != 2 {
			t.Fatalf("put = %d, %v; want 2", v2, err)
		}
		got, err := s.Get(ctx, "graph/client-secret")
		if err != nil || string(got.Value) != "s3cret-two" || got.Version != 2 {
			t.Fatalf("get = %+v, %v", got, err)
		}
		old, err := s.GetVersion(ctx, "graph/client-secret", 1)
		if err != nil || string(old.Value) != "s3cret-one" {
			t.Fatalf("get v1 = %+v, %v", old, err)
		}
		_, err = s.GetVersion(ctx, "graph/client-secret", 7)
		mustErrIs(t, err, ErrNotFound)
		vs, err := s.Versions(ctx, "graph/client-secret")
		if err != nil || len(vs) != 2 || vs[0].Version != 1 || vs[1].Version != 2 {
			t.Fatalf("versions = %+v, %v", vs, err)
		}
	})
	t.Run("cas conflict", func(t *testing.T) {
		if _, err := s.Put(ctx, "cas/x", []byte("a"), 0); err != nil {
			t.Fatal(err)
		}
		_, err := s.Put(ctx, "cas/x", []byte("b"), 0)
		mustErrIs(t, err, ErrCASMismatch)
		_, err = s.Put(ctx, "cas/x", []byte("b"), 5)
		mustErrIs(t, err, ErrCASMismatch)
		got, _ := s.Get(ctx, "cas/x")
		if string(got.Value) != "a" {
			t.Fatalf("a lost CAS write changed the value to %q", got.Value)
		}
		if _, err := s.Put(ctx, "cas/x", []byte("c"), NoCAS); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("concurrent cas: one winner", func(t *testing.T) {
		if _, err := s.Put(ctx, "race/x", []byte("0"), 0); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Put(ctx, "race/x", []byte("w"), 1)
				if err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				} else if !errors.Is(err, ErrCASMismatch) {
					t.Errorf("unexpected error: %v", err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d CAS writers won, want 1", wins)
		}
	})
	t.Run("binary value", func(t *testing.T) {
		val := []byte{0, 1, 0xff, 0xfe, '\n'}
		if _, err := s.Put(ctx, "bin/x", val, NoCAS); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "bin/x")
		if err != nil || !bytes.Equal(got.Value, val) {
			t.Fatalf("get = %v, %v", got, err)
		}
	})
	t.Run("list and delete", func(t *testing.T) {
		names, err := s.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"bin/x", "cas/x", "graph/client-secret", "race/x"}
		if strings.Join(names, ",") != strings.Join(want, ",") {
			t.Fatalf("list = %v, want %v", names, want)
		}
		names, _ = s.List(ctx, "graph/")
		if len(names) != 1 || names[0] != "graph/client-secret" {
			t.Fatalf("list graph/ = %v", names)
		}
		if err := s.Delete(ctx, "cas/x"); err != nil {
			t.Fatal(err)
		}
		_, err = s.Get(ctx, "cas/x")
		mustErrIs(t, err, ErrNotFound)
		mustErrIs(t, s.Delete(ctx, "cas/x"), ErrNotFound)
		// A deleted name starts again at version 1 with CAS 0.
		if v, err := s.Put(ctx, "cas/x", []byte("again"), 0); err != nil || v != 1 {
			t.Fatalf("put after delete = %d, %v", v, err)
		}
	})
	t.Run("bad names", func(t *testing.T) {
		for _, n := range []string{"", "/abs", "a/../b", "a//b", "trail/", "sp ace", "q?x"} {
			_, err := s.Put(ctx, n, []byte("x"), NoCAS)
			mustErrIs(t, err, ErrBadName)
		}
	})
}

func newFileStore(t *testing.T) (*FileStore, string, []byte) {
	t.Helper()
	dir := t.TempDir()
	key := bytes.Repeat([]byte{7}, 32)
	path := filepath.Join(dir, "secrets.enc")
	s, err := NewFileStore(path, key, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s, path, key
}

func TestFileStoreContract(t *testing.T) {
	s, path, _ := newFileStore(t)
	storeContract(t, s)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("store file mode %v, want 0600", fi.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, []byte("s3cret")) || bytes.Contains(raw, []byte("graph/client-secret")) {
		t.Fatal("the store file holds plaintext")
	}
}

func TestVaultStoreContract(t *testing.T) {
	tv := newTestVault(t)
	storeContract(t, tv.open(t, tv.rootAuth(t)))
}

func TestFileStoreWrongKey(t *testing.T) {
	s, path, _ := newFileStore(t)
	if _, err := s.Put(context.Background(), "a", []byte("value"), NoCAS); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	_, err := NewFileStore(path, bytes.Repeat([]byte{8}, 32), OpenOptions{})
	mustErrIs(t, err, ErrWrongKey)
	if !strings.Contains(err.Error(), "key id") {
		t.Fatalf("error does not explain: %v", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("a wrong key changed the file")
	}
	// An already-open store cannot be fooled into writing either: a file
	// sealed under another key makes its next write fail.
	other, err := NewFileStore(filepath.Join(filepath.Dir(path), "other.enc"), bytes.Repeat([]byte{9}, 32), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Put(context.Background(), "b", []byte("x"), NoCAS); err != nil {
		t.Fatal(err)
	}
	otherRaw, _ := os.ReadFile(filepath.Join(filepath.Dir(path), "other.enc"))
	if err := os.WriteFile(path, otherRaw, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = s.Put(context.Background(), "a", []byte("new"), NoCAS)
	mustErrIs(t, err, ErrWrongKey)
	now, _ := os.ReadFile(path)
	if !bytes.Equal(now, otherRaw) {
		t.Fatal("write with the wrong key touched the file")
	}
}

func TestFileStoreTamperedFile(t *testing.T) {
	s, path, key := newFileStore(t)
	if _, err := s.Put(context.Background(), "a", []byte("value"), NoCAS); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	i := bytes.Index(raw, []byte(`"data": "`)) + 12
	raw[i] ^= 1
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := NewFileStore(path, key, OpenOptions{})
	if err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("tampered file: err = %v", err)
	}
}

func TestFileStoreCrashLeavesOldFile(t *testing.T) {
	s, path, key := newFileStore(t)
	ctx := context.Background()
	if _, err := s.Put(ctx, "a", []byte("committed"), NoCAS); err != nil {
		t.Fatal(err)
	}
	// A crash between writing the temp file and the rename leaves a temp
	// file behind: half-written, or complete but never renamed.
	dir := filepath.Dir(path)
	if err := os.WriteFile(filepath.Join(dir, ".secrets.enc.tmp-123"), []byte(`{"format":"syncgate-secr`), 0o600); err != nil {
		t.Fatal(err)
	}
	reopened, err := NewFileStore(path, key, OpenOptions{})
	if err != nil {
		t.Fatalf("leftover temp file broke open: %v", err)
	}
	got, err := reopened.Get(ctx, "a")
	if err != nil || string(got.Value) != "committed" {
		t.Fatalf("get = %v, %v", got, err)
	}
	if _, err := reopened.Put(ctx, "a", []byte("next"), 1); err != nil {
		t.Fatalf("put with leftover temp: %v", err)
	}
	// No temp file of ours survives a successful write.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") && e.Name() != ".secrets.enc.tmp-123" {
			t.Fatalf("temp file left behind: %s", e.Name())
		}
	}
}

func TestFileStoreSeesOtherWriters(t *testing.T) {
	a, path, key := newFileStore(t)
	b, err := NewFileStore(path, key, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := a.Put(ctx, "x", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // distinct mtime on coarse filesystems
	if _, err := b.Put(ctx, "x", []byte("2"), 1); err != nil {
		t.Fatalf("second process's CAS write: %v", err)
	}
	got, err := a.Get(ctx, "x")
	if err != nil || string(got.Value) != "2" || got.Version != 2 {
		t.Fatalf("a did not see b's write: %+v %v", got, err)
	}
	_, err = a.Put(ctx, "x", []byte("3"), 1)
	mustErrIs(t, err, ErrCASMismatch)
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "k")
	if err := GenerateKeyFile(p); err != nil {
		t.Fatal(err)
	}
	if err := GenerateKeyFile(p); err == nil {
		t.Fatal("GenerateKeyFile overwrote a key")
	}
	k, err := LoadKey(p, "")
	if err != nil || len(k) != 32 {
		t.Fatalf("load = %d bytes, %v", len(k), err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(p, ""); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key accepted: %v", err)
	}
	t.Setenv("SG_TEST_KEY", "not-a-key")
	if _, err := LoadKey("", "SG_TEST_KEY"); err == nil || strings.Contains(err.Error(), "not-a-key") {
		t.Fatalf("bad env key: err = %v (must fail without echoing)", err)
	}
	t.Setenv("SG_TEST_KEY", strings.Repeat("ab", 32))
	if k, err := LoadKey("", "SG_TEST_KEY"); err != nil || k[0] != 0xab {
		t.Fatalf("hex env key: %v", err)
	}
}
