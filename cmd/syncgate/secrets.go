package main

import "github.com/spf13/cobra"

func newSecretsCmd() *cobra.Command {
	return &cobra.Command{Use: "secrets", Short: "(not built yet)", Hidden: true}
}
