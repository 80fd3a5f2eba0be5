package vault

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/syncgate/syncgate/internal/keyfile"
)

const (
	fileFormat = "syncgate-secrets"
	// fileMaxVersions matches Vault KV v2's default: older versions are pruned.
	fileMaxVersions = 10
)

// fileEnvelope is the on-disk form: everything but the header is sealed.
type fileEnvelope struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Cipher  string `json:"cipher"`
	KeyID   string `json:"key_id"`
	Nonce   string `json:"nonce"`
	Data    string `json:"data"`
}

type fileVersion struct {
	V       int       `json:"v"`
	Value   []byte    `json:"value"`
	Created time.Time `json:"created"`
}

type fileSecret struct {
	Versions []fileVersion `json:"versions"`
}

type fileContents struct {
	Secrets map[string]*fileSecret `json:"secrets"`
}

// FileStore is the embedded store: one AES-256-GCM sealed file, rewritten
// atomically (temp file, fsync, rename, fsync of the directory) under an
// advisory lock, so the CLI and a running gateway can share it. Readers pick
// up changes made by other processes on their next call.
type FileStore struct {
	path  string
	aead  cipher.AEAD
	keyID string
	now   func() time.Time

	mu     sync.Mutex
	loaded fileContents
	stamp  fileStamp
}

type fileStamp struct {
	size  int64
	mtime time.Time
	ino   uint64
}

// LoadKey reads the file store key from a file (which must not be readable
// by group or others) or from an environment variable.
func LoadKey(keyFile, keyEnv string) ([]byte, error) {
	switch {
	case keyFile != "":
		if _, err := os.Stat(keyFile); err != nil {
			return nil, fmt.Errorf("secret store key: %w", err)
		}
		if err := keyfile.CheckPrivate(keyFile, "secret store key"); err != nil {
			return nil, err
		}
		raw, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, fmt.Errorf("secret store key: %w", err)
		}
		k, err := decodeKey(raw)
		if err != nil {
			return nil, fmt.Errorf("secret store key %s: %w", keyFile, err)
		}
		return k, nil
	case keyEnv != "":
		v, ok := os.LookupEnv(keyEnv)
		if !ok || v == "" {
			return nil, fmt.Errorf("secret store key: environment variable %s is not set", keyEnv)
		}
		k, err := decodeKey([]byte(v))
		if err != nil {
			return nil, fmt.Errorf("secret store key from $%s: %w", keyEnv, err)
		}
		return k, nil
	default:
		return nil, errors.New("secret store key: set key_file or key_env")
	}
}

func decodeKey(raw []byte) ([]byte, error) {
	if len(raw) == 32 {
		return raw, nil
	}
	s := strings.TrimSpace(string(raw))
	if len(s) == 64 {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == 32 {
			return k, nil
		}
	}
	return nil, errors.New("key must be 32 bytes: raw, 64 hex characters or base64")
}

// GenerateKeyFile writes a new random key (hex) to path with mode 0600,
// refusing to overwrite an existing file.
func GenerateKeyFile(path string) error {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(k) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	return nil
}

// OpenFileStore opens (or prepares to create) the file store. A wrong key is
// reported here as ErrWrongKey and nothing is written.
func OpenFileStore(c StoreConfig, o OpenOptions) (*FileStore, error) {
	if c.Path == "" {
		return nil, errors.New("file secret store: path is empty")
	}
	key, err := LoadKey(c.KeyFile, c.KeyEnv)
	if err != nil {
		return nil, err
	}
	return NewFileStore(c.Path, key, o)
}

// NewFileStore opens the file store at path with a 32-byte key.
func NewFileStore(path string, key []byte, o OpenOptions) (*FileStore, error) {
	if len(key) != 32 {
		return nil, errors.New("file secret store: key must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("file secret store: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("file secret store: %w", err)
	}
	id := sha256.Sum256(append([]byte("syncgate-secrets key id\x00"), key...))
	s := &FileStore{path: path, aead: aead, keyID: hex.EncodeToString(id[:8]), now: o.Now}
	if s.now == nil {
		s.now = time.Now
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refreshLocked(); err != nil {
		return nil, err
	}
	return s, nil
}

func statFile(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	st := fileStamp{size: fi.Size(), mtime: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	return st, nil
}

// refreshLocked reloads the file if it changed on disk since the last load.
func (s *FileStore) refreshLocked() error {
	st, err := statFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		s.loaded = fileContents{Secrets: map[string]*fileSecret{}}
		s.stamp = fileStamp{}
		return nil
	}
	if err != nil {
		return fmt.Errorf("file secret store: %w", err)
	}
	if st == s.stamp && s.loaded.Secrets != nil {
		return nil
	}
	raw, err := os.ReadFile(s.path)
	if err != nil {
		return fmt.Errorf("file secret store: %w", err)
	}
	c, err := s.open(raw)
	if err != nil {
		return err
	}
	s.loaded, s.stamp = c, st
	return nil
}

func (s *FileStore) aad() []byte { return []byte(fileFormat + "/1/" + s.keyID) }

func (s *FileStore) open(raw []byte) (fileContents, error) {
	var env fileEnvelope
	if err := json.Unmarshal(raw, &env); err != nil || env.Format != fileFormat {
		return fileContents{}, fmt.Errorf("file secret store %s: not a syncgate secrets file", s.path)
	}
	if env.Version != 1 || env.Cipher != "AES-256-GCM" {
		return fileContents{}, fmt.Errorf("file secret store %s: unsupported version %d / cipher %q", s.path, env.Version, env.Cipher)
	}
	if env.KeyID != s.keyID {
		return fileContents{}, fmt.Errorf("file secret store %s: %w (the file was sealed with key id %s, this key has id %s)", s.path, ErrWrongKey, env.KeyID, s.keyID)
	}
	nonce, err1 := base64.StdEncoding.DecodeString(env.Nonce)
	ct, err2 := base64.StdEncoding.DecodeString(env.Data)
	if err1 != nil || err2 != nil || len(nonce) != s.aead.NonceSize() {
		return fileContents{}, fmt.Errorf("file secret store %s: corrupted envelope", s.path)
	}
	pt, err := s.aead.Open(nil, nonce, ct, s.aad())
	if err != nil {
		return fileContents{}, fmt.Errorf("file secret store %s: authentication failed: the file is corrupted or was altered", s.path)
	}
	var c fileContents
	if err := json.Unmarshal(pt, &c); err != nil {
		return fileContents{}, fmt.Errorf("file secret store %s: corrupted contents", s.path)
	}
	if c.Secrets == nil {
		c.Secrets = map[string]*fileSecret{}
	}
	return c, nil
}

func (s *FileStore) seal(c fileContents) ([]byte, error) {
	pt, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	ct := s.aead.Seal(nil, nonce, pt, s.aad())
	return json.MarshalIndent(fileEnvelope{
		Format: fileFormat, Version: 1, Cipher: "AES-256-GCM", KeyID: s.keyID,
		Nonce: base64.StdEncoding.EncodeToString(nonce), Data: base64.StdEncoding.EncodeToString(ct),
	}, "", " ")
}

// update runs fn on a fresh copy of the contents under the cross-process lock
// and writes the result atomically; on any error nothing is written.
func (s *FileStore) update(fn func(c *fileContents) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	unlock, err := lockFile(s.path + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	s.stamp = fileStamp{} // force a reload: another process may have written
	if err := s.refreshLocked(); err != nil {
		return err
	}
	c := cloneContents(s.loaded)
	if err := fn(&c); err != nil {
		return err
	}
	data, err := s.seal(c)
	if err != nil {
		return fmt.Errorf("file secret store: seal: %w", err)
	}
	if err := writeAtomic(s.path, data); err != nil {
		return fmt.Errorf("file secret store: %w", err)
	}
	st, err := statFile(s.path)
	if err != nil {
		return fmt.Errorf("file secret store: %w", err)
	}
	s.loaded, s.stamp = c, st
	return nil
}

func cloneContents(c fileContents) fileContents {
	out := fileContents{Secrets: make(map[string]*fileSecret, len(c.Secrets))}
	for k, v := range c.Secrets {
		cp := &fileSecret{Versions: append([]fileVersion(nil), v.Versions...)}
		out.Secrets[k] = cp
	}
	return out
}

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("file secret store: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("file secret store: lock: %w", err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// writeAtomic replaces path with data so that a crash leaves either the old
// or the new file, never a mix: a leftover temp file is never read.
func writeAtomic(path string, data []byte) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmpName, path); err != nil {
		return err
	}
	ok = true
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (s *FileStore) read(name string) (*fileSecret, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refreshLocked(); err != nil {
		return nil, err
	}
	fsec, ok := s.loaded.Secrets[name]
	if !ok || len(fsec.Versions) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return &fileSecret{Versions: append([]fileVersion(nil), fsec.Versions...)}, nil
}

// Get implements Store.
func (s *FileStore) Get(ctx context.Context, name string) (*Secret, error) {
	return s.GetVersion(ctx, name, 0)
}

// GetVersion implements Store.
func (s *FileStore) GetVersion(_ context.Context, name string, version int) (*Secret, error) {
	fsec, err := s.read(name)
	if err != nil {
		return nil, err
	}
	v := fsec.Versions[len(fsec.Versions)-1]
	if version != 0 {
		found := false
		for _, x := range fsec.Versions {
			if x.V == version {
				v, found = x, true
			}
		}
		if !found {
			return nil, fmt.Errorf("%w: %s version %d", ErrNotFound, name, version)
		}
	}
	return &Secret{Name: name, Value: bytes.Clone(v.Value), Version: v.V, Created: v.Created}, nil
}

// Put implements Store.
func (s *FileStore) Put(_ context.Context, name string, value []byte, cas int) (int, error) {
	if err := validName(name); err != nil {
		return 0, err
	}
	var newV int
	err := s.update(func(c *fileContents) error {
		fsec := c.Secrets[name]
		cur := 0
		if fsec != nil && len(fsec.Versions) > 0 {
			cur = fsec.Versions[len(fsec.Versions)-1].V
		}
		if cas != NoCAS && cas != cur {
			return fmt.Errorf("%w: %s is at version %d, not %d", ErrCASMismatch, name, cur, cas)
		}
		if fsec == nil {
			fsec = &fileSecret{}
			c.Secrets[name] = fsec
		}
		newV = cur + 1
		fsec.Versions = append(fsec.Versions, fileVersion{V: newV, Value: bytes.Clone(value), Created: s.now().UTC()})
		if n := len(fsec.Versions); n > fileMaxVersions {
			fsec.Versions = fsec.Versions[n-fileMaxVersions:]
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return newV, nil
}

// List implements Store.
func (s *FileStore) List(_ context.Context, prefix string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refreshLocked(); err != nil {
		return nil, err
	}
	var out []string
	for k := range s.loaded.Secrets {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Delete implements Store.
func (s *FileStore) Delete(_ context.Context, name string) error {
	if err := validName(name); err != nil {
		return err
	}
	return s.update(func(c *fileContents) error {
		if _, ok := c.Secrets[name]; !ok {
			return fmt.Errorf("%w: %s", ErrNotFound, name)
		}
		delete(c.Secrets, name)
		return nil
	})
}

// Versions implements Store.
func (s *FileStore) Versions(_ context.Context, name string) ([]VersionInfo, error) {
	fsec, err := s.read(name)
	if err != nil {
		return nil, err
	}
	out := make([]VersionInfo, 0, len(fsec.Versions))
	for _, v := range fsec.Versions {
		out = append(out, VersionInfo{Version: v.V, Created: v.Created})
	}
	return out, nil
}

// Close implements Store.
func (s *FileStore) Close() error { return nil }
