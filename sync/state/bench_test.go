package state

import (
	"context"
	"fmt"
	"testing"

	"github.com/syncgate/syncgate/sync/model"
)

// BenchmarkPutPair is one transaction inserting one pair: the cost of the
// engine's commit of a create.
func BenchmarkPutPair(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := mustOpen(b, be.new(b))
			i := 0
			for b.Loop() {
				i++
				p := &Pair{User: alice, Kind: model.Contacts, CRMID: fmt.Sprint("003", i), MailID: fmt.Sprint("AAMk", i),
					CRMHash: "h", MailHash: "h", CRMMarker: "m", MailMarker: "e"}
				if err := s.Tx(bg, func(ctx context.Context, w Writer) error { return w.PutPair(ctx, p) }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCommitUpdate is the engine's commit after a remote update:
// pair update + intent done + cursor, in one transaction (intent recorded
// in its own transaction before, as the engine does).
func BenchmarkCommitUpdate(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := mustOpen(b, be.new(b))
			p := &Pair{User: alice, Kind: model.Contacts, CRMID: "003A", MailID: "AAMk1"}
			tx(b, s, func(ctx context.Context, w Writer) error { return w.PutPair(ctx, p) })
			i := 0
			for b.Loop() {
				i++
				in := &Intent{User: alice, Kind: model.Contacts, Op: OpUpdate, Target: model.Mail, PairID: p.ID, Payload: []byte(`{"first_name":"A"}`)}
				if err := s.Tx(bg, func(ctx context.Context, w Writer) error { return w.AddIntent(ctx, in) }); err != nil {
					b.Fatal(err)
				}
				p.MailMarker = fmt.Sprint("e", i)
				if err := s.Tx(bg, func(ctx context.Context, w Writer) error {
					if err := w.PutPair(ctx, p); err != nil {
						return err
					}
					if err := w.DoneIntent(ctx, in.ID); err != nil {
						return err
					}
					return w.SetCursor(ctx, alice, model.Contacts, model.Mail, p.MailMarker)
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
