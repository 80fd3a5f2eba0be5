package vault

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Credential types.
const (
	TypeClientCredentials = "oauth2_client_credentials"
	TypeGoogleSA          = "google_service_account"
	TypeJWTBearer         = "jwt_bearer"
	TypeBasic             = "basic"
	TypeHeader            = "header"
)

// SecretRef names a value in the secret store ({secret: NAME}); File is
// allowed only where the value is not secret (a certificate).
type SecretRef struct {
	Secret string `yaml:"secret"`
	File   string `yaml:"file,omitempty"`
}

// KeyRef names a signing key: a PEM private key in the store ({secret: NAME})
// or a Vault Transit key that never leaves Vault ({transit: KEYNAME}).
type KeyRef struct {
	Secret  string `yaml:"secret,omitempty"`
	Transit string `yaml:"transit,omitempty"`
}

// CredentialConfig is one entry of the serve config's `credentials:` map.
type CredentialConfig struct {
	Type     string   `yaml:"type"`
	TokenURL string   `yaml:"token_url"`
	ClientID string   `yaml:"client_id"`
	Scope    string   `yaml:"scope"`
	Scopes   []string `yaml:"scopes"`
	// ClientSecret (oauth2_client_credentials) — or PrivateKey for a
	// client assertion, with KeyID (the certificate thumbprint, hex as
	// the Azure portal shows it, or base64url) or Certificate to derive
	// the x5t header from.
	ClientSecret *SecretRef `yaml:"client_secret"`
	PrivateKey   *KeyRef    `yaml:"private_key"`
	KeyID        string     `yaml:"key_id"`
	Certificate  *SecretRef `yaml:"certificate"`
	// Audience: jwt_bearer's aud (default https://login.salesforce.com).
	Audience string `yaml:"audience"`
	// Issuer overrides iss for google_service_account (default client_id:
	// the service account email).
	Issuer string `yaml:"issuer"`
	// Username: for basic, the account; for jwt_bearer, a template mapping
	// the subject to the Salesforce username ("{subject}",
	// "{local}@crm.example"), used when SubjectMap has no entry.
	Username   string            `yaml:"username"`
	SubjectMap map[string]string `yaml:"subject_map"`
	Password   *SecretRef        `yaml:"password"`
	// Header kind: header name (default Authorization) and its value.
	Header string     `yaml:"header"`
	Value  *SecretRef `yaml:"value"`
}

func (c *CredentialConfig) scopes() []string {
	out := append([]string(nil), c.Scopes...)
	if c.Scope != "" {
		out = append(out, strings.Fields(c.Scope)...)
	}
	return out
}

// perSubject tells whether tokens differ per subject (delegation flows).
func (c *CredentialConfig) perSubject() bool {
	return c.Type == TypeGoogleSA || c.Type == TypeJWTBearer
}

func needSecret(r *SecretRef, field string) error {
	if r == nil || r.Secret == "" {
		return fmt.Errorf("%s: {secret: NAME} is required", field)
	}
	return nil
}

func validKey(k *KeyRef) error {
	if k == nil || (k.Secret == "") == (k.Transit == "") {
		return errors.New("private_key: exactly one of {secret: NAME} or {transit: KEYNAME} is required")
	}
	return nil
}

func validURL(s, field string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%s: %q is not an absolute http(s) URL", field, s)
	}
	return nil
}

// Validate checks a credential entry; the error names the bad field.
func (c *CredentialConfig) Validate() error {
	switch c.Type {
	case TypeClientCredentials:
		if err := validURL(c.TokenURL, "token_url"); err != nil {
			return err
		}
		if c.ClientID == "" {
			return errors.New("client_id is required")
		}
		if (c.ClientSecret == nil) == (c.PrivateKey == nil) {
			return errors.New("exactly one of client_secret or private_key is required")
		}
		if c.ClientSecret != nil {
			return needSecret(c.ClientSecret, "client_secret")
		}
		if err := validKey(c.PrivateKey); err != nil {
			return err
		}
		if c.KeyID == "" && c.Certificate == nil {
			return errors.New("a client assertion needs key_id (certificate thumbprint) or certificate")
		}
		if c.KeyID != "" {
			if _, err := x5tFromKeyID(c.KeyID); err != nil {
				return err
			}
		}
	case TypeGoogleSA:
		if c.TokenURL == "" {
			c.TokenURL = "https://oauth2.googleapis.com/token"
		}
		if err := validURL(c.TokenURL, "token_url"); err != nil {
			return err
		}
		if c.ClientID == "" && c.Issuer == "" {
			return errors.New("client_id (the service account email) is required")
		}
		if len(c.scopes()) == 0 {
			return errors.New("scopes are required")
		}
		return validKey(c.PrivateKey)
	case TypeJWTBearer:
		if c.Audience == "" {
			c.Audience = "https://login.salesforce.com"
		}
		if c.TokenURL == "" {
			c.TokenURL = strings.TrimRight(c.Audience, "/") + "/services/oauth2/token"
		}
		if err := validURL(c.TokenURL, "token_url"); err != nil {
			return err
		}
		if c.ClientID == "" {
			return errors.New("client_id (the consumer key) is required")
		}
		if c.Username == "" && len(c.SubjectMap) == 0 {
			return errors.New("username (a template such as \"{subject}\") or subject_map is required")
		}
		return validKey(c.PrivateKey)
	case TypeBasic:
		if c.Username == "" {
			return errors.New("username is required")
		}
		return needSecret(c.Password, "password")
	case TypeHeader:
		if c.Header == "" {
			c.Header = "Authorization"
		}
		return needSecret(c.Value, "value")
	default:
		return fmt.Errorf("type %q is not one of %s, %s, %s, %s, %s", c.Type, TypeClientCredentials, TypeGoogleSA, TypeJWTBearer, TypeBasic, TypeHeader)
	}
	return nil
}

// x5tFromKeyID accepts a SHA-1 thumbprint as hex (the Azure portal's form)
// or already base64url-encoded.
func x5tFromKeyID(id string) (string, error) {
	h := strings.ReplaceAll(strings.ReplaceAll(id, ":", ""), " ", "")
	if len(h) == 40 {
		if b, err := hex.DecodeString(h); err == nil {
			return base64.RawURLEncoding.EncodeToString(b), nil
		}
	}
	if b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(id, "=")); err == nil && len(b) == 20 {
		return base64.RawURLEncoding.EncodeToString(b), nil
	}
	return "", fmt.Errorf("key_id %q is not a SHA-1 certificate thumbprint (40 hex characters or base64url)", id)
}

// username maps a subject to the Salesforce username.
func (c *CredentialConfig) username(subject string) (string, error) {
	if u, ok := c.SubjectMap[subject]; ok {
		return u, nil
	}
	for k, u := range c.SubjectMap { // keys as written; subjects arrive normalised
		if asciiLower(k) == asciiLower(subject) {
			return u, nil
		}
	}
	if c.Username == "" {
		return "", fmt.Errorf("subject %q has no entry in subject_map", subject)
	}
	local, domain, _ := strings.Cut(subject, "@")
	r := strings.NewReplacer("{subject}", subject, "{local}", local, "{domain}", domain)
	return r.Replace(c.Username), nil
}
