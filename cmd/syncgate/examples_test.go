package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestExamplePolicyPairsWithServeConfig: examples/syncgate.yaml names
// examples/policy.yaml; the pair must start — every credential and client
// certificate the policy names is in the config, and the config's
// broker_client is a client of the policy.
func TestExamplePolicyPairsWithServeConfig(t *testing.T) {
	dir := examplePolicy(t)
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "syncgate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "syncgate.yaml"), string(data))
	cfg, err := loadServeConfig(filepath.Join(dir, "syncgate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := loadPolicy(cfg, cfg)
	if err != nil {
		t.Fatalf("the example policy does not pair with the example serve config: %v", err)
	}
	if _, ok := e.ClientByName(cfg.BrokerClient); !ok {
		t.Fatalf("broker_client %q is not a client of the example policy", cfg.BrokerClient)
	}
}
