package engine

import (
	"fmt"
	"time"

	"github.com/syncgate/syncgate/sync/model"
)

// Direction says which way items of a kind flow.
type Direction string

const (
	Both       Direction = "both"
	CRMToMail  Direction = "crm_to_mail"
	MailToCRM  Direction = "mail_to_crm"
	noDirction Direction = ""
)

// Writes reports whether this direction may write side s.
func (d Direction) Writes(s model.Side) bool {
	switch d {
	case Both:
		return true
	case CRMToMail:
		return s == model.Mail
	case MailToCRM:
		return s == model.CRM
	}
	return false
}

// Winner decides a both-sides change.
type Winner string

const (
	WinCRM    Winner = "crm"
	WinMail   Winner = "mail"
	WinNewest Winner = "newest"
)

// PrivateMode says what happens to private events.
type PrivateMode string

const (
	// PrivateSync syncs private events like any other (the Private flag
	// travels with them).
	PrivateSync PrivateMode = "sync"
	// PrivateSkip leaves private events out.
	PrivateSkip PrivateMode = "skip"
	// PrivateBusyOnly writes a private event to the other side as a busy
	// placeholder: its times, Private, ShowAs busy, Subject "Busy", and no
	// location, description or attendees. The placeholder never flows back
	// over the event (see the README's Sync engine section).
	PrivateBusyOnly PrivateMode = "busy_only"
)

// KindSettings are Lightning Sync's per-kind choices.
type KindSettings struct {
	Enabled   bool
	Direction Direction
	// Deletes propagates a deletion to the other side; when false the pair
	// is unlinked and the survivor left alone.
	Deletes bool
	Winner  Winner
	// Events only.
	Selected       bool   // only events that carry SelectCategory, or came from the CRM
	SelectCategory string // the mailbox category that marks a selected event
	// Private: sync, skip or busy_only ("" = sync, or skip when the older
	// SkipPrivate is set).
	Private     PrivateMode
	SkipPrivate bool // the same as Private skip (kept for callers of part 1)
	// AutoRelate relates a mailbox event's attendees to the CRM's contacts
	// (or one lead) when the engine creates or updates the event in the
	// CRM, when the CRM connector can (connector.Relater). The engine's
	// zero value is off; the config file's default is on.
	AutoRelate bool
	// Series syncs event series (masters with their recurrence, exceptions
	// and cancelled occurrences) as one item each when both ends can
	// (connector.SeriesCapable); off, or with an end that cannot, series
	// are skipped and recorded.
	Series       bool
	WindowPast   time.Duration
	WindowFuture time.Duration
	// Mass-delete guard: a pass that would delete or unlink more than
	// GuardPercent of the pairs and at least GuardMin items pauses.
	GuardPercent float64
	GuardMin     int
}

// Defaults fills zero values with the documented defaults.
func (k KindSettings) Defaults() KindSettings {
	if k.Direction == noDirction {
		k.Direction = Both
	}
	if k.Winner == "" {
		k.Winner = WinCRM
	}
	if k.WindowPast == 0 {
		k.WindowPast = 30 * 24 * time.Hour
	}
	if k.WindowFuture == 0 {
		k.WindowFuture = 365 * 24 * time.Hour
	}
	if k.GuardPercent == 0 {
		k.GuardPercent = 20
	}
	if k.GuardMin == 0 {
		k.GuardMin = 10
	}
	if k.Private == "" {
		k.Private = PrivateSync
		if k.SkipPrivate {
			k.Private = PrivateSkip
		}
	}
	if k.Selected && k.SelectCategory == "" {
		k.SelectCategory = "Salesforce"
	}
	return k
}

// Validate refuses settings the engine cannot honour.
func (k KindSettings) Validate(kind model.Kind) error {
	switch k.Direction {
	case Both, CRMToMail, MailToCRM:
	default:
		return fmt.Errorf("%s: direction %q (want both, crm_to_mail or mail_to_crm)", kind, k.Direction)
	}
	switch k.Winner {
	case WinCRM, WinMail, WinNewest:
	default:
		return fmt.Errorf("%s: conflict winner %q (want crm, mail or newest)", kind, k.Winner)
	}
	if k.GuardPercent <= 0 || k.GuardPercent > 100 || k.GuardMin < 1 {
		return fmt.Errorf("%s: mass-delete guard needs 0 < percent <= 100 and min >= 1", kind)
	}
	switch k.Private {
	case "", PrivateSync, PrivateSkip, PrivateBusyOnly:
	default:
		return fmt.Errorf("%s: private %q (want sync, skip or busy_only)", kind, k.Private)
	}
	if k.SkipPrivate && k.Private != "" && k.Private != PrivateSkip {
		return fmt.Errorf("%s: SkipPrivate contradicts private %q", kind, k.Private)
	}
	if kind == model.Contacts && (k.Selected || k.SkipPrivate || (k.Private != "" && k.Private != PrivateSync) || k.AutoRelate || k.Series) {
		return fmt.Errorf("contacts: selected, private, auto-relate and series apply to events only")
	}
	return nil
}
