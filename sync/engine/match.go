package engine

import (
	"context"
	"fmt"
	"sort"

	"github.com/syncgate/syncgate/sync/model"
	"github.com/syncgate/syncgate/sync/state"
)

// newItems pairs or creates the items that no pair knows. Order of trust:
// the idempotency key (the engine's own copies, also after a lost state),
// then content matching (contacts by e-mail, then first + last name +
// company; events by subject + start + end), then creation. An ambiguous
// match is recorded as unresolved and nothing is written.
func (p *pass) newItems(ctx context.Context, crmNew, mailNew []*model.Item) error {
	var crmIn, mailIn []*model.Item
	for _, it := range crmNew {
		if skip, why := p.filtered(model.CRM, it, false); skip {
			if err := p.skip(ctx, nil, model.CRM, it, why); err != nil {
				return err
			}
			continue
		}
		crmIn = append(crmIn, it)
	}
	for _, it := range mailNew {
		if skip, why := p.filtered(model.Mail, it, false); skip {
			if err := p.skip(ctx, nil, model.Mail, it, why); err != nil {
				return err
			}
			continue
		}
		mailIn = append(mailIn, it)
	}
	claimed := map[*model.Item]bool{}

	// 1. Keys: a copy carries Key(source side, source id).
	keyed := map[string]*model.Item{}
	for _, it := range append(append([]*model.Item{}, crmIn...), mailIn...) {
		if it.Key != "" {
			keyed[string(it.Kind())+"/"+baseKey(it.Key)] = it
		}
	}
	type link struct {
		crm, mail *model.Item
		how       string
	}
	var links []link
	for _, side := range []model.Side{model.CRM, model.Mail} {
		list := crmIn
		if side == model.Mail {
			list = mailIn
		}
		for _, it := range list {
			if claimed[it] {
				continue
			}
			cp := keyed[string(it.Kind())+"/"+Key(p.j.User, p.j.Kind, side, it.ID)]
			if cp == nil || claimed[cp] || cp == it {
				continue
			}
			claimed[it], claimed[cp] = true, true
			if side == model.CRM {
				links = append(links, link{it, cp, "found the copy by its idempotency key"})
			} else {
				links = append(links, link{cp, it, "found the copy by its idempotency key"})
			}
		}
	}

	// 2. Content matching over what is left.
	index := func(list []*model.Item, key func(*model.Item) string) map[string][]*model.Item {
		m := map[string][]*model.Item{}
		for _, it := range list {
			if claimed[it] {
				continue
			}
			if k := key(it); k != "" {
				m[k] = append(m[k], it)
			}
		}
		return m
	}
	type amb struct {
		side  model.Side
		it    *model.Item
		cands []*model.Item
		why   string
	}
	var ambiguous []amb
	for _, key := range []func(*model.Item) string{(*model.Item).MatchKey, (*model.Item).NameKey} {
		ci, mi := index(crmIn, key), index(mailIn, key)
		keys := make([]string, 0, len(ci))
		for k := range ci {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			cs, ms := ci[k], mi[k]
			switch {
			case len(ms) == 0:
				continue
			case len(cs) == 1 && len(ms) == 1:
				claimed[cs[0]], claimed[ms[0]] = true, true
				links = append(links, link{cs[0], ms[0], "matched by " + matchName(k)})
			default:
				// Two or more candidates on either side: a person decides.
				for _, c := range cs {
					claimed[c] = true
					ambiguous = append(ambiguous, amb{model.CRM, c, ms, matchName(k)})
				}
				for _, m := range ms {
					claimed[m] = true
					ambiguous = append(ambiguous, amb{model.Mail, m, cs, matchName(k)})
				}
			}
		}
	}
	for _, l := range links {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := p.link(ctx, l.crm, l.mail, l.how); err != nil {
			return err
		}
	}
	for _, a := range ambiguous {
		cands := make([]string, 0, len(a.cands))
		for _, c := range a.cands {
			cands = append(cands, c.ID)
		}
		u := state.Unresolved{User: p.j.User, Kind: p.j.Kind, Side: a.side, ItemID: a.it.ID, Candidates: cands,
			Reason: fmt.Sprintf("%d candidates by %s; pair them by hand or make them distinct", len(a.cands), a.why), At: p.e.now()}
		if err := p.e.Store.Tx(context.WithoutCancel(ctx), func(ctx context.Context, w state.Writer) error { return w.SetUnresolved(ctx, u) }); err != nil {
			return fmt.Errorf("record unresolved: %w", err)
		}
		p.res.Unresolved++
		crm, mail := ids(a.side, a.it.ID, "")
		if err := p.record(ctx, Action{Action: ActUnresolved, CRMID: crm, MailID: mail, Reason: u.Reason}); err != nil {
			return err
		}
	}

	// 3. Create what matched nothing, where the direction allows.
	dir := p.j.Settings.Direction
	for _, side := range []model.Side{model.CRM, model.Mail} {
		list := crmIn
		if side == model.Mail {
			list = mailIn
		}
		for _, it := range list {
			if claimed[it] {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if !dir.Writes(side.Other()) {
				if err := p.skip(ctx, nil, side, it, fmt.Sprintf("new in %s; direction %s does not write %s", side, dir, side.Other())); err != nil {
					return err
				}
				continue
			}
			if err := p.create(ctx, nil, side, it, Key(p.j.User, p.j.Kind, side, it.ID), "new in "+string(side)); err != nil {
				return err
			}
		}
	}
	return nil
}

func matchName(k string) string {
	for i := 0; i < len(k); i++ {
		if k[i] == ':' {
			switch k[:i] {
			case "email":
				return "e-mail address"
			case "name":
				return "first name, last name and company"
			case "event":
				return "subject, start and end"
			}
		}
	}
	return "content"
}

// link pairs two existing items. Identical content is adopted without a
// write; different content is settled by the conflict rule, the losing
// version kept.
func (p *pass) link(ctx context.Context, crmIt, mailIt *model.Item, how string) error {
	pr := &state.Pair{User: p.j.User, Kind: p.j.Kind}
	p.setRead(pr, model.CRM, crmIt)
	p.setRead(pr, model.Mail, mailIt)
	if mailIt.Key != "" {
		pr.Key = mailIt.Key
	} else {
		pr.Key = crmIt.Key
	}
	evSide, rewrite := p.linkPlaceholder(pr, crmIt, mailIt)
	if err := p.e.Store.Tx(context.WithoutCancel(ctx), func(ctx context.Context, w state.Writer) error {
		if err := w.ClearUnresolved(ctx, p.j.User, p.j.Kind, model.CRM, crmIt.ID); err != nil {
			return err
		}
		if err := w.ClearUnresolved(ctx, p.j.User, p.j.Kind, model.Mail, mailIt.ID); err != nil {
			return err
		}
		return w.PutPair(ctx, pr)
	}); err != nil {
		return fmt.Errorf("link: %w", err)
	}
	p.pairs = append(p.pairs, pr)
	p.byCRM[pr.CRMID], p.byMail[pr.MailID] = pr, pr
	p.res.Linked++
	if err := p.record(ctx, Action{Action: ActLink, CRMID: crmIt.ID, MailID: mailIt.ID, Reason: how}); err != nil {
		return err
	}
	if crmIt.Hash() == mailIt.Hash() {
		return nil
	}
	if evSide != "" {
		// A private event and its placeholder: the placeholder follows.
		if !rewrite || !p.j.Settings.Direction.Writes(evSide.Other()) {
			return nil
		}
		evIt, phIt := crmIt, mailIt
		if evSide == model.Mail {
			evIt, phIt = mailIt, crmIt
		}
		return p.update(ctx, pr, evSide, evIt, "busy placeholder of a private event differs from it", upd{cur: phIt})
	}
	// Paired but different: settle it like a change on both sides. The
	// stored hashes are the current ones, so the conflict writes once.
	return p.conflict(ctx, pr, crmIt, mailIt, "paired items differ")
}
