package proxy

import (
	"errors"
	"mime"
	"net/http"
	"strings"

	"github.com/syncgate/syncgate/policy"
)

// errEWSHeaders is a request whose HTTP headers could make Exchange read
// the envelope differently from the gateway.
type errEWSHeaders string

func (e errEWSHeaders) Error() string { return string(e) }

// ewsHeaderProblem checks the HTTP headers that decide how Exchange reads
// the body the gateway has just checked: no content coding (the gateway read
// the bytes as they are), UTF-8 only (the gateway's parser reads nothing
// else), and a SOAPAction, when sent, naming the operation in the Body.
func ewsHeaderProblem(h http.Header, op string) error {
	for _, v := range h.Values("Content-Encoding") {
		if !strings.EqualFold(strings.TrimSpace(v), "identity") {
			return errEWSHeaders("EWS request body must not be content-encoded")
		}
	}
	switch ct := h.Values("Content-Type"); {
	case len(ct) > 1:
		return errEWSHeaders("EWS request has more than one Content-Type")
	case len(ct) == 1:
		_, params, err := mime.ParseMediaType(ct[0])
		if err != nil {
			return errEWSHeaders("EWS request Content-Type not understood")
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			return errEWSHeaders("EWS request must be UTF-8")
		}
	}
	if sa := h.Values("SOAPAction"); len(sa) > 0 {
		v := strings.Trim(strings.TrimSpace(sa[0]), `"`)
		if len(sa) > 1 || v != "" && v != policy.NSEWSMessages+"/"+op {
			return errEWSHeaders("SOAPAction does not match the EWS operation")
		}
	}
	return nil
}

// ewsRefusalReason is the audit and response reason for an EWS request
// refused before DecideEWS: fixed text, never the request's own values.
func ewsRefusalReason(err error) string {
	var r *policy.EWSRefusal
	var h errEWSHeaders
	switch {
	case errors.As(err, &r):
		return "EWS request refused: " + r.Reason
	case errors.As(err, &h):
		return string(h)
	}
	return "EWS request not understood"
}
