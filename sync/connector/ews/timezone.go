package ews

import (
	"time"
	_ "time/tzdata" // zone conversions must not depend on the host's zoneinfo

	"github.com/syncgate/syncgate/sync/connector/internal/mailfmt"
)

// parseZone resolves a mailbox time-zone name (UTC spellings, a Windows
// name, an IANA name); ok is false for a custom or unknown zone.
func parseZone(name string) (*time.Location, bool) { return mailfmt.Zone(name) }
