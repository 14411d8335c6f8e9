package runner

import (
	"fmt"
	"testing"
)

func TestRolloutSplit(t *testing.T) {
	for _, tc := range []struct {
		r    Rollout
		n    int
		want string
	}{
		{Rollout{Batch: 2}, 6, "[[0 1] [2 3] [4 5]]"},
		{Rollout{Batch: 4}, 6, "[[0 1 2 3] [4 5]]"},
		{Rollout{Canary: 1, Batch: 2}, 6, "[[0] [1 2] [3 4] [5]]"},
		{Rollout{Canary: 2}, 5, "[[0 1] [2 3 4]]"},
		{Rollout{Canary: 9, Batch: 2}, 3, "[[0 1 2]]"},
		{Rollout{Batch: 3}, 0, "[[]]"},
	} {
		if got := fmt.Sprint(tc.r.split(tc.n)); got != tc.want {
			t.Errorf("%+v of %d: got %s, want %s", tc.r, tc.n, got, tc.want)
		}
	}
}

func TestDrift(t *testing.T) {
	saved := &HostResult{Status: HostChanged, Steps: []*StepResult{
		{Address: "file.a", Kind: "file", Action: ActionUpdate, Observed: "1"},
		{Address: "command.b", Kind: "command", Action: ActionRun, Observed: "2"},
	}}
	same := &HostResult{Status: HostChanged, Steps: []*StepResult{
		{Address: "file.a", Kind: "file", Action: ActionUpdate, Observed: "1"},
		{Address: "command.b", Kind: "command", Action: ActionRun, Observed: "2"},
	}}
	if d := Drift(saved, same); len(d) != 0 {
		t.Fatalf("no drift expected, got %q", d)
	}
	now := &HostResult{Status: HostChanged, Steps: []*StepResult{
		{Address: "file.a", Kind: "file", Action: ActionNone, Observed: "9"},
		{Address: "command.b", Kind: "command", Action: ActionNone, Observed: "2"},
	}}
	d := Drift(saved, now)
	want := []string{
		"file.a: the file changed since the plan (planned: update; now: no change)",
		"command.b: planned: run; now: no change",
	}
	if fmt.Sprint(d) != fmt.Sprint(want) {
		t.Fatalf("got %q, want %q", d, want)
	}
	if d := Drift(&HostResult{Status: HostUnreachable}, same); len(d) != 1 {
		t.Fatalf("a host unreachable during the plan drifted: got %q", d)
	}
}
