package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func newServeCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run the gateway: a policy-enforcing forward proxy",
		Long: `Run the gateway. It listens as an HTTPS proxy (and optionally as a plain
proxy on loopback), intercepts CONNECT, enforces the policy, injects
credentials and writes an audit record for every request.

SIGHUP reloads the config, the policy and the certificates; a file that fails
validation keeps the running version and says why in the log and audit log.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadServeConfig(cfgPath)
			if err != nil {
				return withCode(2, err)
			}
			log := newLogger(os.Stderr, cfg.Log.Level)
			ctx := cmd.Context()
			gw, err := startGateway(ctx, cfg, log)
			if err != nil {
				return err
			}
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			return serveLoop(ctx, gw, hup)
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "serve config file (YAML)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// serveLoop runs until the context ends (a clean stop) or the gateway stops
// on its own (a listener died: the error, so the process exits non-zero at
// once and a supervisor restarts it), reloading on every hup.
func serveLoop(ctx context.Context, gw *gateway, hup <-chan os.Signal) error {
	for {
		select {
		case <-ctx.Done():
			return gw.Close()
		case <-gw.Done():
			err := gw.Close()
			if err == nil {
				err = errors.New("gateway stopped")
			}
			return fmt.Errorf("gateway stopped on its own: %w", err)
		case <-hup:
			_ = gw.reload(ctx)
		}
	}
}
