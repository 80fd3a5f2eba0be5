package salesforce

import (
	"fmt"
	"net/http"
	"strings"
)

// Shared Activities rules for EventRelation, as the EventRelation and
// EventWhoRelation references document them
// (https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_eventrelation.htm):
//   - one row per person and event: a contact who is related (IsParent) and
//     invited (IsInvitee) has one row with both flags, so a second row for
//     the same EventId and RelationId is refused (DUPLICATE_VALUE);
//   - an event is related (IsParent) to up to 50 contacts or one lead, never
//     both (FIELD_INTEGRITY_EXCEPTION; the documentation names the limit,
//     not the error code, which is this emulator's choice);
//
// Known simplification: setting Event.WhoId does not create the matching
// IsParent row here (Salesforce does); callers that relate people create
// the rows first and set WhoId after, which works the same on both.
const maxParentContacts = 50

// checkEventRelationLocked applies the rules above to the EventRelation
// fields f of record id (new or updated).
func (s *Server) checkEventRelationLocked(id string, f map[string]any) *opError {
	ev, _ := f["EventId"].(string)
	who, _ := f["RelationId"].(string)
	parent, _ := f["IsParent"].(bool)
	contacts, leads := 0, 0
	if parent {
		switch {
		case strings.HasPrefix(who, "003"):
			contacts++
		case strings.HasPrefix(who, "00Q"):
			leads++
		}
	}
	for _, other := range s.objects["eventrelation"].records {
		if other.id == id || other.deleted() || other.str("EventId") != ev {
			continue
		}
		if other.str("RelationId") == who {
			return newOpError(http.StatusBadRequest, "DUPLICATE_VALUE",
				fmt.Sprintf("duplicate value found: RelationId duplicates value on record with id: %s", other.id), "RelationId")
		}
		if p, _ := other.fields["IsParent"].(bool); p {
			switch r := other.str("RelationId"); {
			case strings.HasPrefix(r, "003"):
				contacts++
			case strings.HasPrefix(r, "00Q"):
				leads++
			}
		}
	}
	switch {
	case parent && leads > 1, parent && leads > 0 && contacts > 0:
		return newOpError(http.StatusBadRequest, "FIELD_INTEGRITY_EXCEPTION", "An event can be related to up to 50 contacts or one lead.", "RelationId")
	case parent && contacts > maxParentContacts:
		return newOpError(http.StatusBadRequest, "FIELD_INTEGRITY_EXCEPTION", "An event can be related to up to 50 contacts.", "RelationId")
	}
	return nil
}
