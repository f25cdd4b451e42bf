// Package status maps the registry's error kinds to HTTP status codes, so
// that every protocol answers the same mistake with the same code.
package status

import (
	"net/http"

	"github.com/siloreg/silo/internal/registry"
)

// Of returns the HTTP status for err; errors of no known kind are 500.
func Of(err error) int {
	switch registry.KindOf(err) {
	case registry.Invalid:
		return http.StatusBadRequest
	case registry.Unauthorized:
		return http.StatusUnauthorized
	case registry.Forbidden:
		return http.StatusForbidden
	case registry.NotFound:
		return http.StatusNotFound
	case registry.Conflict:
		return http.StatusConflict
	case registry.DigestMismatch:
		return http.StatusUnprocessableEntity
	case registry.TooLarge:
		return http.StatusRequestEntityTooLarge
	case registry.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
