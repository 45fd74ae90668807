// Package apispec checks requests and answers against the API's OpenAPI
// document, with kin-openapi: the tests use it to keep the document true.
package apispec

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Validator checks exchanges against one document.
type Validator struct {
	Doc    *openapi3.T
	router routers.Router
	// prefix is the path of the document's server (such as /api/v1),
	// which the router does not match itself.
	prefix string
}

// New loads and validates a document.
func New(doc []byte) (*Validator, error) {
	loader := openapi3.NewLoader()
	t, err := loader.LoadFromData(doc)
	if err != nil {
		return nil, fmt.Errorf("loading the document: %w", err)
	}
	if err := t.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("the document is not valid: %w", err)
	}
	prefix := ""
	if len(t.Servers) > 0 {
		prefix = strings.TrimSuffix(t.Servers[0].URL, "/")
	}
	routed := *t
	routed.Servers = nil
	r, err := legacy.NewRouter(&routed)
	if err != nil {
		return nil, fmt.Errorf("routing the document: %w", err)
	}
	return &Validator{Doc: t, router: r, prefix: prefix}, nil
}

// Check validates a request (with its body) and the answer it got.
func (v *Validator) Check(req *http.Request, reqBody []byte, status int, header http.Header, respBody []byte) error {
	req = req.Clone(req.Context())
	path, ok := strings.CutPrefix(req.URL.Path, v.prefix)
	if !ok {
		return fmt.Errorf("%s is not under the document's server %s", req.URL.Path, v.prefix)
	}
	req.URL.Path, req.URL.RawPath = path, ""
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("%s %s is not in the document: %w", req.Method, path, err)
	}
	req.Body = io.NopCloser(bytes.NewReader(reqBody))
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
	}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		return fmt.Errorf("request %s %s: %w", req.Method, req.URL.Path, err)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: status, Header: header,
		Body:    io.NopCloser(bytes.NewReader(respBody)),
		Options: &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return fmt.Errorf("answer %d to %s %s: %w", status, req.Method, req.URL.Path, err)
	}
	return nil
}
