package names

import "testing"

func TestBranch(t *testing.T) {
	if got := Branch("demo"); got != "ws/demo" {
		t.Errorf("Branch(demo) = %q, want ws/demo", got)
	}
}
