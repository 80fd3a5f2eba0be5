package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/syncgate/syncgate/sync/engine"
	"github.com/syncgate/syncgate/sync/model"
)

// syncConfig is the `syncgate sync` configuration file. It says where the
// gateway is, where the state lives and whom to sync how; it holds no
// credential of any kind (the gateway injects every one).
type syncConfig struct {
	Gateway struct {
		Proxy    string   `yaml:"proxy"`     // https://gw:3129 (mTLS) or http://127.0.0.1:3128 (sidecar)
		CertFile string   `yaml:"cert_file"` // the engine's client certificate (its identity on mTLS)
		KeyFile  string   `yaml:"key_file"`
		CAFiles  []string `yaml:"ca_files"` // gateway listener root + intercept CA
	} `yaml:"gateway"`
	State struct {
		SQLite *struct {
			Path string `yaml:"path"`
		} `yaml:"sqlite"`
		Postgres *struct {
			DSNEnv string `yaml:"dsn_env"` // name of the environment variable holding the DSN
		} `yaml:"postgres"`
	} `yaml:"state"`
	Audit struct {
		Path  string `yaml:"path"`
		Fsync string `yaml:"fsync"`
	} `yaml:"audit"`
	Salesforce struct {
		InstanceURL string `yaml:"instance_url"`
		APIVersion  string `yaml:"api_version"`
	} `yaml:"salesforce"`
	Graph struct {
		BaseURL  string `yaml:"base_url"`
		PageSize int    `yaml:"page_size"`
	} `yaml:"graph"`
	Google struct {
		CalendarEndpoint string `yaml:"calendar_endpoint"`
		PeopleEndpoint   string `yaml:"people_endpoint"`
		// The marker of a selected event: a private extended property, or
		// this event colour (see README).
		SelectedColorID string `yaml:"selected_color_id"`
	} `yaml:"google"`
	EWS struct {
		URL string `yaml:"url"` // https://mail.corp.example/EWS/Exchange.asmx
	} `yaml:"ews"`
	PollInterval days `yaml:"poll_interval"`
	Workers      int  `yaml:"workers"`
	Metrics      struct {
		Listen string `yaml:"listen"`
	} `yaml:"metrics"`
	Log struct {
		Level string `yaml:"level"`
	} `yaml:"log"`
	Profiles map[string]profileConfig `yaml:"profiles"`
	Users    []userConfig             `yaml:"users"`

	dir string
}

// profileConfig is a named set of Lightning Sync settings.
type profileConfig struct {
	Contacts *kindConfig `yaml:"contacts"`
	Events   *kindConfig `yaml:"events"`
}

type kindConfig struct {
	Enabled   *bool  `yaml:"enabled"` // default true when the block is present
	Direction string `yaml:"direction"`
	Deletes   bool   `yaml:"deletes"`
	Conflict  string `yaml:"conflict"` // crm | mail | newest
	// Events only.
	Select   string `yaml:"select"`   // all | selected
	Category string `yaml:"category"` // the category that marks a selected event
	Private  string `yaml:"private"`  // sync | skip | busy_only
	// AutoRelate relates the attendees of events written to the CRM to
	// its contacts or one lead; default true (events only).
	AutoRelate *bool  `yaml:"auto_relate"`
	Series     string `yaml:"series"` // skip (default) | sync: series as one item where both ends can (Salesforce, Graph, Google)
	Window     struct {
		Past   days `yaml:"past"`
		Future days `yaml:"future"`
	} `yaml:"window"`
	MassDelete struct {
		Percent float64 `yaml:"percent"`
		Min     int     `yaml:"min"`
	} `yaml:"mass_delete"`
}

type userConfig struct {
	User     string      `yaml:"user"`
	Profile  string      `yaml:"profile"`
	Mailbox  string      `yaml:"mailbox"`  // graph (default) | google | ews
	Contacts *kindConfig `yaml:"contacts"` // replaces the profile's block
	Events   *kindConfig `yaml:"events"`
}

// days is a duration that also accepts "30d".
type days time.Duration

func (d *days) UnmarshalYAML(n *yaml.Node) error {
	v := strings.TrimSpace(n.Value)
	if strings.HasSuffix(v, "d") {
		k, err := strconv.Atoi(strings.TrimSuffix(v, "d"))
		if err != nil || k < 0 {
			return fmt.Errorf("line %d: invalid duration %q", n.Line, n.Value)
		}
		*d = days(time.Duration(k) * 24 * time.Hour)
		return nil
	}
	t, err := time.ParseDuration(v)
	if err != nil || t < 0 {
		return fmt.Errorf("line %d: invalid duration %q (e.g. 5m, 720h, 30d)", n.Line, n.Value)
	}
	*d = days(t)
	return nil
}

// secretWords are field names that would mean the engine holds a secret.
var secretWords = []string{"token", "secret", "password", "passwd", "private_key", "api_key", "apikey",
	"credential", "authorization", "bearer", "client_secret", "dsn", "assertion", "cookie", "session"}

// refuseSecrets walks the YAML before decoding: a key that names a secret
// is an error naming the line, and its value is never echoed.
func refuseSecrets(n *yaml.Node) error {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := strings.ToLower(n.Content[i].Value)
			if k != "dsn_env" {
				for _, w := range secretWords {
					if strings.Contains(k, w) {
						return fmt.Errorf("line %d: %q: the sync engine never holds a credential, token or secret; the gateway injects them (remove this field)", n.Content[i].Line, n.Content[i].Value)
					}
				}
			}
			if err := refuseSecrets(n.Content[i+1]); err != nil {
				return err
			}
		}
		return nil
	}
	for _, c := range n.Content {
		if err := refuseSecrets(c); err != nil {
			return err
		}
	}
	return nil
}

func loadSyncConfig(path string) (*syncConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read sync config: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", path, scrubYAMLError(err))
	}
	if err := refuseSecrets(&root); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var c syncConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, scrubYAMLError(err))
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	c.dir = filepath.Dir(abs)
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

// scrubYAMLError drops quoted values from a YAML error: a value typed into
// the wrong field must not reach a log.
func scrubYAMLError(err error) error {
	msg := err.Error()
	var b strings.Builder
	in := false
	for _, r := range msg {
		switch {
		case r == '`':
			if !in {
				b.WriteString("`…")
			}
			in = !in
			if !in {
				b.WriteRune('`')
			}
		case !in:
			b.WriteRune(r)
		}
	}
	return errors.New(b.String())
}

func (c *syncConfig) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

func (c *syncConfig) validate() error {
	pu, err := url.Parse(c.Gateway.Proxy)
	if err != nil || pu.Host == "" || (pu.Scheme != "https" && pu.Scheme != "http") {
		return fmt.Errorf("gateway.proxy: want https://host:port (mTLS listener) or http://127.0.0.1:port (loopback listener)")
	}
	if pu.Scheme == "http" {
		if ip := net.ParseIP(pu.Hostname()); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("gateway.proxy: plain http only to a loopback gateway (a sidecar); use the mTLS listener otherwise")
		}
	}
	if pu.Scheme == "https" && (c.Gateway.CertFile == "" || c.Gateway.KeyFile == "") {
		return fmt.Errorf("gateway: the mTLS listener needs cert_file and key_file (the engine's identity)")
	}
	if (c.State.SQLite == nil) == (c.State.Postgres == nil) {
		if c.State.SQLite == nil {
			c.State.SQLite = &struct {
				Path string `yaml:"path"`
			}{Path: "sync-state.db"}
		} else {
			return fmt.Errorf("state: choose one of sqlite or postgres")
		}
	}
	if c.State.Postgres != nil && c.State.Postgres.DSNEnv == "" {
		return fmt.Errorf("state.postgres.dsn_env: name the environment variable that holds the DSN")
	}
	if c.Audit.Path == "" {
		c.Audit.Path = "sync-audit.jsonl"
	}
	if c.Audit.Fsync == "" {
		c.Audit.Fsync = "always"
	}
	if c.Audit.Fsync != "always" && c.Audit.Fsync != "batch" {
		return fmt.Errorf("audit.fsync: want always or batch")
	}
	if c.Salesforce.InstanceURL == "" {
		return fmt.Errorf("salesforce.instance_url is required")
	}
	if c.PollInterval == 0 {
		c.PollInterval = days(5 * time.Minute)
	}
	if c.Workers == 0 {
		c.Workers = 4
	}
	if len(c.Users) == 0 {
		return fmt.Errorf("users: no user to sync")
	}
	seen := map[string]bool{}
	for i, u := range c.Users {
		if u.User == "" || strings.ContainsAny(u.User, "*?[]{} ") || !strings.Contains(u.User, "@") {
			return fmt.Errorf("users[%d]: user must be one concrete address", i)
		}
		low := strings.ToLower(u.User)
		if seen[low] {
			return fmt.Errorf("users[%d]: %s listed twice", i, u.User)
		}
		seen[low] = true
		switch u.Mailbox {
		case "", "graph", "google":
		case "ews":
			if c.EWS.URL == "" {
				return fmt.Errorf("users[%d]: mailbox ews needs ews.url", i)
			}
		default:
			return fmt.Errorf("users[%d]: mailbox %q: want graph, google or ews", i, u.Mailbox)
		}
		if u.Profile != "" {
			if _, ok := c.Profiles[u.Profile]; !ok {
				return fmt.Errorf("users[%d]: unknown profile %q", i, u.Profile)
			}
		}
		for _, k := range []model.Kind{model.Contacts, model.Events} {
			if _, err := c.settings(u, k); err != nil {
				return fmt.Errorf("users[%d] (%s): %w", i, u.User, err)
			}
		}
	}
	return nil
}

// settings resolves a user's settings for a kind: the user's own block,
// else the profile's, else the "default" profile's, else disabled.
func (c *syncConfig) settings(u userConfig, kind model.Kind) (engine.KindSettings, error) {
	pick := func(p profileConfig) *kindConfig {
		if kind == model.Contacts {
			return p.Contacts
		}
		return p.Events
	}
	kc := pick(profileConfig{Contacts: u.Contacts, Events: u.Events})
	if kc == nil && u.Profile != "" {
		kc = pick(c.Profiles[u.Profile])
	}
	if kc == nil {
		if p, ok := c.Profiles["default"]; ok {
			kc = pick(p)
		}
	}
	if kc == nil || (kc.Enabled != nil && !*kc.Enabled) {
		return engine.KindSettings{}, nil
	}
	ks := engine.KindSettings{
		Enabled:        true,
		Direction:      engine.Direction(kc.Direction),
		Deletes:        kc.Deletes,
		Winner:         engine.Winner(kc.Conflict),
		SelectCategory: kc.Category,
		WindowPast:     time.Duration(kc.Window.Past),
		WindowFuture:   time.Duration(kc.Window.Future),
		GuardPercent:   kc.MassDelete.Percent,
		GuardMin:       kc.MassDelete.Min,
	}
	switch kc.Select {
	case "", "all":
	case "selected":
		ks.Selected = true
	default:
		return ks, fmt.Errorf("%s.select %q: want all or selected", kind, kc.Select)
	}
	switch kc.Private {
	case "", "sync":
	case "skip":
		ks.Private = engine.PrivateSkip
	case "busy_only":
		ks.Private = engine.PrivateBusyOnly
	default:
		return ks, fmt.Errorf("%s.private %q: want sync, skip or busy_only", kind, kc.Private)
	}
	switch {
	case kind == model.Events:
		ks.AutoRelate = kc.AutoRelate == nil || *kc.AutoRelate
	case kc.AutoRelate != nil:
		return ks, fmt.Errorf("%s.auto_relate: applies to events only", kind)
	}
	switch kc.Series {
	case "", "skip":
	case "sync":
		if kind != model.Events {
			return ks, fmt.Errorf("%s.series: applies to events only", kind)
		}
		ks.Series = true
	default:
		return ks, fmt.Errorf("%s.series %q: want skip or sync", kind, kc.Series)
	}
	ks = ks.Defaults()
	return ks, ks.Validate(kind)
}
