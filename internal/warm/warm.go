// Keeps planned modules in go.mod; see doc.go.
package main

import (
	_ "github.com/caddyserver/certmagic"
	_ "github.com/golang-jwt/jwt/v5"
	_ "github.com/hashicorp/vault/api"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/rs/zerolog"
	_ "github.com/spf13/cobra"
	_ "go.uber.org/zap"
	_ "golang.org/x/net/idna"
	_ "golang.org/x/oauth2"
	_ "golang.org/x/oauth2/jwt"
	_ "golang.org/x/sync/singleflight"
	_ "google.golang.org/api/calendar/v3"
	_ "google.golang.org/api/option"
	_ "google.golang.org/api/people/v1"
	_ "gopkg.in/yaml.v3"
	_ "modernc.org/sqlite"
	_ "pgregory.net/rapid"
)

func main() {}
