package vault

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Store errors, for errors.Is.
var (
	// ErrNotFound: no such secret (or no such version).
	ErrNotFound = errors.New("secret not found")
	// ErrCASMismatch: a check-and-set write lost to another writer.
	ErrCASMismatch = errors.New("check-and-set version mismatch")
	// ErrWrongKey: the file store's key does not open the file.
	ErrWrongKey = errors.New("wrong secret store key")
	// ErrBadName: a secret name that the stores refuse.
	ErrBadName = errors.New("invalid secret name")
)

// NoCAS makes Put write unconditionally. CAS 0 means "only if the secret does
// not exist"; n > 0 means "only if the current version is n".
const NoCAS = -1

// Secret is one version of a secret value.
type Secret struct {
	Name    string
	Value   []byte
	Version int
	Created time.Time
}

// VersionInfo describes one version without its value.
type VersionInfo struct {
	Version int
	Created time.Time
	Deleted bool
}

// Store is a versioned secret store. Implementations are safe for concurrent use.
type Store interface {
	// Get returns the latest version.
	Get(ctx context.Context, name string) (*Secret, error)
	// GetVersion returns one version; 0 means latest.
	GetVersion(ctx context.Context, name string, version int) (*Secret, error)
	// Put writes a new version and returns its number; see NoCAS for cas.
	Put(ctx context.Context, name string, value []byte, cas int) (int, error)
	// List returns the names under prefix ("" for all), sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// Delete removes the secret with all its versions.
	Delete(ctx context.Context, name string) error
	// Versions lists the versions of a secret, oldest first.
	Versions(ctx context.Context, name string) ([]VersionInfo, error)
	// Close releases resources (and stops the Vault token renewal).
	Close() error
}

// StoreConfig is the `secrets:` section of the serve config. Relative paths
// are resolved by the caller (see ResolvePaths).
type StoreConfig struct {
	// Backend is "file" (default) or "vault".
	Backend string `yaml:"backend"`
	// Path is the file store's file; for Vault, the KV path prefix
	// (default "syncgate").
	Path string `yaml:"path"`
	// KeyFile holds the file store key: 32 raw bytes, or 64 hex or
	// base64 characters. KeyEnv names an environment variable holding hex
	// or base64 instead.
	KeyFile string `yaml:"key_file"`
	KeyEnv  string `yaml:"key_env"`

	// Address of Vault; VAULT_ADDR when empty. VAULT_CACERT and
	// VAULT_NAMESPACE are honoured; CACert and Namespace override them.
	Address   string    `yaml:"address"`
	CACert    string    `yaml:"ca_cert"`
	Namespace string    `yaml:"namespace"`
	Mount     string    `yaml:"mount"` // KV v2 mount, default "secret"
	Auth      VaultAuth `yaml:"auth"`
	// TransitMount is the Transit engine mount, default "transit".
	TransitMount string `yaml:"transit_mount"`
}

// VaultAuth selects how the store logs in to Vault.
type VaultAuth struct {
	// Method is "token" (default), "approle" or "kubernetes".
	Method string `yaml:"method"`
	// Token is a literal token (discouraged: prefer TokenFile or
	// TokenEnv); all empty means VAULT_TOKEN.
	Token     string `yaml:"token"`
	TokenEnv  string `yaml:"token_env"`
	TokenFile string `yaml:"token_file"`
	// AppRole.
	Mount        string `yaml:"mount"` // auth mount, default "approle" / "kubernetes"
	RoleID       string `yaml:"role_id"`
	SecretIDFile string `yaml:"secret_id_file"`
	// Wrapped: the secret id file holds a response-wrapping token.
	Wrapped bool `yaml:"wrapped"`
	// Kubernetes.
	K8sRole    string `yaml:"k8s_role"`
	K8sJWTFile string `yaml:"k8s_jwt_file"` // default /var/run/secrets/kubernetes.io/serviceaccount/token
}

// ResolvePaths makes relative file paths relative to dir (the config file's
// directory), as the serve config promises.
func (c *StoreConfig) ResolvePaths(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	if c.Backend == "" || c.Backend == "file" {
		abs(&c.Path)
	}
	abs(&c.KeyFile)
	abs(&c.CACert)
	abs(&c.Auth.TokenFile)
	abs(&c.Auth.SecretIDFile)
	abs(&c.Auth.K8sJWTFile)
}

// OpenOptions carries what a store needs beyond its config.
type OpenOptions struct {
	// Now is the clock for version timestamps; time.Now when nil.
	Now func() time.Time
	// Logger receives operational messages at info and failures an
	// operator must act on (a failed Vault login) at error; never a secret
	// value. The zero Logger logs nothing.
	Logger zerolog.Logger
	// OnAuthChange is called when the Vault store loses its last valid
	// token and cannot log in again (err says why), and again with nil
	// when it has one anew. May be nil.
	OnAuthChange func(err error)
}

// Open opens the store the config names.
func Open(ctx context.Context, c StoreConfig, o OpenOptions) (Store, error) {
	switch c.Backend {
	case "", "file":
		return OpenFileStore(c, o)
	case "vault":
		s, err := OpenVaultStore(ctx, c, o)
		if err != nil {
			return nil, err // not a typed nil *VaultStore in the interface
		}
		return s, nil
	default:
		return nil, fmt.Errorf("secrets: unknown backend %q (want file or vault)", c.Backend)
	}
}

func validName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//") || len(name) > 512 {
		return fmt.Errorf("%w: %q", ErrBadName, name)
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("%w: %q", ErrBadName, name)
		}
	}
	for _, r := range name {
		if r < 0x21 || r == 0x7f || r == '?' || r == '#' || r == '%' {
			return fmt.Errorf("%w: %q", ErrBadName, name)
		}
	}
	return nil
}
