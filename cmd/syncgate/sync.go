package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/syncgate/syncgate/audit"
	"github.com/syncgate/syncgate/internal/buildinfo"
	"github.com/syncgate/syncgate/sync/connector"
	"github.com/syncgate/syncgate/sync/connector/ews"
	"github.com/syncgate/syncgate/sync/connector/google"
	"github.com/syncgate/syncgate/sync/connector/graph"
	"github.com/syncgate/syncgate/sync/connector/salesforce"
	"github.com/syncgate/syncgate/sync/engine"
	syncgw "github.com/syncgate/syncgate/sync/gateway"
	"github.com/syncgate/syncgate/sync/model"
	"github.com/syncgate/syncgate/sync/state"
)

func newSyncCmd() *cobra.Command {
	var cfgPath string
	var once, force bool
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Run the sync engine: CRM contacts and events with users' mailboxes, through the gateway",
		Long: `Run the sync engine beside the gateway. Every call goes through the
gateway (which injects credentials) acting as the user it syncs for; every
item action is a record in the sync audit log.

Without --once it runs a round every poll_interval until SIGTERM, which
finishes the item in flight. With --once it runs one round and exits
non-zero when any user failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadSyncConfig(cfgPath)
			if err != nil {
				return withCode(2, err)
			}
			return runSync(cmd.Context(), cfg, cmd.OutOrStdout(), cmd.ErrOrStderr(), once, force)
		},
	}
	cmd.PersistentFlags().StringVar(&cfgPath, "config", "syncgate-sync.yaml", "sync config file")
	cmd.Flags().BoolVar(&once, "once", false, "run one round and exit (non-zero when any user failed)")
	cmd.Flags().BoolVar(&force, "force", false, "let this run exceed the mass-delete guard")
	cmd.AddCommand(newSyncStatusCmd(&cfgPath), newSyncResyncCmd(&cfgPath))
	return cmd
}

func openState(ctx context.Context, cfg *syncConfig) (state.Store, error) {
	if cfg.State.Postgres != nil {
		dsn := os.Getenv(cfg.State.Postgres.DSNEnv)
		if dsn == "" {
			return nil, fmt.Errorf("state: environment variable %s is empty", cfg.State.Postgres.DSNEnv)
		}
		return state.OpenPostgres(ctx, dsn)
	}
	return state.OpenSQLite(ctx, cfg.path(cfg.State.SQLite.Path))
}

// syncRuntime is everything a round needs, built from the config.
type syncRuntime struct {
	store   state.Store
	audit   *audit.Writer
	client  *syncgw.Client
	eng     *engine.Engine
	jobs    []engine.Job
	metrics *engine.Metrics
	reg     *prometheus.Registry
}

func (rt *syncRuntime) Close() {
	if rt.client != nil {
		rt.client.CloseIdle()
	}
	if rt.audit != nil {
		rt.audit.Close()
	}
	if rt.store != nil {
		rt.store.Close()
	}
}

func buildSync(ctx context.Context, cfg *syncConfig, log zerolog.Logger, force bool) (_ *syncRuntime, err error) {
	rt := &syncRuntime{reg: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			rt.Close()
		}
	}()
	rt.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildinfo.Collector())
	rt.metrics = engine.NewMetrics(rt.reg)
	var cas []string
	for _, f := range cfg.Gateway.CAFiles {
		cas = append(cas, cfg.path(f))
	}
	rt.client, err = syncgw.New(syncgw.Config{Proxy: cfg.Gateway.Proxy, CertFile: cfg.path(cfg.Gateway.CertFile),
		KeyFile: cfg.path(cfg.Gateway.KeyFile), CAFiles: cas})
	if err != nil {
		return nil, err
	}
	rt.client.OnThrottle = rt.metrics.Throttled
	// Series: the connectors that can hold them read and write them whole
	// when any user syncs them (the engine still skips them for the others).
	series := false
	for _, u := range cfg.Users {
		if ks, err := cfg.settings(u, model.Events); err == nil && ks.Enabled && ks.Series {
			series = true
		}
	}
	crm, err := salesforce.New(salesforce.Options{InstanceURL: cfg.Salesforce.InstanceURL, APIVersion: cfg.Salesforce.APIVersion, HTTP: rt.client.HTTP(), Series: series})
	if err != nil {
		return nil, err
	}
	mailboxes := map[string]connector.Connector{}
	for _, u := range cfg.Users {
		kind := u.Mailbox
		if kind == "" {
			kind = "graph"
		}
		if mailboxes[kind] != nil {
			continue
		}
		var c connector.Connector
		switch kind {
		case "graph":
			c, err = graph.New(rt.client.HTTP(), graph.Options{BaseURL: cfg.Graph.BaseURL, PageSize: cfg.Graph.PageSize, Series: series})
		case "google":
			c, err = google.New(rt.client.HTTP(), google.Options{CalendarEndpoint: cfg.Google.CalendarEndpoint,
				PeopleEndpoint: cfg.Google.PeopleEndpoint, SelectedColorID: cfg.Google.SelectedColorID, Series: series})
		case "ews":
			c, err = ews.New(rt.client.HTTP(), ews.Options{URL: cfg.EWS.URL})
		}
		if err != nil {
			return nil, err
		}
		mailboxes[kind] = c
	}
	if rt.store, err = openState(ctx, cfg); err != nil {
		return nil, err
	}
	if rt.audit, err = audit.Open(ctx, audit.Options{Path: cfg.path(cfg.Audit.Path), Fsync: cfg.Audit.Fsync, Logger: log}); err != nil {
		return nil, fmt.Errorf("sync audit: %w", err)
	}
	rt.eng = &engine.Engine{Store: rt.store, Audit: engine.AuditRecorder{W: rt.audit}, Log: log, Metrics: rt.metrics}
	for _, u := range cfg.Users {
		mail := mailboxes[u.Mailbox]
		if u.Mailbox == "" {
			mail = mailboxes["graph"]
		}
		for _, k := range []model.Kind{model.Contacts, model.Events} {
			ks, err := cfg.settings(u, k)
			if err != nil {
				return nil, err
			}
			if ks.Enabled {
				rt.jobs = append(rt.jobs, engine.Job{User: u.User, Kind: k, CRM: crm, Mail: mail, Settings: ks, Force: force})
			}
		}
	}
	return rt, nil
}

func runSync(ctx context.Context, cfg *syncConfig, out, errw io.Writer, once, force bool) error {
	log := newLogger(errw, cfg.Log.Level).With().Str("component", "sync").Logger()
	rt, err := buildSync(ctx, cfg, log, force)
	if err != nil {
		return err
	}
	defer rt.Close()
	if cfg.Metrics.Listen != "" {
		ln, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
			ln.Close()
			return fmt.Errorf("metrics.listen must be a loopback address")
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(rt.reg, promhttp.HandlerOpts{}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		log.Info().Str("addr", ln.Addr().String()).Msg("metrics listening")
	}
	sched := (&schedulerFor{rt, cfg}).scheduler()
	report := func(res []engine.Outcome) {
		for _, o := range res {
			ev := log.Info()
			if o.Err != nil {
				ev = log.Error().Str("error", o.Err.Error())
			}
			r := o.Result
			ev.Str("user", o.Job.User).Str("kind", string(o.Job.Kind)).Int("created", r.Created).Int("updated", r.Updated).
				Int("deleted", r.Deleted).Int("conflicts", r.Conflicts).Int("linked", r.Linked).Int("unlinked", r.Unlinked).
				Int("skipped", r.Skipped).Int("unresolved", r.Unresolved).Msg("pass")
		}
	}
	if !once {
		log.Info().Int("jobs", len(rt.jobs)).Dur("interval", time.Duration(cfg.PollInterval)).Msg("sync engine running")
		return sched.Run(ctx, report)
	}
	res := sched.Once(ctx)
	report(res)
	_ = out
	printOutcomes(out, res)
	failed := 0
	for _, o := range res {
		if o.Err != nil {
			failed++
		}
	}
	if failed > 0 {
		return withCode(1, fmt.Errorf("%d of %d passes failed", failed, len(res)))
	}
	return nil
}

func printOutcomes(out io.Writer, res []engine.Outcome) {
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tKIND\tCREATED\tUPDATED\tDELETED\tCONFLICTS\tLINKED\tUNLINKED\tSKIPPED\tUNRESOLVED\tRESULT")
	for _, o := range res {
		r := o.Result
		result := "ok"
		if o.Err != nil {
			result = o.Err.Error()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", o.Job.User, o.Job.Kind, r.Created, r.Updated, r.Deleted,
			r.Conflicts, r.Linked, r.Unlinked, r.Skipped, r.Unresolved, result)
	}
	tw.Flush()
}

func newSyncStatusCmd(cfgPath *string) *cobra.Command {
	var user, format string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Per user and kind: last run, cursors, pending writes, conflicts, unresolved, paused",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadSyncConfig(*cfgPath)
			if err != nil {
				return withCode(2, err)
			}
			st, err := openState(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			rows, err := st.Status(cmd.Context(), user)
			if err != nil {
				return err
			}
			return printStatus(cmd.OutOrStdout(), rows, format)
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "only this user")
	cmd.Flags().StringVar(&format, "format", "table", "table | json")
	return cmd
}

func printStatus(out io.Writer, rows []state.Status, format string) error {
	if format == "json" {
		enc := json.NewEncoder(out)
		for _, r := range rows {
			if err := enc.Encode(map[string]any{
				"user": r.User, "kind": r.Kind, "last_start": r.LastStart, "last_end": r.LastEnd, "last_error": r.LastError,
				"paused": r.Paused, "pause_reason": r.PauseReason, "pairs": r.Pairs, "pending": r.Pending,
				"conflicts": r.Conflicts, "unresolved": r.Unresolved, "cursors": cursorFacts(r.Cursors),
			}); err != nil {
				return err
			}
		}
		return nil
	}
	if format != "table" {
		return withCode(2, fmt.Errorf("--format %q: want table or json", format))
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tKIND\tLAST RUN\tRESULT\tPAIRS\tPENDING\tCONFLICTS\tUNRESOLVED\tCURSORS\tPAUSED")
	for _, r := range rows {
		last, result := "never", "-"
		if !r.LastEnd.IsZero() {
			last = r.LastEnd.UTC().Format(time.RFC3339)
			result = "ok"
			if r.LastError != "" {
				result = "error: " + r.LastError
			}
		}
		paused := "no"
		if r.Paused {
			paused = "yes: " + r.PauseReason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", r.User, r.Kind, last, result, r.Pairs, r.Pending,
			r.Conflicts, r.Unresolved, strings.Join(cursorFacts(r.Cursors), " "), paused)
	}
	return tw.Flush()
}

// cursorFacts says whether each side has a cursor, not what it is: a
// Graph deltaLink or a SOQL high-water mark is not for the screen.
func cursorFacts(c map[model.Side]string) []string {
	var out []string
	for _, s := range []model.Side{model.CRM, model.Mail} {
		v := "none"
		if c[s] != "" {
			v = "set"
		}
		out = append(out, string(s)+"="+v)
	}
	return out
}

func newSyncResyncCmd(cfgPath *string) *cobra.Command {
	var user, kind string
	cmd := &cobra.Command{
		Use:   "resync",
		Short: "Forget a user's cursors for a kind and lift a mass-delete pause: the next pass lists everything again",
		Long: `Forget the cursors of one user and kind so the next pass lists both sides
in full and matches them through the state (no duplicates; deletions during
the gap are inferred by asking each side, and propagated only where deletes
are enabled). Also lifts a mass-delete pause for one pass.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadSyncConfig(*cfgPath)
			if err != nil {
				return withCode(2, err)
			}
			k, err := model.ParseKind(kind)
			if err != nil {
				return withCode(2, err)
			}
			if user == "" {
				return withCode(2, errors.New("--user is required"))
			}
			st, err := openState(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			err = st.Tx(cmd.Context(), func(ctx context.Context, w state.Writer) error {
				if err := w.ResetCursors(ctx, user, k); err != nil {
					return err
				}
				r, err := w.Run(ctx, user, k)
				if err != nil {
					return err
				}
				r.User, r.Kind = user, k
				r.Force = r.Paused
				return w.SetRun(ctx, r)
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s: cursors cleared; the next pass lists both sides in full\n", user, k)
			return nil
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "the user")
	cmd.Flags().StringVar(&kind, "kind", "", "contacts | events")
	return cmd
}

// schedulerFor builds the scheduler of a runtime and config.
type schedulerFor struct {
	rt  *syncRuntime
	cfg *syncConfig
}

func (s *schedulerFor) scheduler() *engine.Scheduler {
	return &engine.Scheduler{Engine: s.rt.eng, Jobs: s.rt.jobs, Interval: time.Duration(s.cfg.PollInterval), Workers: s.cfg.Workers}
}

func (s *schedulerFor) once(ctx context.Context) []engine.Outcome { return s.scheduler().Once(ctx) }
