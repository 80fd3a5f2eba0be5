package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/syncgate/syncgate/sync/connector"
)

// Scheduler runs every job once per interval with a bounded number of
// workers. Jobs of one user run in order (contacts, then events), never
// concurrently, so a mailbox sees at most one pass at a time.
type Scheduler struct {
	Engine   *Engine
	Jobs     []Job
	Interval time.Duration
	Workers  int
}

// Outcome is one job's result in a round.
type Outcome struct {
	Job    Job
	Result Result
	Err    error
}

// Once runs one round and returns each job's outcome. The round stops
// starting jobs when ctx is done; jobs in flight finish their item.
func (s *Scheduler) Once(ctx context.Context) []Outcome {
	byUser := map[string][]Job{}
	var users []string
	for _, j := range s.Jobs {
		if _, ok := byUser[j.User]; !ok {
			users = append(users, j.User)
		}
		byUser[j.User] = append(byUser[j.User], j)
	}
	sort.Strings(users)
	workers := s.Workers
	if workers <= 0 {
		workers = 4
	}
	var (
		mu   sync.Mutex
		out  []Outcome
		wg   sync.WaitGroup
		next = make(chan string)
		// An org out of API calls stops the round for every user.
		orgPaused bool
	)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range next {
				for _, j := range byUser[u] {
					mu.Lock()
					paused := orgPaused
					mu.Unlock()
					var o Outcome
					if paused {
						o = Outcome{Job: j, Err: fmt.Errorf("sync %s %s: %w (not attempted this round)", j.User, j.Kind, connector.ErrOrgLimit)}
					} else {
						r, err := s.Engine.Run(ctx, j)
						o = Outcome{Job: j, Result: r, Err: err}
					}
					mu.Lock()
					out = append(out, o)
					if errors.Is(o.Err, connector.ErrOrgLimit) {
						orgPaused = true
					}
					mu.Unlock()
				}
			}
		}()
	}
feed:
	for _, u := range users {
		select {
		case next <- u:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	sort.SliceStable(out, func(a, b int) bool {
		if out[a].Job.User != out[b].Job.User {
			return out[a].Job.User < out[b].Job.User
		}
		return out[a].Job.Kind < out[b].Job.Kind
	})
	return out
}

// Run runs rounds until ctx is done. report sees every round's outcomes.
func (s *Scheduler) Run(ctx context.Context, report func([]Outcome)) error {
	interval := s.Interval
	if interval <= 0 {
		interval = 5 * time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res := s.Once(ctx)
		if report != nil {
			report(res)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
