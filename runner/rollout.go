package runner

import "time"

// Rollout runs an apply's hosts in batches, in the order of the targets:
// a batch starts only when the one before it has finished (within a batch
// Forks still bounds concurrency). After each batch, when the failures so
// far (failed, unreachable, rolled back, drifted, plus PriorFailures)
// exceed MaxFail, or any canary host failed, no further batch starts and
// the remaining hosts are reported as not_attempted.
type Rollout struct {
	// Batch is the number of hosts per batch; 0 puts all the hosts after
	// the canaries in one batch.
	Batch int
	// Canary is the number of first hosts that run alone, as a batch of
	// their own; any failure among them stops the rollout.
	Canary int
	// MaxFail is how many failures are tolerated; a negative value means
	// no limit.
	MaxFail int
	// MaxFailText names the limit in messages ("--max-fail 2").
	MaxFailText string
	// Pause is waited between batches (an interrupt ends it).
	Pause time.Duration
	// PriorFailures are failures before the apply (hosts that failed or
	// were unreachable during the plan, or drifted).
	PriorFailures int
}

// RolloutObserver is an optional part of an Observer: it hears about
// batches.
type RolloutObserver interface {
	BatchStarted(n, total int, hosts []string)
	Pausing(d time.Duration, next, total int)
	RolloutStopped(reason string, notAttempted []string)
}

func (r *Rollout) batched() bool { return r.Batch > 0 || r.Canary > 0 }

// split cuts n targets into batches of indexes.
func (r *Rollout) split(n int) [][]int {
	var out [][]int
	i := 0
	if r.Canary > 0 {
		c := min(r.Canary, n)
		var b []int
		for ; i < c; i++ {
			b = append(b, i)
		}
		out = append(out, b)
	}
	size := r.Batch
	if size <= 0 {
		size = n
	}
	for i < n {
		var b []int
		for j := 0; j < size && i < n; j++ {
			b = append(b, i)
			i++
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		out = [][]int{{}}
	}
	return out
}
