//go:build linux

package main

// The model test (issue 10 §5): random interleavings of submit, track, cancel, retry, worker
// SIGKILL and restart, lost Asynq tasks and KIE faults, run as real kiemv processes against
// the in-process simulator on a real Redis; after quiescence it checks the invariants (see
// model_check_test.go). Each seed is a subtest named after it; one seed is replayed with
//
//	KIEMV_MODEL_SEED=<seed> KIEMV_TEST_REDIS_URL=redis://… go test -count=1 -run TestModel -v ./cmd/kiemv
//
// A seed fixes the steps, their order, the pauses between them, every fate and fault, and the
// choice of target among the ids that qualify at that moment; which ids qualify (open, ended)
// depends on the workers' timing, which is the machine's: a replay takes the same steps,
// though not always on the same records nor in the same interleaving with the workers.

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

// modelSeedEnv names one seed to run instead of the fixed one and the random ones.
const modelSeedEnv = "KIEMV_MODEL_SEED"

// The model's timings: short enough that a seed runs in about a minute, long enough that a
// kill, a cancel or a lost task lands in the middle of a poll or a download.
const (
	modelReconcile = 2 * time.Second
	modelBudget    = 30 * time.Second  // --poll-timeout: a "never" fate ends timed_out
	modelQuiesce   = 150 * time.Second // a killed worker's active task comes back after ~60s of lease
	modelMusicTask = "music-model"
)

// modelWorkerArgs are added to the suite's worker flags.
var modelWorkerArgs = []string{"--reconcile-interval", modelReconcile.String(), "--poll-interval", "500ms",
	"--poll-timeout", modelBudget.String(), "--concurrency", "8", "--download-concurrency", "3",
	"--max-backoff", "3s", "--shutdown-timeout", "3s"}

func TestModel(t *testing.T) {
	needRealRedis(t)
	seeds := []uint64{1, rand.Uint64N(1e9), rand.Uint64N(1e9)}
	if s := os.Getenv(modelSeedEnv); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: not a seed: %v", modelSeedEnv, s, err)
		}
		seeds = []uint64{seed}
	}
	t.Logf("model seeds %v; replay one with %s=<seed> go test -count=1 -run TestModel -v ./cmd/kiemv", seeds, modelSeedEnv)
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel() // a seed mostly waits for workers and leases: the seeds share the time
			t.Logf("seed %d (replay: %s=%d)", seed, modelSeedEnv, seed)
			m := newModel(t, seed)
			m.run()
			m.quiesce()
			m.check()
		})
	}
}

// model is one seed's run: the rig, the random source and what the test knows so far.
type model struct {
	t    *testing.T
	r    *rig
	seed uint64
	rng  *rand.Rand // the steps' kinds and the pauses between them
	// c draws the current step's choices from a stream of its own (seed, step number), so
	// that a choice whose options depend on timing (the records open now) shifts no later step.
	c *rand.Rand

	mu       sync.Mutex
	steps    []string            // the step log
	nsteps   int                 // steps taken
	kinds    map[string]int      // steps taken by kind
	ids      []string            // every MP4 id followed, in the order learned
	known    map[string]bool     // the same, as a set
	fate     map[string]string   // audio id → fate name
	audioOf  map[string]string   // MP4 id → audio id
	audios   []string            // audio ids submitted, in order
	printed  map[string][]string // audio id → ids printed by its submits that exited 0
	linked   map[string]bool     // audio ids some submit exited 0 for
	problems []string            // failures seen by background steps, reported by check
	workers  []*proc             // workers running
	nproc    int                 // processes started, for names
	outage   kiesim.Fault        // the KIE outage on now (FaultNone: none)
	quiet    time.Duration       // from the end of the steps to no record waiting
	cliWG    sync.WaitGroup
	sem      chan struct{} // bounds the CLI processes in flight
	started  time.Time
}

func newModel(t *testing.T, seed uint64) *model {
	cfg := kiesim.Config{ReadyAfter: time.Second, FileSize: 256 << 10, FileRate: 512 << 10,
		SlowDelay: 3 * time.Second, CreateLimit: -1}
	m := &model{t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		r: newRig(t, cfg, rigOptions{}), kinds: map[string]int{}, known: map[string]bool{},
		fate: map[string]string{}, audioOf: map[string]string{}, printed: map[string][]string{}, linked: map[string]bool{},
		sem: make(chan struct{}, 4), started: time.Now()}
	t.Cleanup(func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		log := strings.Join(m.steps, "\n") + "\n"
		if t.Failed() {
			t.Logf("seed %d step log:\n%s", seed, log)
		}
		if keep := os.Getenv("KIEMV_TEST_KEEP_LOGS"); keep != "" { // beside the process logs
			dst := filepath.Join(keep, t.Name())
			_ = os.MkdirAll(dst, 0o755)
			_ = os.WriteFile(filepath.Join(dst, "steps.log"), []byte(log), 0o644)
		}
	})
	return m
}

// logf adds a line to the step log, stamped with the time since the start.
func (m *model) logf(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.steps = append(m.steps, fmt.Sprintf("%6.1fs ", time.Since(m.started).Seconds())+fmt.Sprintf(format, args...))
}

// stepKind is one kind of step and its weight.
type stepKind struct {
	name   string
	weight int
	do     func(m *model, n int)
}

var stepKinds = []stepKind{
	{"submit", 20, (*model).stepSubmit},
	{"resubmit", 8, (*model).stepResubmit},
	{"submit-twice", 4, (*model).stepSubmitTwice},
	{"track-new", 6, (*model).stepTrackNew},
	{"track-again", 4, (*model).stepTrackAgain},
	{"cancel", 8, (*model).stepCancel},
	{"retry", 8, (*model).stepRetry},
	{"kill-worker", 5, (*model).stepKill},
	{"term-worker", 2, (*model).stepTerm},
	{"lose-queue", 3, (*model).stepLoseQueue},
	{"lose-task", 5, (*model).stepLoseTask},
	{"kie-outage", 4, (*model).stepOutage},
	{"create-faults", 3, (*model).stepCreateFaults},
}

// run starts one or two workers and takes 40–80 random steps with short random pauses.
func (m *model) run() {
	for range 1 + m.rng.IntN(2) {
		m.startWorker()
	}
	total := 0
	for _, k := range stepKinds {
		total += k.weight
	}
	m.nsteps = 40 + m.rng.IntN(41)
	for n := 1; n <= m.nsteps; n++ {
		w := m.rng.IntN(total)
		m.c = rand.New(rand.NewPCG(m.seed, uint64(n)))
		for _, k := range stepKinds {
			if w -= k.weight; w < 0 {
				m.kinds[k.name]++
				k.do(m, n)
				break
			}
		}
		time.Sleep(time.Duration(m.rng.IntN(600)) * time.Millisecond)
	}
	m.logf("steps done: %s", m.kindSummary())
}

// kindSummary lists the steps taken by kind.
func (m *model) kindSummary() string {
	var parts []string
	for _, k := range stepKinds {
		if n := m.kinds[k.name]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k.name, n))
		}
	}
	return strings.Join(parts, ", ")
}

// fates are the ways a simulated task may go; each ends (never ends timed_out by the budget).
var fates = []string{"ok", "ok", "ok", "cut", "expired", "cbex", "failed", "slow", "never"}

// newFate picks a fate and scripts it for audio (in the simulator, for creates and AddTask).
func (m *model) newFate(audio string) (string, kiesim.Fate) {
	name := fates[m.c.IntN(len(fates))]
	size := int64(64<<10 + m.c.IntN(704<<10))
	f := kiesim.Fate{ReadyAfter: time.Duration(300+m.c.IntN(3000)) * time.Millisecond, FileSize: size}
	switch name {
	case "cut":
		f.CutAt = size/4 + m.c.Int64N(size/2)
	case "expired":
		f.ExpireURL = true
	case "cbex":
		f.Outcome = kiesim.OutcomeCallbackException
	case "failed":
		f.Outcome = kiesim.OutcomeGenerateFailed
	case "slow":
		f.ReadyAfter = time.Duration(5+m.c.IntN(8)) * time.Second
		f.PollFaults = []kiesim.Fault{kiesim.FaultNone, kiesim.FaultSlow}
	case "never":
		f.Outcome = kiesim.OutcomeNever
	}
	m.r.sim.SetFate(audio, f)
	m.mu.Lock()
	m.fate[audio] = name
	m.mu.Unlock()
	return name, f
}

// problem notes a failure seen in the background (a test may not fail from a goroutine that
// can outlive it); check reports it.
func (m *model) problem(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.problems = append(m.problems, fmt.Sprintf(format, args...))
}

// learn adds id, the MP4 task of audio, to the ids the model follows.
func (m *model) learn(id, audio string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.audioOf[id] = audio
	if !m.known[id] {
		m.known[id] = true
		m.ids = append(m.ids, id)
	}
}

// pick returns a random element of s ("" if s is empty).
func (m *model) pick(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[m.c.IntN(len(s))]
}

// background runs a CLI step in a goroutine, at most cap(m.sem) at once.
func (m *model) background(f func()) {
	m.sem <- struct{}{}
	m.cliWG.Add(1)
	go func() {
		defer func() { <-m.sem; m.cliWG.Done() }()
		f()
	}()
}

// idsIn returns the followed ids, in the order learned, whose record is in one of states (read
// straight from Redis).
func (m *model) idsIn(states ...jobs.State) []string {
	m.mu.Lock()
	ids := append([]string(nil), m.ids...)
	m.mu.Unlock()
	var out []string
	for _, id := range ids {
		for _, st := range states {
			if m.r.allIn(st, id) {
				out = append(out, id)
				break
			}
		}
	}
	return out
}
