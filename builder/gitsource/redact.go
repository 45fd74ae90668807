package gitsource

import (
	"encoding/base64"
	"errors"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// maxErrorLength bounds an error message: part of it may come from the
// remote server, which could send anything.
const maxErrorLength = 1024

// urlUserinfo matches the user information of any URL inside a message.
var urlUserinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s"']*@`)

// redactor removes a source's credentials from text.
type redactor struct {
	secrets *strings.Replacer
}

// newRedactor returns a redactor for auth's secrets, in every encoding an
// error message could plausibly carry them.
func newRedactor(auth Auth) *redactor {
	var secrets []string
	add := func(s string) {
		if s != "" {
			secrets = append(secrets, s)
		}
	}
	if auth.Token != "" {
		add(auth.Token)
		add(url.QueryEscape(auth.Token))
		add(url.PathEscape(auth.Token))
		add(base64.StdEncoding.EncodeToString([]byte(auth.httpUser() + ":" + auth.Token)))
	}
	if len(auth.PrivateKeyPEM) > 0 {
		add(strings.TrimSpace(string(auth.PrivateKeyPEM)))
	}
	if len(auth.Passphrase) > 0 {
		add(string(auth.Passphrase))
	}
	// Longest first: the replacer tries its pairs in order at each
	// position, so a secret containing another is removed whole. One pass,
	// so a short secret cannot match inside a placeholder.
	sort.SliceStable(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	pairs := make([]string, 0, 2*len(secrets))
	for _, s := range secrets {
		pairs = append(pairs, s, "[redacted]")
	}
	return &redactor{secrets: strings.NewReplacer(pairs...)}
}

// text returns s without secrets, URL user information or control
// characters, and no longer than maxErrorLength.
func (r *redactor) text(s string) string {
	s = r.secrets.Replace(s)
	s = urlUserinfo.ReplaceAllString(s, "${1}[redacted]@")
	s = strings.Map(func(c rune) rune {
		if c < ' ' || c == 0x7f {
			return ' '
		}
		return c
	}, s)
	if len(s) > maxErrorLength {
		s = s[:maxErrorLength] + "..."
	}
	return s
}

// error returns err with its message scrubbed. The result still matches,
// with errors.Is, whatever err matched, but does not unwrap to err, whose
// message may hold a secret.
func (r *redactor) error(err error) error {
	if err == nil {
		return nil
	}
	if s, ok := err.(*scrubbedError); ok && s.msg == r.text(s.msg) {
		return err
	}
	return &scrubbedError{msg: r.text(err.Error()), orig: err}
}

// scrubbedError is an error whose message has had its secrets removed.
type scrubbedError struct {
	msg  string
	orig error
}

// Error returns the scrubbed message.
func (e *scrubbedError) Error() string { return e.msg }

// Is reports whether the original error matches target, so that callers
// can still test for context.Canceled, ErrRefNotFound and the like.
func (e *scrubbedError) Is(target error) bool { return errors.Is(e.orig, target) }
