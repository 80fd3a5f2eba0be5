// Package engine decides and carries out a sync between a CRM and a
// mailbox for one user and kind at a time: read both sides' changes since
// their cursors, compare content hashes against the pairs in the state
// store, decide per item (vdirsyncer's decision table with Lightning Sync's
// settings: direction, conflict winner, delete propagation, all or selected
// events, private events), write through the connectors, and record every
// item action in the sync audit log.
//
// An event series syncs as one item, its master, and is written whole.
// No service can restore a cancelled occurrence, so cancellations are
// sticky: a series written to a side keeps that side's cancellations, and
// in a two-way job the merged series flows back (cancel.go). Splits of a
// series are followed through the masters a side reports departed (changed
// with no occurrence left in the window), which only ever update a pair,
// and by watching a master a new series may continue (split.go).
//
// Crash safety comes from three rules: an intent with an idempotency key is
// durable before any remote create; a cursor is stored only after the pass
// that read it committed every decision; and the key is derived from the
// source item, so a lost state store or an interrupted create is repaired
// by finding the key on the other side rather than by creating again.
package engine
