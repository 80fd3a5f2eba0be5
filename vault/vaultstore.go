package vault

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	vapi "github.com/hashicorp/vault/api"
	"github.com/rs/zerolog"

	"github.com/syncgate/syncgate/internal/keyfile"
)

const (
	tokenCachePrefix  = "_tokens/"
	defaultK8sJWTFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
)

// VaultStore keeps secrets in HashiCorp Vault KV v2 (one KV entry per secret,
// under a path prefix) and owns the Vault login: a goroutine renews the
// token with a LifetimeWatcher and logs in again when renewal ends or the
// token turns out dead; Close stops it. AuthError says whether the store
// can reach Vault with a valid token.
type VaultStore struct {
	client *vapi.Client
	kv     *vapi.KVv2
	mount  string
	prefix string
	cfg    StoreConfig
	log    zerolog.Logger
	onAuth func(error)

	loginMu   sync.Mutex // one login at a time
	wrapToken string     // the wrapping token last unwrapped from secret_id_file ...
	unwrapped string     // ... and the secret id it held (a wrapping token works once)
	authSec   *vapi.Secret
	authGen   int // bumps at every login, so a stale 403 retry does not log in twice

	stateMu     sync.Mutex
	expiry      time.Time // when the token expires; zero: never
	dead        bool      // Vault refused the token: expired or revoked
	loginErr    error     // the last login failure; nil after a success
	nextLogin   time.Time // no reactive login before this (after a failure)
	backoff     time.Duration
	failures    uint64
	reportedErr bool // what onAuth last heard

	transit *Transit
	kick    chan struct{} // wakes the renewal loop: the token died
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	started bool
}

// Vault errors callers may tell apart with errors.Is.
var (
	// ErrPermissionDenied: Vault's ACL policies do not grant the
	// operation. A configuration error: logging in again does not help.
	// The error is a *PermissionError naming the path and capability.
	ErrPermissionDenied = errors.New("vault: permission denied")
	// ErrTokenInvalid: the Vault token expired or was revoked, and no new
	// one could be had.
	ErrTokenInvalid = errors.New("vault: token expired or revoked")
)

// PermissionError is a 403 from Vault's ACL for a token that is valid: the
// token's policies lack Capability on Path.
type PermissionError struct {
	Path       string // the API path, e.g. secret/data/syncgate/graph/client-secret
	Capability string // read, list, create or update, delete
	Err        error
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("Vault permission denied: the token's policies do not grant %q on %s (a Vault policy change is needed; logging in again will not help)", e.Capability, e.Path)
}

// Is makes errors.Is(err, ErrPermissionDenied) true.
func (e *PermissionError) Is(target error) bool { return target == ErrPermissionDenied }

func (e *PermissionError) Unwrap() error { return e.Err }

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
	s := &VaultStore{client: client, cfg: c, log: o.Logger, onAuth: o.OnAuthChange,
		kick: make(chan struct{}, 1), done: make(chan struct{})}
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
	s.transit.do = s.do
	if err := s.login(ctx, 0); err != nil {
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.started = true
	go s.renewLoop()
	return s, nil
}

// Client returns the logged-in Vault client (its token is kept fresh).
func (s *VaultStore) Client() *vapi.Client { return s.client }

// Transit returns a signer for the store's Transit mount.
func (s *VaultStore) Transit() *Transit { return s.transit }

// Close stops the token renewal. It is safe on a nil or failed store.
func (s *VaultStore) Close() error {
	if s == nil || !s.started {
		return nil
	}
	s.cancel()
	<-s.done
	return nil
}

// AuthError is nil while the store holds a token Vault should accept. It
// says why not when the token expired or was refused and logging in again
// failed (for the gateway's readiness).
func (s *VaultStore) AuthError() error {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	return s.authErrLocked(time.Now())
}

func (s *VaultStore) authErrLocked(now time.Time) error {
	if s.loginErr == nil || s.usableLocked(now) {
		return nil
	}
	return fmt.Errorf("%w, and logging in again fails: %v", ErrTokenInvalid, s.loginErr)
}

func (s *VaultStore) usableLocked(now time.Time) bool {
	return !s.dead && (s.expiry.IsZero() || now.Before(s.expiry))
}

// LoginFailures counts failed Vault logins since the store opened.
func (s *VaultStore) LoginFailures() uint64 {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	return s.failures
}

// report tells onAuth when the auth state flips.
func (s *VaultStore) report() {
	s.stateMu.Lock()
	err := s.authErrLocked(time.Now())
	changed := (err != nil) != s.reportedErr
	s.reportedErr = err != nil
	s.stateMu.Unlock()
	if !changed {
		return
	}
	if err != nil {
		s.log.Error().Msgf("vault: lost access: %v", err)
	} else {
		s.log.Info().Msgf("vault: logged in again; access restored")
	}
	if s.onAuth != nil {
		s.onAuth(err)
	}
}

// markDead records that Vault refused the current token.
func (s *VaultStore) markDead() {
	s.stateMu.Lock()
	s.dead = true
	s.stateMu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// login logs in unless another login happened since generation gen, and
// records the outcome.
func (s *VaultStore) login(ctx context.Context, gen int) error {
	s.loginMu.Lock()
	if gen != s.authGen {
		s.loginMu.Unlock()
		return nil
	}
	sec, err := s.doLogin(ctx)
	now := time.Now()
	s.stateMu.Lock()
	if err != nil {
		s.loginErr = err
		s.failures++
		s.backoff = min(max(2*s.backoff, 500*time.Millisecond), time.Minute)
		s.nextLogin = now.Add(s.backoff)
	} else {
		s.loginErr, s.dead, s.backoff, s.nextLogin = nil, false, 0, time.Time{}
		s.expiry = time.Time{}
		if sec.Auth.LeaseDuration > 0 {
			s.expiry = now.Add(time.Duration(sec.Auth.LeaseDuration) * time.Second)
		}
		s.authSec = sec
		s.authGen++
	}
	s.stateMu.Unlock()
	s.loginMu.Unlock()
	if err != nil && s.started {
		s.log.Error().Msgf("vault: login failed: %v", err)
	}
	s.report()
	return err
}

func (s *VaultStore) generation() int {
	s.loginMu.Lock()
	defer s.loginMu.Unlock()
	return s.authGen
}

// readPrivate is readTrimmed for a file that holds a credential of the
// gateway's own (a Vault token, a secret id): like every private key it is
// refused while group or others may read it, with keyfile's message.
func readPrivate(path, what string) (string, error) {
	if err := keyfile.CheckPrivate(path, "Vault "+what+" file"); err != nil {
		return "", err
	}
	return readTrimmed(path, what)
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
// token, for the LifetimeWatcher. Every login reads its inputs anew (token
// file, secret_id_file, service-account token), so an orchestrator can
// rotate them.
func (s *VaultStore) doLogin(ctx context.Context) (*vapi.Secret, error) {
	a := s.cfg.Auth
	switch a.Method {
	case "", "token":
		tok := a.Token
		switch {
		case a.TokenFile != "":
			t, err := readPrivate(a.TokenFile, "token")
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
			if isStatus(err, 403) && !isACLDenial(err) {
				return nil, errors.New("vault auth: the token was refused (expired, revoked or not a token)")
			}
			return nil, fmt.Errorf("vault auth: token lookup: %s", describeVaultErr(err))
		}
		ttl, _ := look.TokenTTL()
		renewable, _ := look.TokenIsRenewable()
		return &vapi.Secret{Auth: &vapi.SecretAuth{ClientToken: tok, LeaseDuration: int(ttl / time.Second), Renewable: renewable}}, nil
	case "approle":
		if a.RoleID == "" || a.SecretIDFile == "" {
			return nil, errors.New("vault auth: approle needs role_id and secret_id_file")
		}
		v, err := readPrivate(a.SecretIDFile, "secret id")
		if err != nil {
			return nil, err
		}
		fromCache := false
		if a.Wrapped {
			if v == s.wrapToken && s.unwrapped != "" {
				v, fromCache = s.unwrapped, true
			} else {
				id, err := s.unwrapSecretID(ctx, v)
				if err != nil {
					return nil, fmt.Errorf("%w (secret_id_file %s)", err, a.SecretIDFile)
				}
				s.wrapToken, s.unwrapped = v, id
				v = id
			}
		}
		sec, err := s.write(ctx, "auth/"+orDefault(a.Mount, "approle")+"/login", map[string]any{"role_id": a.RoleID, "secret_id": v})
		if err != nil && fromCache {
			err = fmt.Errorf("%w; the secret id was unwrapped earlier from %s, which still holds the same (used) wrapping token: deliver a new one", err, a.SecretIDFile)
		}
		return sec, err
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
		return nil, fmt.Errorf("vault auth: login at %s: %s", path, describeVaultErr(err))
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
		msg := describeVaultErr(err)
		if isStatus(err, 400) {
			msg += "; a wrapping token works once and expires: was it used or did it expire?"
		}
		return "", fmt.Errorf("vault auth: unwrap secret id: %s", msg)
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
// can no longer be extended (max TTL) or renewal fails, or a request finds
// it dead; then it logs in anew, retrying with backoff while Vault is away
// or refuses the login.
func (s *VaultStore) renewLoop() {
	defer close(s.done)
	for {
		s.loginMu.Lock()
		sec, gen := s.authSec, s.authGen
		s.loginMu.Unlock()
		if !s.watch(sec, gen) {
			return
		}
		if s.generation() != gen {
			continue // a request logged in meanwhile
		}
		for {
			ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
			err := s.login(ctx, gen)
			if err != nil {
				s.probeToken(ctx) // is the token we still hold any good?
			}
			cancel()
			if err == nil || s.generation() != gen {
				break
			}
			s.stateMu.Lock()
			wait := s.backoff
			s.stateMu.Unlock()
			s.log.Info().Msgf("vault: retrying the login in %v", wait)
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(wait):
			}
		}
	}
}

// watch renews sec until the watcher ends, the token is found dead or
// another login replaced it; false when the store is closing.
func (s *VaultStore) watch(sec *vapi.Secret, gen int) bool {
	if sec.Auth.LeaseDuration <= 0 {
		// A token without TTL (root) needs no renewal; wait for a
		// request to find it dead.
		select {
		case <-s.ctx.Done():
			return false
		case <-s.kick:
			return true
		}
	}
	w, err := s.client.NewLifetimeWatcher(&vapi.LifetimeWatcherInput{Secret: sec})
	if err != nil {
		s.log.Error().Msgf("vault: token watcher: %v", err)
		return true
	}
	go w.Start()
	defer w.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return false
		case <-s.kick:
			if s.generation() != gen || s.tokenDead() {
				return true
			}
		case r := <-w.RenewCh():
			if r != nil && r.Secret != nil && r.Secret.Auth != nil && s.generation() == gen {
				s.stateMu.Lock()
				s.expiry = r.RenewedAt.Add(time.Duration(r.Secret.Auth.LeaseDuration) * time.Second)
				s.stateMu.Unlock()
			}
		case err := <-w.DoneCh():
			if err != nil {
				s.log.Info().Msgf("vault: token renewal ended: %s", describeVaultErr(err))
			}
			return true
		}
	}
}

func (s *VaultStore) tokenDead() bool {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	return s.dead
}

// probeToken asks Vault whether the current token still works, and marks
// it dead if Vault refuses it.
func (s *VaultStore) probeToken(ctx context.Context) {
	if valid, known := s.tokenValid(ctx); known && !valid {
		s.markDead()
		s.report()
	}
}

// tokenValid asks lookup-self. known is false when Vault could not say
// (unreachable, sealed).
func (s *VaultStore) tokenValid(ctx context.Context) (valid, known bool) {
	_, err := s.client.Auth().Token().LookupSelfWithContext(ctx)
	switch {
	case err == nil:
		return true, true
	case isStatus(err, 403):
		// A policy without lookup-self on a live token is an ACL
		// denial; a dead token gets the bare "permission denied".
		return isACLDenial(err), true
	}
	return false, false
}

// do runs op. A 403 is either the ACL refusing a live token (a
// *PermissionError: no login helps) or a dead token: then it logs in once
// more (unless a login failed moments ago) and retries.
func (s *VaultStore) do(ctx context.Context, op func() error) error {
	gen := s.generation()
	err := op()
	var re *vapi.ResponseError
	if err == nil || !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
		return err
	}
	if !s.tokenDead() {
		valid, known := s.tokenValid(ctx)
		if !known {
			return err
		}
		if valid {
			return permissionError(re)
		}
		s.markDead()
	}
	s.stateMu.Lock()
	wait := time.Until(s.nextLogin)
	lastErr := s.loginErr
	s.stateMu.Unlock()
	if wait > 0 && lastErr != nil && s.generation() == gen {
		return fmt.Errorf("%w; the last login failed (next attempt in %v): %v", ErrTokenInvalid, wait.Round(time.Millisecond), lastErr)
	}
	if lerr := s.login(ctx, gen); lerr != nil {
		return fmt.Errorf("%w, and logging in again failed: %v", ErrTokenInvalid, lerr)
	}
	select {
	case s.kick <- struct{}{}: // the loop watches the new token
	default:
	}
	err = op()
	if errors.As(err, &re) && re.StatusCode == http.StatusForbidden {
		if valid, known := s.tokenValid(ctx); known && valid {
			return permissionError(re)
		}
		s.markDead()
		return fmt.Errorf("%w: Vault refused a token it had just issued", ErrTokenInvalid)
	}
	return err
}

// permissionError names the path and capability of a denied request.
func permissionError(re *vapi.ResponseError) error {
	pe := &PermissionError{Err: re, Path: "(unknown path)"}
	if u, err := url.Parse(re.URL); err == nil {
		pe.Path = strings.TrimPrefix(u.Path, "/v1/")
		if u.Query().Get("list") == "true" {
			re.HTTPMethod = "LIST"
		}
	}
	switch re.HTTPMethod {
	case http.MethodGet:
		pe.Capability = "read"
	case "LIST":
		pe.Capability = "list"
	case http.MethodDelete:
		pe.Capability = "delete"
	case http.MethodPatch:
		pe.Capability = "patch"
	default:
		pe.Capability = "create or update"
	}
	return pe
}

func isStatus(err error, status int) bool {
	var re *vapi.ResponseError
	return errors.As(err, &re) && re.StatusCode == status
}

// isACLDenial tells Vault's ACL refusal of a live token — the errors of a
// go-multierror, "1 error occurred:\n\t* permission denied\n\n" — from a
// refused token: "permission denied" bare (OpenBao, Vault before 1.16) or
// together with "invalid token" (Vault 1.16 and later, whose token concept
// page documents both answers).
func isACLDenial(err error) bool {
	var re *vapi.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	for _, m := range vaultMessages(re.Errors) {
		if m == "invalid token" || m == "bad token" {
			return false
		}
	}
	for _, m := range re.Errors {
		if strings.Contains(m, "error occurred:") || strings.Contains(m, "errors occurred:") {
			return true
		}
	}
	return false
}

// vaultMessages flattens Vault's error strings: a go-multierror text
// becomes its "* " items.
func vaultMessages(errs []string) []string {
	var out []string
	for _, m := range errs {
		if !strings.Contains(m, "occurred:") {
			if m = strings.TrimSpace(m); m != "" {
				out = append(out, m)
			}
			continue
		}
		for _, line := range strings.Split(m, "\n") {
			if item, ok := strings.CutPrefix(strings.TrimSpace(line), "* "); ok && item != "" {
				out = append(out, item)
			}
		}
	}
	return out
}

// describeVaultErr says in one line what Vault answered, without the
// request URL: "Vault answered 400 (invalid role or secret ID)", or why it
// could not be reached.
func describeVaultErr(err error) string {
	var pe *PermissionError
	if errors.As(err, &pe) {
		return pe.Error()
	}
	var re *vapi.ResponseError
	if errors.As(err, &re) {
		msg := "Vault answered " + strconv.Itoa(re.StatusCode)
		if ms := vaultMessages(re.Errors); len(ms) > 0 {
			msg += " (" + firstLine(strings.Join(ms, "; "), 200) + ")"
		}
		return msg
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return "Vault unreachable: " + firstLine(ue.Err.Error(), 200)
	}
	return firstLine(err.Error(), 200)
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
