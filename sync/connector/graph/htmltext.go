package graph

import "github.com/syncgate/syncgate/sync/connector/internal/mailfmt"

// htmlToText turns an HTML body into the plain text syncgate syncs (one
// implementation for the Microsoft mailboxes: see mailfmt).
func htmlToText(s string) string { return mailfmt.HTMLToText(s) }
