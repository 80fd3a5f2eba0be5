package vault

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	vapi "github.com/hashicorp/vault/api"
)

const (
	tokenCachePrefix  = "_tokens/"
	defaultK8sJWTFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
)

// VaultStore keeps secrets in HashiCorp Vault KV v2 (one KV entry per secret,
// under a path prefix) and owns the Vault login: a goroutine renews the
// token with a LifetimeWatcher and logs in again when renewal ends; Close
// stops it.
type VaultStore struct {
	client *vapi.Client
	kv     *vapi.KVv2
	mount  string
	prefix string
	cfg    StoreConfig
	logf   func(string, ...any)

	loginMu  sync.Mutex // one login at a time
	secretID string     // AppRole secret id, kept after unwrapping (wrapping tokens are single-use)
	authSec  *vapi.Secret
	authGen  int // bumps at every login, so a stale 403 retry does not log in twice

	transit *Transit
	stop    chan struct{}
	done    chan struct{}
	closeMu sync.Once
}

// OpenVaultStore connects and logs in to Vault, then starts token renewal.
func OpenVaultStore(ctx context.Context, c StoreConfig, o OpenOptions) (*VaultStore, error) {
	conf := vapi.DefaultConfig() // reads VAULT_ADDR, VAULT_CACERT, ...
	if conf.Error != nil {
		return nil, fmt.Errorf("vault: %w", conf.Error)
	}
	if c.Address != "" {
		conf.Address = c.Address
	}
	if c.CACert != "" {
		if err := conf.ConfigureTLS(&vapi.TLSConfig{CACert: c.CACert}); err != nil {
			return nil, fmt.Errorf("vault: CA certificate: %w", err)
		}
	}
	conf.MinRetryWait = 100 * time.Millisecond
	conf.MaxRetryWait = time.Second
	client, err := vapi.NewClient(conf) // reads VAULT_TOKEN, VAULT_NAMESPACE
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	if c.Namespace != "" {
		client.SetNamespace(c.Namespace)
	}
	s := &VaultStore{client: client, cfg: c, logf: o.Logf, stop: make(chan struct{}), done: make(chan struct{})}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	s.mount = c.Mount
	if s.mount == "" {
		s.mount = "secret"
	}
	s.prefix = strings.Trim(c.Path, "/")
	if s.prefix == "" {
		s.prefix = "syncgate"
	}
	s.kv = client.KVv2(s.mount)
	tm := c.TransitMount
	if tm == "" {
		tm = "transit"
	}
	s.transit = NewTransit(client, tm)
	if err := s.login(ctx, 0); err != nil {
		return nil, err
	}
	go s.renewLoop()
	return s, nil
}

// Client returns the logged-in Vault client (its token is kept fresh).
func (s *VaultStore) Client() *vapi.Client { return s.client }

// Transit returns a signer for the store's Transit mount.
func (s *VaultStore) Transit() *Transit { return s.transit }

// Close stops the token renewal.
func (s *VaultStore) Close() error {
	s.closeMu.Do(func() { close(s.stop) })
	<-s.done
	return nil
}

// login logs in unless another login happened since generation gen.
func (s *VaultStore) login(ctx context.Context, gen int) error {
	s.loginMu.Lock()
	defer s.loginMu.Unlock()
	if gen != s.authGen {
		return nil
	}
	sec, err := s.doLogin(ctx)
	if err != nil {
		return err
	}
	s.authSec = sec
	s.authGen++
	return nil
}

func (s *VaultStore) generation() int {
	s.loginMu.Lock()
	defer s.loginMu.Unlock()
	return s.authGen
}

func readTrimmed(path, what string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("vault auth: %s: %w", what, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("vault auth: %s file %s is empty", what, path)
	}
	return v, nil
}

// doLogin authenticates and returns a Secret whose Auth block describes the
// token, for the LifetimeWatcher.
func (s *VaultStore) doLogin(ctx context.Context) (*vapi.Secret, error) {
	a := s.cfg.Auth
	switch a.Method {
	case "", "token":
		tok := a.Token
		switch {
		case a.TokenFile != "":
			t, err := readTrimmed(a.TokenFile, "token")
			if err != nil {
				return nil, err
			}
			tok = t
		case a.TokenEnv != "":
			tok = os.Getenv(a.TokenEnv)
		case tok == "":
			tok = os.Getenv(vapi.EnvVaultToken)
		}
		if tok == "" {
			return nil, errors.New("vault auth: no token (set auth.token_file, auth.token_env or VAULT_TOKEN)")
		}
		s.client.SetToken(tok)
		look, err := s.client.Auth().Token().LookupSelfWithContext(ctx)
		if err != nil {
			return nil, fmt.Errorf("vault auth: token lookup: %w", err)
		}
		ttl, _ := look.TokenTTL()
		renewable, _ := look.TokenIsRenewable()
		return &vapi.Secret{Auth: &vapi.SecretAuth{ClientToken: tok, LeaseDuration: int(ttl / time.Second), Renewable: renewable}}, nil
	case "approle":
		if a.RoleID == "" || a.SecretIDFile == "" {
			return nil, errors.New("vault auth: approle needs role_id and secret_id_file")
		}
		if s.secretID == "" {
			v, err := readTrimmed(a.SecretIDFile, "secret id")
			if err != nil {
				return nil, err
			}
			if a.Wrapped {
				v, err = s.unwrapSecretID(ctx, v)
				if err != nil {
					return nil, err
				}
			}
			s.secretID = v
		}
		return s.write(ctx, "auth/"+orDefault(a.Mount, "approle")+"/login", map[string]any{"role_id": a.RoleID, "secret_id": s.secretID})
	case "kubernetes":
		jwt, err := readTrimmed(orDefault(a.K8sJWTFile, defaultK8sJWTFile), "kubernetes service account token")
		if err != nil {
			return nil, err
		}
		if a.K8sRole == "" {
			return nil, errors.New("vault auth: kubernetes needs k8s_role")
		}
		return s.write(ctx, "auth/"+orDefault(a.Mount, "kubernetes")+"/login", map[string]any{"role": a.K8sRole, "jwt": jwt})
	default:
		return nil, fmt.Errorf("vault auth: unknown method %q (want token, approle or kubernetes)", a.Method)
	}
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

func (s *VaultStore) write(ctx context.Context, path string, data map[string]any) (*vapi.Secret, error) {
	c, err := s.client.Clone()
	if err != nil {
		return nil, fmt.Errorf("vault auth: %w", err)
	}
	c.ClearToken()
	sec, err := c.Logical().WriteWithContext(ctx, path, data)
	if err != nil {
		return nil, fmt.Errorf("vault auth: login at %s: %w", path, err)
	}
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		return nil, fmt.Errorf("vault auth: login at %s returned no token", path)
	}
	s.client.SetToken(sec.Auth.ClientToken)
	return sec, nil
}

func (s *VaultStore) unwrapSecretID(ctx context.Context, wrapToken string) (string, error) {
	c, err := s.client.Clone()
	if err != nil {
		return "", fmt.Errorf("vault auth: %w", err)
	}
	c.ClearToken()
	sec, err := c.Logical().UnwrapWithContext(ctx, wrapToken)
	if err != nil {
		return "", fmt.Errorf("vault auth: unwrap secret id (a wrapping token works once; was it used already?): %w", err)
	}
	if sec == nil || sec.Data == nil {
		return "", errors.New("vault auth: unwrap secret id: empty response")
	}
	id, _ := sec.Data["secret_id"].(string)
	if id == "" {
		return "", errors.New("vault auth: unwrapped response has no secret_id")
	}
	return id, nil
}

// renewLoop keeps the token alive: the LifetimeWatcher renews it until it
// can no longer be extended (max TTL) or renewal fails; then we log in anew,
// retrying with backoff while Vault is away.
func (s *VaultStore) renewLoop() {
	defer close(s.done)
	backoff := 500 * time.Millisecond
	for {
		s.loginMu.Lock()
		sec, gen := s.authSec, s.authGen
		s.loginMu.Unlock()
		if sec.Auth.LeaseDuration > 0 {
			w, err := s.client.NewLifetimeWatcher(&vapi.LifetimeWatcherInput{Secret: sec})
			if err != nil {
				s.logf("vault: token watcher: %v", err)
			} else {
				go w.Start()
				select {
				case <-s.stop:
					w.Stop()
					return
				case err := <-w.DoneCh():
					if err != nil {
						s.logf("vault: token renewal ended: %v", err)
					}
				}
				w.Stop()
			}
		} else {
			// A token without TTL (root, or periodic without renewal)
			// needs no renewal; wait for a reactive re-login to change it.
			select {
			case <-s.stop:
				return
			case <-time.After(time.Minute):
				continue
			}
		}
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := s.login(ctx, gen)
			cancel()
			if err == nil {
				backoff = 500 * time.Millisecond
				break
			}
			s.logf("vault: re-login failed, retrying in %v: %v", backoff, err)
			select {
			case <-s.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, time.Minute)
		}
	}
}

// do runs op, and on "permission denied" (the token expired under us) logs
// in once more and retries.
func (s *VaultStore) do(ctx context.Context, op func() error) error {
	gen := s.generation()
	err := op()
	var re *vapi.ResponseError
	if err != nil && errors.As(err, &re) && re.StatusCode == http.StatusForbidden && s.cfg.Auth.Method != "" && s.cfg.Auth.Method != "token" {
		if lerr := s.login(ctx, gen); lerr != nil {
			return fmt.Errorf("%w (re-login failed: %v)", err, lerr)
		}
		err = op()
	}
	return err
}

func (s *VaultStore) kvPath(name string) string { return s.prefix + "/" + name }

func mapKVError(err error, name string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, vapi.ErrSecretNotFound) {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	var re *vapi.ResponseError
	if errors.As(err, &re) {
		if re.StatusCode == http.StatusNotFound {
			return fmt.Errorf("%w: %s", ErrNotFound, name)
		}
		for _, m := range re.Errors {
			if strings.Contains(m, "check-and-set parameter did not match") {
				return fmt.Errorf("%w: %s", ErrCASMismatch, name)
			}
		}
	}
	return fmt.Errorf("vault: %s: %w", name, err)
}

func encodeValue(v []byte) map[string]any {
	if utf8.Valid(v) {
		return map[string]any{"value": string(v)}
	}
	return map[string]any{"value": base64.StdEncoding.EncodeToString(v), "encoding": "base64"}
}

func decodeValue(data map[string]any) ([]byte, error) {
	v, ok := data["value"].(string)
	if !ok {
		return nil, errors.New("entry has no string \"value\" field")
	}
	if enc, _ := data["encoding"].(string); enc == "base64" {
		return base64.StdEncoding.DecodeString(v)
	}
	return []byte(v), nil
}

// Get implements Store.
func (s *VaultStore) Get(ctx context.Context, name string) (*Secret, error) {
	return s.GetVersion(ctx, name, 0)
}

// GetVersion implements Store.
func (s *VaultStore) GetVersion(ctx context.Context, name string, version int) (*Secret, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	return s.getRaw(ctx, s.kvPath(name), name, version)
}

func (s *VaultStore) getRaw(ctx context.Context, path, name string, version int) (*Secret, error) {
	var kvs *vapi.KVSecret
	err := s.do(ctx, func() error {
		var err error
		if version == 0 {
			kvs, err = s.kv.Get(ctx, path)
		} else {
			kvs, err = s.kv.GetVersion(ctx, path, version)
		}
		return err
	})
	if err != nil {
		return nil, mapKVError(err, name)
	}
	if kvs == nil || kvs.Data == nil || kvs.VersionMetadata == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	val, err := decodeValue(kvs.Data)
	if err != nil {
		return nil, fmt.Errorf("vault: %s: %w", name, err)
	}
	return &Secret{Name: name, Value: val, Version: kvs.VersionMetadata.Version, Created: kvs.VersionMetadata.CreatedTime}, nil
}

// Put implements Store.
func (s *VaultStore) Put(ctx context.Context, name string, value []byte, cas int) (int, error) {
	if err := validName(name); err != nil {
		return 0, err
	}
	if strings.HasPrefix(name, tokenCachePrefix) {
		return 0, fmt.Errorf("%w: %q is reserved for the token cache", ErrBadName, name)
	}
	return s.putRaw(ctx, s.kvPath(name), name, encodeValue(value), cas)
}

func (s *VaultStore) putRaw(ctx context.Context, path, name string, data map[string]any, cas int) (int, error) {
	var opts []vapi.KVOption
	if cas != NoCAS {
		opts = append(opts, vapi.WithCheckAndSet(cas))
	}
	var kvs *vapi.KVSecret
	err := s.do(ctx, func() error {
		var err error
		kvs, err = s.kv.Put(ctx, path, data, opts...)
		return err
	})
	if err != nil {
		return 0, mapKVError(err, name)
	}
	if kvs == nil || kvs.VersionMetadata == nil {
		return 0, fmt.Errorf("vault: %s: write returned no version", name)
	}
	return kvs.VersionMetadata.Version, nil
}

// List implements Store (the broker's token cache is not listed).
func (s *VaultStore) List(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	var walk func(dir string) error
	walk = func(dir string) error {
		var sec *vapi.Secret
		err := s.do(ctx, func() error {
			var err error
			sec, err = s.client.Logical().ListWithContext(ctx, s.mount+"/metadata/"+s.prefix+"/"+dir)
			return err
		})
		if err != nil {
			return mapKVError(err, dir)
		}
		if sec == nil || sec.Data == nil {
			return nil
		}
		keys, _ := sec.Data["keys"].([]any)
		for _, k := range keys {
			ks, _ := k.(string)
			full := dir + ks
			if full == tokenCachePrefix {
				continue
			}
			if strings.HasSuffix(ks, "/") {
				if err := walk(full); err != nil {
					return err
				}
			} else if strings.HasPrefix(full, prefix) {
				out = append(out, full)
			}
		}
		return nil
	}
	if err := walk(""); err != nil {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}

// Delete implements Store: all versions and the metadata go.
func (s *VaultStore) Delete(ctx context.Context, name string) error {
	if err := validName(name); err != nil {
		return err
	}
	if _, err := s.Versions(ctx, name); err != nil {
		return err
	}
	err := s.do(ctx, func() error { return s.kv.DeleteMetadata(ctx, s.kvPath(name)) })
	return mapKVError(err, name)
}

// Versions implements Store.
func (s *VaultStore) Versions(ctx context.Context, name string) ([]VersionInfo, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	var vs []vapi.KVVersionMetadata
	err := s.do(ctx, func() error {
		var err error
		vs, err = s.kv.GetVersionsAsList(ctx, s.kvPath(name))
		return err
	})
	if err != nil {
		return nil, mapKVError(err, name)
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	out := make([]VersionInfo, 0, len(vs))
	for _, v := range vs {
		out = append(out, VersionInfo{Version: v.Version, Created: v.CreatedTime, Deleted: v.Destroyed || !v.DeletionTime.IsZero()})
	}
	return out, nil
}

// GetToken implements TokenCache: the broker's shared token entries.
func (s *VaultStore) GetToken(ctx context.Context, key string) ([]byte, int, error) {
	sec, err := s.getRaw(ctx, s.kvPath(tokenCachePrefix+key), tokenCachePrefix+key, 0)
	if err != nil {
		return nil, 0, err
	}
	return sec.Value, sec.Version, nil
}

// PutToken implements TokenCache with check-and-set.
func (s *VaultStore) PutToken(ctx context.Context, key string, data []byte, cas int) error {
	_, err := s.putRaw(ctx, s.kvPath(tokenCachePrefix+key), tokenCachePrefix+key, encodeValue(data), cas)
	return err
}

// TokenCache is a store that can share broker tokens between gateway
// replicas (the Vault backend). Entries are written with check-and-set.
type TokenCache interface {
	GetToken(ctx context.Context, key string) (data []byte, version int, err error)
	PutToken(ctx context.Context, key string, data []byte, cas int) error
}
