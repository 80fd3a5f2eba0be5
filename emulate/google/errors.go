package google

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// errorItem is one entry of the legacy "errors" array that the Calendar API
// (and googleapi.Error) still carries next to the canonical status.
type errorItem struct {
	Domain       string `json:"domain"`
	Reason       string `json:"reason"`
	Message      string `json:"message"`
	LocationType string `json:"locationType,omitempty"`
	Location     string `json:"location,omitempty"`
}

type errorDetail struct {
	Type     string            `json:"@type"`
	Reason   string            `json:"reason,omitempty"`
	Domain   string            `json:"domain,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

type errorBody struct {
	Code    int           `json:"code"`
	Message string        `json:"message"`
	Errors  []errorItem   `json:"errors,omitempty"`
	Status  string        `json:"status,omitempty"`
	Details []errorDetail `json:"details,omitempty"`
}

// apiError is an error the handlers return; it knows how to render itself in
// both Calendar's and People's dialect.
type apiError struct {
	code       int
	message    string
	status     string // canonical google.rpc.Code name
	item       *errorItem
	infoReason string // People: google.rpc.ErrorInfo reason
	retryAfter int    // seconds; 0 = no header
	header     map[string]string
}

func (e *apiError) Error() string { return strconv.Itoa(e.code) + " " + e.message }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// writeCalendarError renders the Calendar v3 error shape documented in
// https://developers.google.com/workspace/calendar/api/guides/errors.
func writeCalendarError(w http.ResponseWriter, e *apiError) {
	b := errorBody{Code: e.code, Message: e.message, Status: e.status}
	if e.item != nil {
		b.Errors = []errorItem{*e.item}
	}
	writeErr(w, e, b)
}

// writePeopleError renders the google.rpc.Status JSON mapping People uses:
// no legacy "errors" array, details carry google.rpc.ErrorInfo.
func writePeopleError(w http.ResponseWriter, e *apiError) {
	b := errorBody{Code: e.code, Message: e.message, Status: e.status}
	if e.infoReason != "" {
		b.Details = []errorDetail{{Type: "type.googleapis.com/google.rpc.ErrorInfo", Reason: e.infoReason, Domain: "people.googleapis.com"}}
	}
	writeErr(w, e, b)
}

func writeErr(w http.ResponseWriter, e *apiError, b errorBody) {
	for k, v := range e.header {
		w.Header().Set(k, v)
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	writeJSON(w, e.code, map[string]errorBody{"error": b})
}

func calErr(code int, status, domain, reason, msg string) *apiError {
	return &apiError{code: code, message: msg, status: status, item: &errorItem{Domain: domain, Reason: reason, Message: msg}}
}

func calParamErr(code int, reason, msg, param string) *apiError {
	e := calErr(code, statusFor(code), "global", reason, msg)
	e.item.LocationType = "parameter"
	e.item.Location = param
	return e
}

func peopleErr(code int, status, msg, reason string) *apiError {
	return &apiError{code: code, message: msg, status: status, infoReason: reason}
}

func statusFor(code int) string {
	switch code {
	case 400:
		return "INVALID_ARGUMENT"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 409:
		return "ALREADY_EXISTS"
	case 410:
		return "FAILED_PRECONDITION"
	case 412:
		return "FAILED_PRECONDITION"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 503:
		return "UNAVAILABLE"
	default:
		return "INTERNAL"
	}
}

func errCalUnauthorized() *apiError {
	e := calErr(401, "UNAUTHENTICATED", "global", "authError", "Invalid Credentials")
	e.item.LocationType = "header"
	e.item.Location = "Authorization"
	e.header = map[string]string{"WWW-Authenticate": `Bearer realm="https://accounts.google.com/", error="invalid_token"`}
	return e
}

func errInsufficientScopes() *apiError {
	e := calErr(403, "PERMISSION_DENIED", "global", "insufficientPermissions", "Request had insufficient authentication scopes.")
	e.infoReason = "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
	e.header = map[string]string{"WWW-Authenticate": `Bearer realm="https://accounts.google.com/", error="insufficient_scope"`}
	return e
}

func errCalNotFound() *apiError { return calErr(404, "NOT_FOUND", "global", "notFound", "Not Found") }

func errCalDeleted() *apiError {
	return calErr(410, "FAILED_PRECONDITION", "global", "deleted", "Resource has been deleted")
}

func errCalPrecondition() *apiError {
	return calParamErrHeader(412, "conditionNotMet", "Precondition Failed", "If-Match")
}

func errFullSyncRequired() *apiError {
	return calErr(410, "FAILED_PRECONDITION", "calendar", "fullSyncRequired", "Sync token is no longer valid, a full sync is required.")
}

func calParamErrHeader(code int, reason, msg, header string) *apiError {
	e := calErr(code, statusFor(code), "global", reason, msg)
	e.item.LocationType = "header"
	e.item.Location = header
	return e
}

// oauthError is the token endpoint's RFC 6749 §5.2 body.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}
