package auth

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-paas/caddy-paas/storage"
)

// MaxAuditEntries is how many audit entries are kept; older ones are
// pruned.
const MaxAuditEntries = 100_000

// AuditEntry records one change (or one sensitive read): who, what, when,
// from where, with what result.
type AuditEntry struct {
	ID   uint64    `json:"id"`
	Time time.Time `json:"time"`
	// Actor is the user's email, or "local admin endpoint".
	Actor string `json:"actor"`
	// ActorKind is local, session, token or anonymous.
	ActorKind string `json:"actor_kind"`
	UserID    string `json:"user_id,omitempty"`
	TokenID   string `json:"token_id,omitempty"`
	// Action is the operation's id, such as "apps.deploy" or "auth.login".
	Action string `json:"action"`
	// Team is the team of the resource touched, if any.
	Team string `json:"team,omitempty"`
	// Target names the resource, such as "app/blog".
	Target   string `json:"target,omitempty"`
	ClientIP string `json:"client_ip,omitempty"`
	// Status is the HTTP status of the answer.
	Status int `json:"status"`
	// Result is "ok" or the error message shown to the caller.
	Result string `json:"result"`
	// Via is "mcp" for a call of an AI agent through the MCP server.
	Via string `json:"via,omitempty"`
}

// AuditFilter selects audit entries.
type AuditFilter struct {
	// Team keeps only the entries of one team ("" for all).
	Team string
	// Before keeps entries with an id below it (0 for the newest).
	Before uint64
	// Limit caps the answer (default 100, at most 1000).
	Limit int
}

func auditKey(id uint64) string { return fmt.Sprintf("%016x", id) }

// Record appends an entry to the audit log. A failure is logged, never
// shown to the caller: the change it records has already happened.
func (s *Service) Record(e AuditEntry) {
	if e.Time.IsZero() {
		e.Time = s.now().UTC()
	}
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	err := s.db.Update(func(tx *storage.Tx) error {
		id, err := tx.NextSequence(auditBucket)
		if err != nil {
			return err
		}
		e.ID = id
		if err := tx.Put(auditBucket, auditKey(id), &e); err != nil {
			return err
		}
		if id%1000 == 0 && id > MaxAuditEntries {
			// Prune in batches: everything older than the newest
			// MaxAuditEntries.
			floor := auditKey(id - MaxAuditEntries + 1)
			var doomed []string
			err := tx.ScanBackward(auditBucket, floor, func(key string, _ json.RawMessage) (bool, error) {
				doomed = append(doomed, key)
				return len(doomed) < 10_000, nil
			})
			if err != nil {
				return err
			}
			for _, k := range doomed {
				if err := tx.Delete(auditBucket, k); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		s.log().Error("writing audit entry", zap.String("action", e.Action), zap.Error(err))
	}
}

// Audit lists entries, newest first.
func (s *Service) Audit(f AuditFilter) ([]AuditEntry, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	if f.Limit > 1000 {
		f.Limit = 1000
	}
	before := ""
	if f.Before > 0 {
		before = auditKey(f.Before)
	}
	out := []AuditEntry{}
	err := s.db.View(func(tx *storage.Tx) error {
		return tx.ScanBackward(auditBucket, before, func(_ string, raw json.RawMessage) (bool, error) {
			var e AuditEntry
			if err := json.Unmarshal(raw, &e); err != nil {
				return false, err
			}
			if f.Team == "" || e.Team == f.Team {
				out = append(out, e)
			}
			return len(out) < f.Limit, nil
		})
	})
	return out, err
}

// ParseAuditFilter reads ?before=&limit= query values.
func ParseAuditFilter(before, limit string) (AuditFilter, error) {
	var f AuditFilter
	var err error
	if before != "" {
		if f.Before, err = strconv.ParseUint(before, 10, 64); err != nil {
			return f, invalid("before must be an audit entry id")
		}
	}
	if limit != "" {
		if f.Limit, err = strconv.Atoi(limit); err != nil || f.Limit < 1 {
			return f, invalid("limit must be a positive number")
		}
	}
	return f, nil
}
