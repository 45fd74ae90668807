package auth

import (
	"fmt"
	"net/http"
	"time"
)

// Error is an error shown to the user as it is, with its HTTP status. Its
// message never holds a secret.
type Error struct {
	Status  int
	Message string
	// Code is a stable machine-readable reason, such as "totp_required".
	Code string
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

// HTTPStatus is the status the error maps to.
func (e *Error) HTTPStatus() int { return e.Status }

// ErrorCode is the error's machine-readable reason, or "".
func (e *Error) ErrorCode() string { return e.Code }

// RetryAfterSeconds is the wait to announce in Retry-After, or 0.
func (e *Error) RetryAfterSeconds() int {
	if e.RetryAfter <= 0 {
		return 0
	}
	return int((e.RetryAfter + time.Second - 1) / time.Second)
}

func invalid(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf(format, args...)}
}

func forbidden(format string, args ...any) error {
	return &Error{Status: http.StatusForbidden, Message: fmt.Sprintf(format, args...)}
}

func conflict(format string, args ...any) error {
	return &Error{Status: http.StatusConflict, Message: fmt.Sprintf(format, args...)}
}

func unauthorized(code, format string, args ...any) error {
	return &Error{Status: http.StatusUnauthorized, Code: code, Message: fmt.Sprintf(format, args...)}
}
