package auth

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/caddy-paas/caddy-paas/storage"
)

func auditIDs(entries []AuditEntry) []uint64 {
	out := []uint64{}
	for _, e := range entries {
		out = append(out, e.ID)
	}
	return out
}

func idRange(from, to uint64) []uint64 {
	out := []uint64{}
	for i := from; ; i-- {
		out = append(out, i)
		if i == to {
			return out
		}
	}
}

func TestAuditRecordAndList(t *testing.T) {
	e := newEnv(t, Config{})
	teams := []string{"alpha", "beta", ""}
	for i := 1; i <= 25; i++ {
		e.s.Record(AuditEntry{
			Actor: "a@example.com", ActorKind: KindSession, Action: fmt.Sprintf("apps.deploy.%d", i),
			Team: teams[i%3], Target: "app/blog", ClientIP: "192.0.2.1", Status: 200, Result: "ok",
		})
		e.clock.Add(time.Second)
	}
	fixed := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	e.s.Record(AuditEntry{Time: fixed, Action: "auth.login", Status: 401, Result: "wrong email or password"})

	all, err := e.s.Audit(AuditFilter{})
	must(t, err)
	if len(all) != 26 {
		t.Fatalf("%d entries, want 26", len(all))
	}
	if all[0].ID != 26 || !all[0].Time.Equal(fixed) || all[0].Action != "auth.login" {
		t.Errorf("newest entry %+v", all[0])
	}
	if all[25].ID != 1 || !all[25].Time.Equal(t0) || all[25].Action != "apps.deploy.1" || all[25].Team != "beta" {
		t.Errorf("oldest entry %+v: want id 1 at the service clock's time", all[25])
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID >= all[i-1].ID {
			t.Fatalf("not newest first: %v", auditIDs(all))
		}
	}

	for _, tc := range []struct {
		name string
		f    AuditFilter
		want []uint64
	}{
		{"first page", AuditFilter{Limit: 10}, idRange(26, 17)},
		{"second page", AuditFilter{Before: 17, Limit: 10}, idRange(16, 7)},
		{"last page", AuditFilter{Before: 7, Limit: 10}, idRange(6, 1)},
		{"before the first", AuditFilter{Before: 1, Limit: 10}, []uint64{}},
		{"before beyond the newest", AuditFilter{Before: 1000, Limit: 2}, []uint64{26, 25}},
		{"team", AuditFilter{Team: "alpha"}, []uint64{24, 21, 18, 15, 12, 9, 6, 3}},
		{"team, limited", AuditFilter{Team: "beta", Limit: 3}, []uint64{25, 22, 19}},
		{"team, paged", AuditFilter{Team: "beta", Before: 19, Limit: 3}, []uint64{16, 13, 10}},
		{"unknown team", AuditFilter{Team: "nope"}, []uint64{}},
		{"negative limit means the default", AuditFilter{Limit: -5, Before: 4}, []uint64{3, 2, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.s.Audit(tc.f)
			must(t, err)
			if fmt.Sprint(auditIDs(got)) != fmt.Sprint(tc.want) {
				t.Errorf("ids %v, want %v", auditIDs(got), tc.want)
			}
			for _, g := range got {
				if tc.f.Team != "" && g.Team != tc.f.Team {
					t.Errorf("entry %d of team %q", g.ID, g.Team)
				}
			}
		})
	}

	// Paging by the last id seen reads every entry exactly once.
	seen := map[uint64]int{}
	f := AuditFilter{Limit: 4}
	for pages := 0; pages < 20; pages++ {
		page, err := e.s.Audit(f)
		must(t, err)
		if len(page) == 0 {
			break
		}
		for _, en := range page {
			seen[en.ID]++
		}
		f.Before = page[len(page)-1].ID
	}
	if len(seen) != 26 {
		t.Errorf("paging saw %d entries, want 26", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("entry %d seen %d times", id, n)
		}
	}
}

func TestAuditConcurrentRecords(t *testing.T) {
	e := newEnv(t, Config{})
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.s.Record(AuditEntry{Action: fmt.Sprintf("x.%d", i)})
		}()
	}
	wg.Wait()
	got, err := e.s.Audit(AuditFilter{})
	must(t, err)
	if fmt.Sprint(auditIDs(got)) != fmt.Sprint(idRange(20, 1)) {
		t.Errorf("ids %v, want 20 down to 1", auditIDs(got))
	}
}

// putAuditEntries advances the audit sequence to last, storing the entries
// for which keep is true, in one transaction: far faster than Record.
func putAuditEntries(t *testing.T, e *env, last uint64, keep func(uint64) bool) {
	t.Helper()
	must(t, e.db.Update(func(tx *storage.Tx) error {
		for {
			id, err := tx.NextSequence(auditBucket)
			if err != nil {
				return err
			}
			if keep(id) {
				if err := tx.Put(auditBucket, auditKey(id), &AuditEntry{ID: id, Action: "bulk", Status: 200, Result: "ok"}); err != nil {
					return err
				}
			}
			if id == last {
				return nil
			}
		}
	}))
}

func TestAuditLimitCapped(t *testing.T) {
	e := newEnv(t, Config{})
	putAuditEntries(t, e, 1005, func(uint64) bool { return true })
	for _, tc := range []struct {
		limit, want int
	}{
		{0, 100}, {1000, 1000}, {1001, 1000}, {1 << 30, 1000},
	} {
		got, err := e.s.Audit(AuditFilter{Limit: tc.limit})
		must(t, err)
		if len(got) != tc.want || got[0].ID != 1005 {
			t.Errorf("limit %d: %d entries, want %d", tc.limit, len(got), tc.want)
		}
	}
}

// TestAuditPruning: MaxAuditEntries is a constant, so the log is filled
// in one transaction up to just below a pruning point; the next Record
// prunes. Only entries around the boundaries are stored: the sequence is
// what pruning reads.
func TestAuditPruning(t *testing.T) {
	e := newEnv(t, Config{})
	const next = MaxAuditEntries + 1000 // the first id > MaxAuditEntries that is a multiple of 1000
	floor := uint64(next - MaxAuditEntries)
	stored := func(id uint64) bool { return id <= floor+50 || id > next-50 }
	putAuditEntries(t, e, next-1, stored)
	before := countAudit(t, e)

	e.s.Record(AuditEntry{Action: "trigger"})
	newest, err := e.s.Audit(AuditFilter{Limit: 1})
	must(t, err)
	if len(newest) != 1 || newest[0].ID != next || newest[0].Action != "trigger" {
		t.Fatalf("newest entry %+v, want id %d", newest, next)
	}
	// Every entry more than MaxAuditEntries older than the newest is gone.
	for _, id := range []uint64{1, 2, floor / 2, floor - 1, floor} {
		if auditExists(t, e, id) {
			t.Errorf("entry %d survived pruning", id)
		}
	}
	// The newest MaxAuditEntries - 1 before the trigger stay.
	for _, id := range []uint64{floor + 1, floor + 2, floor + 50, next - 49, next - 1} {
		if !auditExists(t, e, id) {
			t.Errorf("entry %d was pruned", id)
		}
	}
	if got, want := countAudit(t, e), before+1-int(floor); got != want {
		t.Errorf("%d entries after pruning, want %d", got, want)
	}
	// Ids keep increasing after a prune.
	e.s.Record(AuditEntry{Action: "after"})
	if got, _ := e.s.Audit(AuditFilter{Limit: 1}); got[0].ID != next+1 {
		t.Errorf("next id %d, want %d", got[0].ID, next+1)
	}
}

// TestAuditKeepsAtMostMax: the newest MaxAuditEntries are kept, and the
// entry just older than them is not.
func TestAuditKeepsAtMostMax(t *testing.T) {
	e := newEnv(t, Config{})
	const next = MaxAuditEntries + 1000
	putAuditEntries(t, e, next-1, func(uint64) bool { return true })
	e.s.Record(AuditEntry{Action: "trigger"})
	if n := countAudit(t, e); n > MaxAuditEntries {
		t.Errorf("%d entries kept after a prune, want at most %d", n, MaxAuditEntries)
	}
}

func countAudit(t *testing.T, e *env) int {
	t.Helper()
	var n int
	must(t, e.db.View(func(tx *storage.Tx) error {
		var err error
		n, err = tx.Count(auditBucket)
		return err
	}))
	return n
}

func auditExists(t *testing.T, e *env, id uint64) bool {
	t.Helper()
	var en AuditEntry
	err := e.db.View(func(tx *storage.Tx) error { return tx.Get(auditBucket, auditKey(id), &en) })
	return err == nil
}

func TestParseAuditFilter(t *testing.T) {
	for _, tc := range []struct {
		before, limit string
		want          AuditFilter
		bad           bool
	}{
		{"", "", AuditFilter{}, false},
		{"42", "10", AuditFilter{Before: 42, Limit: 10}, false},
		{"0", "1", AuditFilter{Before: 0, Limit: 1}, false},
		{"18446744073709551615", "5000", AuditFilter{Before: 1<<64 - 1, Limit: 5000}, false},
		{"abc", "", AuditFilter{}, true},
		{"-1", "", AuditFilter{}, true},
		{"1.5", "", AuditFilter{}, true},
		{"18446744073709551616", "", AuditFilter{}, true},
		{" 4", "", AuditFilter{}, true},
		{"", "0", AuditFilter{}, true},
		{"", "-3", AuditFilter{}, true},
		{"", "ten", AuditFilter{}, true},
		{"", "99999999999999999999", AuditFilter{}, true},
	} {
		t.Run(tc.before+"/"+tc.limit, func(t *testing.T) {
			got, err := ParseAuditFilter(tc.before, tc.limit)
			if tc.bad {
				wantErr(t, err, http.StatusBadRequest, "")
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ParseAuditFilter(%q, %q) = %+v, %v; want %+v", tc.before, tc.limit, got, err, tc.want)
			}
		})
	}
}
