// Package yamlerr keeps YAML decoding errors from echoing values: a secret
// written into the wrong field of a config file must never reach a log line,
// an error shown to a client or the config audit record.
package yamlerr
