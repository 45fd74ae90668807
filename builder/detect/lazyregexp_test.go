package detect

import (
	"regexp"
	"testing"
)

// TestEveryExpressionCompiles compiles each of the detectors' expressions,
// which the package otherwise compiles only when a build first uses them.
func TestEveryExpressionCompiles(t *testing.T) {
	if len(allExpressions) < 30 {
		t.Fatalf("only %d expressions registered", len(allExpressions))
	}
	for _, l := range allExpressions {
		if _, err := regexp.Compile(l.expr); err != nil {
			t.Errorf("%q: %v", l.expr, err)
		}
		if l.get() == nil {
			t.Errorf("%q: not compiled", l.expr)
		}
	}
}
