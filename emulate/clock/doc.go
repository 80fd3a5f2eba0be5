// Package clock gives the emulators a notion of time that tests can advance,
// so token expiry, sync-token expiry and rate windows are tested without sleeping.
package clock
