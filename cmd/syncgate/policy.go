package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/syncgate/syncgate/policy"
)

// Exit codes of the policy commands (DESIGN.md, "CLI").
const (
	exitPolicyFail = 1 // a test case failed
	exitPolicyBad  = 2 // bad policy, cases file or arguments
	exitPolicyDeny = 3 // explain: the request is denied
)

func newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Check, test and explain a policy file",
	}
	cmd.AddCommand(newPolicyLintCmd(), newPolicyTestCmd(), newPolicyExplainCmd())
	return cmd
}

// exactArgs is cobra.ExactArgs with the "bad arguments" exit code.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return withCode(exitPolicyBad, err)
		}
		return nil
	}
}

// loadEngine loads and compiles a policy; any failure is exit code 2.
func loadEngine(path string) (*policy.Engine, error) {
	p, err := policy.Load(path)
	if err != nil {
		return nil, withCode(exitPolicyBad, err)
	}
	e, err := policy.Compile(p)
	if err != nil {
		return nil, withCode(exitPolicyBad, err)
	}
	return e, nil
}

func newPolicyLintCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "lint FILE",
		Short: "Validate a policy file (exit 0 ok, 2 errors); risky choices are warnings",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := loadEngine(args[0])
			if err != nil {
				return err
			}
			for _, w := range policy.Warnings(e.Policy()) {
				fmt.Fprintln(cmd.ErrOrStderr(), w)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "ok")
			return nil
		},
	}
}

func newPolicyTestCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "test FILE CASES.yaml",
		Short: "Run test cases against a policy (exit 0 all pass, 1 a case failed, 2 bad file)",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := loadEngine(args[0])
			if err != nil {
				return err
			}
			cases, err := policy.LoadCases(args[1])
			if err != nil {
				return withCode(exitPolicyBad, err)
			}
			// Evaluate every case before printing, so that a bad case
			// (exit 2) does not leave a half-printed report.
			results := make([]policy.CaseResult, len(cases))
			for i, c := range cases {
				if results[i], err = e.RunCase(c); err != nil {
					return withCode(exitPolicyBad, err)
				}
			}
			out := cmd.OutOrStdout()
			failed := 0
			for i, c := range cases {
				r := results[i]
				if r.Pass {
					detail := r.Got.Reason
					if r.Got.Rule != "" {
						detail = "rule " + r.Got.Rule
					}
					fmt.Fprintf(out, "PASS %s: %s (%s)\n", c.Name, c.Expect, detail)
					continue
				}
				failed++
				fmt.Fprintf(out, "FAIL %s: %s\n", c.Name, r.Msg)
			}
			fmt.Fprintf(out, "%d passed, %d failed\n", len(cases)-failed, failed)
			if failed > 0 {
				return withCode(exitPolicyFail, fmt.Errorf("%d of %d cases failed", failed, len(cases)))
			}
			return nil
		},
	}
}

func newPolicyExplainCmd() *cobra.Command {
	var q policy.Query
	cmd := &cobra.Command{
		Use:   "explain FILE --client NAME --source IP --method M --url URL [--subject S]",
		Short: "Print the decision for one request as JSON (exit 0 allow, 3 deny, 2 bad input)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, f := range []struct{ name, v string }{{"client", q.Client}, {"source", q.Source}, {"method", q.Method}, {"url", q.URL}} {
				if f.v == "" {
					return withCode(exitPolicyBad, fmt.Errorf("--%s is required", f.name))
				}
			}
			e, err := loadEngine(args[0])
			if err != nil {
				return err
			}
			x, err := e.Explain(q)
			if err != nil {
				return withCode(exitPolicyBad, err)
			}
			b, err := json.Marshal(x)
			if err != nil {
				return withCode(exitPolicyBad, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
			if !x.Allow {
				return withCode(exitPolicyDeny, nil)
			}
			return nil
		},
	}
	// Flag errors are bad arguments too.
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return withCode(exitPolicyBad, err) })
	f := cmd.Flags()
	f.StringVar(&q.Client, "client", "", "client name from the policy")
	f.StringVar(&q.Source, "source", "", "source IP address of the client")
	f.StringVar(&q.Method, "method", "", "HTTP method")
	f.StringVar(&q.URL, "url", "", "absolute request URL")
	f.StringVar(&q.Subject, "subject", "", "subject the client acts as (Syncgate-Subject)")
	f.StringVar(&q.EWSOperation, "ews-operation", "", "for an EWS destination: the SOAP operation")
	f.StringSliceVar(&q.EWSFolders, "ews-folder", nil, "for an EWS destination: a distinguished folder (repeatable)")
	return cmd
}
