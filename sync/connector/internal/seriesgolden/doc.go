// Package seriesgolden reads the golden year of event series,
// sync/model/testdata/series_2026.golden, for the connectors' round-trip
// tests (Graph, Google, Salesforce, EWS). Each of them writes every golden
// series through its connector, reads it back, and compares the model's
// expansion and the service emulator's own expansion with the file; the
// reading, the master built from a series and the rendering of occurrences
// are the same for all four, so they live here once and a change to the
// file's format is made in one place.
//
// It is imported only by tests, so its functions take a testing.TB and
// fail the test on a malformed file instead of returning errors. The
// model's own test (package model) keeps its reader: it cannot import a
// package that imports model, and this one is internal to sync/connector.
package seriesgolden
