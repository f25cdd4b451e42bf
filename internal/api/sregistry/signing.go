package sregistry

import (
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/siloreg/silo/internal/access"
	"github.com/siloreg/silo/internal/auth"
	"github.com/siloreg/silo/internal/registry"
)

// signScheme is the Authorization scheme of sregistry-cli's signed requests:
//
//	SREGISTRY-HMAC-SHA256 Credential=<kind>/<base64(user)>/<YYYYmmddTHHZ>,Signature=<hex>
const signScheme = "SREGISTRY-HMAC-SHA256"

// signedHeader is a parsed signed Authorization header.
type signedHeader struct {
	kind, user, timestamp, signature string
}

// errBadHeader is the answer to a header that is not a well-formed signature.
var errBadHeader = &registry.Error{Kind: registry.Unauthorized,
	Msg: "Authorization must be " + signScheme + " Credential=<kind>/<base64 user>/<timestamp>,Signature=<hex>"}

// parseSigned reads the header the way sregistry does (scheme, then
// comma-separated key=value pairs), but refuses what it would crash on.
func parseSigned(h string) (*signedHeader, error) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || scheme != signScheme {
		return nil, errBadHeader
	}
	vals := map[string]string{}
	for _, kv := range strings.Split(strings.TrimSpace(rest), ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, errBadHeader
		}
		vals[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	parts := strings.Split(vals["Credential"], "/")
	if len(parts) != 3 || vals["Signature"] == "" {
		return nil, errBadHeader
	}
	user, err := base64.StdEncoding.DecodeString(parts[1])
	if err != nil || len(user) == 0 {
		return nil, errBadHeader
	}
	return &signedHeader{kind: parts[0], user: string(user), timestamp: parts[2], signature: vals["Signature"]}, nil
}

// signed checks the request is signed for kind over collection, name and
// tag, in sregistry's payload "<kind>|<collection>|<timestamp>|<name>|<tag>|",
// and returns its user.
func (a *API) signed(r *http.Request, kind, collection, name, tag string) (access.Actor, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return access.Anonymous, &registry.Error{Kind: registry.Unauthorized, Msg: "Authentication Required"}
	}
	sh, err := parseSigned(h)
	if err != nil {
		return access.Anonymous, err
	}
	return a.reg.VerifySregistry(r.Context(), registry.SregistryRequest{
		Kind: sh.kind, Want: kind, User: sh.user, Timestamp: sh.timestamp,
		Payload:   kind + "|" + collection + "|" + sh.timestamp + "|" + name + "|" + tag + "|",
		Signature: sh.signature, Remote: auth.Remote(r),
	})
}

// isSigned reports whether the request carries a signed header at all.
func isSigned(r *http.Request) bool {
	return strings.HasPrefix(strings.TrimSpace(r.Header.Get("Authorization")), signScheme+" ")
}
