// Package memory is an in-memory connector with the semantics the engine
// relies on from real services: change markers that move on every write,
// an incremental change feed with tombstones and a cursor that can expire,
// idempotency keys, optimistic concurrency, and fault injection. The
// engine's property tests run thousands of passes against it; the same
// properties run against the emulators through a real gateway with fewer
// steps.
package memory
