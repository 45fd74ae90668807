// Package auth holds the primitives of authentication: password hashing, API
// tokens, TOTP, recovery codes and login throttling.
//
// The primitives in password.go, random.go, apitoken.go, totp.go,
// recovery.go and throttle.go touch no storage: they take and return
// strings and bytes, so the service that keeps users and sessions decides
// where hashes live. Every random value comes from crypto/rand; a test
// (randomness_test.go) refuses math/rand in this package and in admin.
package auth
