package emulate

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is defined as the SHA-1 thumbprint
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/people/v1"

	"github.com/syncgate/syncgate/emulate/ews"
	"github.com/syncgate/syncgate/emulate/google"
	"github.com/syncgate/syncgate/emulate/microsoft"
	"github.com/syncgate/syncgate/emulate/salesforce"
)

// Files SeedDemo writes into its directory. Secrets and private keys are
// 0600, certificates and the identifier summary 0644.
const (
	SeededFile             = "seeded.json"             // the Seeded struct: identifiers and paths, no secret
	MicrosoftSecretFile    = "microsoft-client-secret" // 0600: the app's client secret
	MicrosoftKeyFile       = "microsoft-app.key"       // 0600: RSA key for client assertions (PKCS#8 PEM)
	MicrosoftCertFile      = "microsoft-app.pem"       // the certificate registered on the app
	GoogleKeyFile          = "google-sa.key"           // 0600: the service account's RSA key (PKCS#8 PEM)
	GoogleKeyJSONFile      = "google-sa.json"          // 0600: the same key as a Google JSON key file
	SalesforceKeyFile      = "salesforce-app.key"      // 0600: the connected app's RSA key (PKCS#8 PEM)
	SalesforceCertFile     = "salesforce-app.pem"      // the certificate uploaded to the connected app
	EWSPasswordFile        = "ews-password"            // 0600: the EWS service account's password
	VaultTokenFile         = "vault-token"             // 0600: the Vault emulator's root token
	demoSalesforceAudience = "https://login.salesforce.com"
)

// Fixed demo identifiers: stable across runs so configs can name them.
// Secrets and keys are fresh on every SeedDemo.
const (
	DemoTenantID           = "7c0ffee0-5ca1-4e00-9000-00000000d3e0"
	DemoMicrosoftClientID  = "5e7c0a11-0000-4000-8000-00000000a991"
	DemoGoogleClientEmail  = "syncgate-demo@syncgate-demo.iam.gserviceaccount.com"
	DemoGoogleClientID     = "100000000000000000042"
	DemoSalesforceKey      = "3MVG9syncgate.demo.connected.app.consumer.key"
	DemoSalesforceAppName  = "syncgate demo"
	DemoEWSUser            = `CORP\svc-syncgate`
	demoGoogleProject      = "syncgate-demo"
	demoMicrosoftUserIDFmt = "0000000%d-0000-4000-8000-0000000000%02d"
)

// Seeded is what SeedDemo registered, for a gateway configuration. It
// holds identifiers and file paths only; secret values stay in the files.
type Seeded struct {
	Dir        string         `json:"dir"`
	Domain     string         `json:"domain"`
	Users      []string       `json:"users"`
	Microsoft  MicrosoftSeed  `json:"microsoft"`
	Google     GoogleSeed     `json:"google"`
	Salesforce SalesforceSeed `json:"salesforce"`
	EWS        EWSSeed        `json:"ews"`
	Vault      VaultSeed      `json:"vault"`
}

// MicrosoftSeed is the Entra tenant and app registration.
type MicrosoftSeed struct {
	TenantID         string            `json:"tenant_id"`
	ClientID         string            `json:"client_id"`
	TokenURL         string            `json:"token_url"`
	Scope            string            `json:"scope"`
	ClientSecretFile string            `json:"client_secret_file"`
	KeyFile          string            `json:"key_file"`
	CertFile         string            `json:"cert_file"`
	CertThumbprint   string            `json:"cert_thumbprint"` // SHA-1 hex, as the Azure portal shows it
	UserIDs          map[string]string `json:"user_ids"`        // UPN -> object id
}

// GoogleSeed is the service account with domain-wide delegation.
type GoogleSeed struct {
	ClientEmail string   `json:"client_email"`
	ClientID    string   `json:"client_id"`
	KeyID       string   `json:"key_id"`
	TokenURL    string   `json:"token_url"`
	Scopes      []string `json:"scopes"`
	KeyFile     string   `json:"key_file"`
	KeyJSONFile string   `json:"key_json_file"`
}

// SalesforceSeed is the connected app for the JWT bearer flow.
type SalesforceSeed struct {
	ConsumerKey string            `json:"consumer_key"`
	TokenURL    string            `json:"token_url"`
	Audience    string            `json:"audience"`
	InstanceURL string            `json:"instance_url"`
	KeyFile     string            `json:"key_file"`
	CertFile    string            `json:"cert_file"`
	UserIDs     map[string]string `json:"user_ids"` // username -> 005 id
}

// EWSSeed is the on-premises service account with impersonation rights.
type EWSSeed struct {
	URL          string   `json:"url"`
	Username     string   `json:"username"`
	PasswordFile string   `json:"password_file"`
	Mailboxes    []string `json:"mailboxes"`
}

// VaultSeed is how to reach the Vault emulator.
type VaultSeed struct {
	Address   string `json:"address"` // https://VaultHost; also /v1/ on the listener's loopback address
	TokenFile string `json:"token_file"`
}

// SeedDemo registers the demo credentials and data in every emulator and
// writes what a gateway needs into dir (created 0700 if missing). It runs
// once per Set; a second call fails rather than register a second set of
// secrets. Nothing secret is returned, logged or put in an error.
func (s *Set) SeedDemo(dir string) (*Seeded, error) {
	s.seedMu.Lock()
	defer s.seedMu.Unlock()
	if s.seeded {
		return nil, errors.New("emulate: seed: this emulator set is already seeded")
	}
	if dir == "" {
		return nil, errors.New("emulate: seed: an output directory is required")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("emulate: seed: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("emulate: seed: %w", err)
	}
	// One user per mailbox kind in the demo: alice on Graph, bob on Google,
	// carol on Exchange on-premises (EWS); each exists everywhere.
	users := []string{"alice@" + s.domain, "bob@" + s.domain, "carol@" + s.domain}
	out := &Seeded{Dir: abs, Domain: s.domain, Users: users}
	sd := seeder{set: s, dir: abs, users: users, now: s.clk.Now().UTC()}
	steps := []struct {
		name string
		fn   func(*Seeded) error
	}{
		{"microsoft", sd.microsoft}, {"google", sd.google}, {"salesforce", sd.salesforce},
		{"ews", sd.ews}, {"vault", sd.vault},
	}
	for _, st := range steps {
		if err := st.fn(out); err != nil {
			return nil, fmt.Errorf("emulate: seed %s: %w", st.name, err)
		}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("emulate: seed: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(abs, SeededFile), append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("emulate: seed: %w", err)
	}
	s.seeded = true
	return out, nil
}

type seeder struct {
	set   *Set
	dir   string
	users []string
	now   time.Time
}

func (sd seeder) path(name string) string { return filepath.Join(sd.dir, name) }

// day returns hh:mm UTC, n days after today.
func (sd seeder) day(n, hh, mm int) time.Time {
	d := sd.now.Truncate(24 * time.Hour)
	return d.AddDate(0, 0, n).Add(time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute)
}

func local(email string) string { l, _, _ := strings.Cut(email, "@"); return l }

func title(v string) string {
	if v == "" {
		return v
	}
	return strings.ToUpper(v[:1]) + v[1:]
}

// person is a demo contact.
type person struct{ first, last, email, company, title, phone string }

func (sd seeder) microsoft(out *Seeded) error {
	ms := sd.set.Microsoft
	secret, err := randomSecret()
	if err != nil {
		return err
	}
	key, certPEM, thumb, err := newKeyAndCert("syncgate demo Graph app", sd.now)
	if err != nil {
		return err
	}
	if err := ms.AddTenant(microsoft.Tenant{ID: DemoTenantID, Domains: []string{sd.set.domain, "corp.onmicrosoft.com"}}); err != nil {
		return err
	}
	if err := ms.AddApp(microsoft.App{TenantID: DemoTenantID, ClientID: DemoMicrosoftClientID, ClientSecret: secret,
		CertificatePEM: string(certPEM), Permissions: []string{"Contacts.ReadWrite", "Calendars.ReadWrite"}}); err != nil {
		return err
	}
	m := MicrosoftSeed{
		TenantID: DemoTenantID, ClientID: DemoMicrosoftClientID,
		TokenURL: "https://" + microsoft.LoginHost + "/" + DemoTenantID + "/oauth2/v2.0/token", Scope: microsoft.GraphScope,
		ClientSecretFile: sd.path(MicrosoftSecretFile), KeyFile: sd.path(MicrosoftKeyFile), CertFile: sd.path(MicrosoftCertFile),
		CertThumbprint: thumb, UserIDs: map[string]string{},
	}
	if err := writeFileAtomic(m.ClientSecretFile, []byte(secret+"\n"), 0o600); err != nil {
		return err
	}
	if err := writeKeyPair(m.KeyFile, m.CertFile, key, certPEM); err != nil {
		return err
	}
	for i, u := range sd.users {
		id := fmt.Sprintf(demoMicrosoftUserIDFmt, i+1, i+1)
		if err := ms.AddUser(microsoft.User{TenantID: DemoTenantID, ID: id, UserPrincipalName: u, DisplayName: title(local(u)), Mail: u}); err != nil {
			return err
		}
		m.UserIDs[u] = id
		for _, p := range []person{
			{"Lena", "Fischer", "lena.fischer@fabrikam.example", "Fabrikam", "Buyer", "+49 30 5550100"},
			{"Dana", "Whitfield", "dana.whitfield@northwind.example", "Northwind Traders", "CFO", "+1 206 555 0142"},
		} {
			if _, err := ms.AddContact(id, "", map[string]any{
				"givenName": p.first, "surname": p.last, "companyName": p.company, "jobTitle": p.title,
				"emailAddresses": []any{map[string]any{"address": p.email, "name": p.first + " " + p.last}},
				"businessPhones": []any{p.phone},
			}); err != nil {
				return err
			}
		}
		for _, ev := range []struct {
			subject    string
			start, end time.Time
		}{
			{"Team stand-up", sd.day(1, 9, 0), sd.day(1, 9, 15)},
			{"Fabrikam renewal prep", sd.day(2, 13, 0), sd.day(2, 14, 0)},
		} {
			if _, err := ms.AddEvent(id, map[string]any{
				"subject":  ev.subject,
				"body":     map[string]any{"contentType": "text", "content": "Seeded by syncgate emulate"},
				"start":    map[string]any{"dateTime": ev.start.Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
				"end":      map[string]any{"dateTime": ev.end.Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
				"location": map[string]any{"displayName": "Teams"},
			}); err != nil {
				return err
			}
		}
	}
	out.Microsoft = m
	return nil
}

func (sd seeder) google(out *Seeded) error {
	g := sd.set.Google
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return fmt.Errorf("marshal public key: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return err
	}
	kid := randomHex(20)
	scopes := []string{google.ScopeCalendar, google.ScopeContacts}
	if err := g.AddServiceAccount(google.ServiceAccount{
		ClientEmail: DemoGoogleClientEmail, ClientID: DemoGoogleClientID, KeyID: kid,
		PublicKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})), DWDScopes: scopes,
	}); err != nil {
		return err
	}
	gs := GoogleSeed{ClientEmail: DemoGoogleClientEmail, ClientID: DemoGoogleClientID, KeyID: kid, TokenURL: google.TokenURL,
		Scopes: scopes, KeyFile: sd.path(GoogleKeyFile), KeyJSONFile: sd.path(GoogleKeyJSONFile)}
	if err := writeFileAtomic(gs.KeyFile, keyPEM, 0o600); err != nil {
		return err
	}
	// The key file format Google's console downloads, so stock client
	// libraries (google.JWTConfigFromJSON) can use it as is.
	js, err := json.MarshalIndent(map[string]string{
		"type": "service_account", "project_id": demoGoogleProject, "private_key_id": kid,
		"private_key": string(keyPEM), "client_email": DemoGoogleClientEmail, "client_id": DemoGoogleClientID,
		"auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": google.TokenURL,
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode key file: %w", err)
	}
	if err := writeFileAtomic(gs.KeyJSONFile, append(js, '\n'), 0o600); err != nil {
		return err
	}
	for _, u := range sd.users {
		if err := g.AddUser(u); err != nil {
			return err
		}
		for _, p := range []person{
			{"Marco", "Rossi", "marco.rossi@contoso.example", "Contoso", "Account Manager", "+39 02 5550 1234"},
			{"Dana", "Whitfield", "dana.whitfield@northwind.example", "Northwind Traders", "CFO", "+1 206 555 0142"},
		} {
			if _, err := g.PutContact(u, &people.Person{
				Names:          []*people.Name{{GivenName: p.first, FamilyName: p.last}},
				EmailAddresses: []*people.EmailAddress{{Value: p.email, Type: "work"}},
				Organizations:  []*people.Organization{{Name: p.company, Title: p.title}},
				PhoneNumbers:   []*people.PhoneNumber{{Value: p.phone, Type: "work"}},
			}); err != nil {
				return err
			}
		}
		for _, ev := range []struct {
			summary    string
			start, end time.Time
		}{
			{"Customer call: Contoso", sd.day(1, 15, 0), sd.day(1, 15, 30)},
			{"Planning", sd.day(3, 10, 0), sd.day(3, 11, 0)},
		} {
			if _, err := g.PutEvent(u, &calendar.Event{
				Summary: ev.summary, Description: "Seeded by syncgate emulate",
				Start: &calendar.EventDateTime{DateTime: ev.start.Format(time.RFC3339), TimeZone: "UTC"},
				End:   &calendar.EventDateTime{DateTime: ev.end.Format(time.RFC3339), TimeZone: "UTC"},
			}); err != nil {
				return err
			}
		}
	}
	out.Google = gs
	return nil
}

func (sd seeder) salesforce(out *Seeded) error {
	sf := sd.set.Salesforce
	key, certPEM, _, err := newKeyAndCert("syncgate demo connected app", sd.now)
	if err != nil {
		return err
	}
	if err := sf.AddConnectedApp(salesforce.ConnectedApp{Name: DemoSalesforceAppName, ConsumerKey: DemoSalesforceKey,
		CertificatePEM: string(certPEM), PreApproved: sd.users}); err != nil {
		return err
	}
	ss := SalesforceSeed{ConsumerKey: DemoSalesforceKey, TokenURL: demoSalesforceAudience + "/services/oauth2/token",
		Audience: demoSalesforceAudience, InstanceURL: sf.InstanceURL(),
		KeyFile: sd.path(SalesforceKeyFile), CertFile: sd.path(SalesforceCertFile), UserIDs: map[string]string{}}
	if err := writeKeyPair(ss.KeyFile, ss.CertFile, key, certPEM); err != nil {
		return err
	}
	acct, err := sf.Seed("", "Account", map[string]any{"Name": "Northwind Traders", "Industry": "Retail"})
	if err != nil {
		return err
	}
	for _, u := range sd.users {
		id, err := sf.AddUser(salesforce.User{Username: u})
		if err != nil {
			return err
		}
		ss.UserIDs[u] = id
		var who string
		for _, p := range []person{
			{"Dana", "Whitfield", "dana.whitfield@northwind.example", "Northwind Traders", "CFO", "+1 206 555 0142"},
			{"Ravi", "Mehta", "ravi.mehta@northwind.example", "Northwind Traders", "Head of IT", "+1 206 555 0199"},
		} {
			cid, err := sf.Seed(u, "Contact", map[string]any{"FirstName": p.first, "LastName": p.last, "Email": p.email,
				"Title": p.title, "Phone": p.phone, "AccountId": acct, "OwnerId": id})
			if err != nil {
				return err
			}
			if who == "" {
				who = cid
			}
		}
		for _, ev := range []struct {
			subject    string
			start, end time.Time
		}{
			{"Quarterly review with Northwind", sd.day(1, 10, 0), sd.day(1, 11, 0)},
			{"Pipeline sync", sd.day(2, 14, 0), sd.day(2, 14, 30)},
		} {
			if _, err := sf.Seed(u, "Event", map[string]any{"Subject": ev.subject, "StartDateTime": ev.start, "EndDateTime": ev.end,
				"Location": "Seattle", "WhoId": who, "WhatId": acct, "OwnerId": id}); err != nil {
				return err
			}
		}
	}
	out.Salesforce = ss
	return nil
}

func (sd seeder) ews(out *Seeded) error {
	e := sd.set.EWS
	pw, err := randomSecret()
	if err != nil {
		return err
	}
	if err := e.AddServiceAccount(DemoEWSUser, pw); err != nil {
		return err
	}
	es := EWSSeed{URL: e.URL(), Username: DemoEWSUser, PasswordFile: sd.path(EWSPasswordFile), Mailboxes: append([]string(nil), sd.users...)}
	if err := writeFileAtomic(es.PasswordFile, []byte(pw+"\n"), 0o600); err != nil {
		return err
	}
	for _, u := range sd.users {
		if err := e.AddMailbox(u, title(local(u))); err != nil {
			return err
		}
		// Per-mailbox grants rather than "*": the demo shows that the
		// service account reaches the demo mailboxes and nothing else.
		if err := e.GrantImpersonation(DemoEWSUser, u); err != nil {
			return err
		}
		for _, p := range []person{
			{"Sofia", "Alvarez", "sofia.alvarez@tailspin.example", "Tailspin Toys", "COO", "+34 91 555 0123"},
			{"Lena", "Fischer", "lena.fischer@fabrikam.example", "Fabrikam", "Buyer", "+49 30 5550100"},
		} {
			if _, err := e.AddContact(u, ews.Contact{GivenName: p.first, Surname: p.last, CompanyName: p.company,
				DisplayName: p.first + " " + p.last, JobTitle: p.title,
				Emails: map[string]string{"EmailAddress1": p.email}, Phones: map[string]string{"BusinessPhone": p.phone}}); err != nil {
				return err
			}
		}
		for _, it := range []ews.CalendarItem{
			{Subject: "Site visit: Tailspin", Location: "Madrid", Start: sd.day(1, 8, 0), End: sd.day(1, 12, 0)},
			{Subject: "1:1", Start: sd.day(2, 16, 0), End: sd.day(2, 16, 30)},
		} {
			if _, err := e.AddCalendarItem(u, it); err != nil {
				return err
			}
		}
	}
	out.EWS = es
	return nil
}

func (sd seeder) vault(out *Seeded) error {
	vs := VaultSeed{Address: "https://" + VaultHost, TokenFile: sd.path(VaultTokenFile)}
	if err := writeFileAtomic(vs.TokenFile, []byte(sd.set.vaultToken+"\n"), 0o600); err != nil {
		return err
	}
	out.Vault = vs
	return nil
}

// randomSecret is 32 random bytes, base64url: the shape of an Entra secret
// is irrelevant, its unguessability is not.
func randomSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// newKeyAndCert makes an RSA-2048 key and a self-signed certificate for it,
// as one uploads to an Entra app or a Salesforce connected app, and the
// certificate's SHA-1 thumbprint in upper-case hex.
func newKeyAndCert(cn string, now time.Time) (*rsa.PrivateKey, []byte, string, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, "", fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, "", fmt.Errorf("serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(2, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, "", fmt.Errorf("self-sign certificate: %w", err)
	}
	sum := sha1.Sum(der) //nolint:gosec // thumbprint, not a signature
	return key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), strings.ToUpper(hex.EncodeToString(sum[:])), nil
}

func encodeKey(key *rsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func writeKeyPair(keyFile, certFile string, key *rsa.PrivateKey, certPEM []byte) error {
	kb, err := encodeKey(key)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(keyFile, kb, 0o600); err != nil {
		return err
	}
	return writeFileAtomic(certFile, certPEM, 0o644)
}

// writeFileAtomic writes through a temporary file created with perm, so a
// secret is never readable by others even for a moment, and an existing
// file with a looser mode is replaced rather than reused.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		_ = f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
