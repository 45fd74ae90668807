package platform

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is an error a front door shows to the user as it is, with the HTTP
// status it maps to. Its message never holds a secret.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

// HTTPStatus is the status the error maps to.
func (e *Error) HTTPStatus() int { return e.Status }

func invalid(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf(format, args...)}
}

func conflict(format string, args ...any) error {
	return &Error{Status: http.StatusConflict, Message: fmt.Sprintf(format, args...)}
}

// StatusOf returns the HTTP status for err: the one of an error with an
// HTTPStatus method (such as *Error), else 500.
func StatusOf(err error) int {
	var e interface{ HTTPStatus() int }
	if errors.As(err, &e) {
		return e.HTTPStatus()
	}
	return http.StatusInternalServerError
}
