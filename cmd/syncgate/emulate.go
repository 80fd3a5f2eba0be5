package main

import "github.com/spf13/cobra"

func newEmulateCmd() *cobra.Command {
	return &cobra.Command{Use: "emulate", Short: "(not built yet)", Hidden: true}
}
