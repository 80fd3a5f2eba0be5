package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/syncgate/syncgate/internal/buildinfo"
)

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the module version, commit, Go version and build time",
		Long: `Print which syncgate this is, from the build information the Go toolchain
embeds in the binary: the module version, the VCS commit (and whether the
tree was modified), the Go version, the build time (the link-time value, or
the commit time) and the platform. The gateway and the sync engine export the
same as the syncgate_build_info metric.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := buildinfo.Read()
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				return enc.Encode(in)
			}
			commit := in.Commit
			if in.Modified {
				commit += " (modified)"
			}
			fmt.Fprintf(out, "syncgate %s\n  commit      %s\n  go          %s\n  built       %s\n  platform    %s\n",
				in.Version, commit, in.GoVersion, in.BuildTime, in.Platform)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}
