package jobs

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs/kie"
)

func TestHooksNilSafe(t *testing.T) {
	var h *Hooks
	h.poll(PollReady)
	h.state("mp4_a", &Record{State: StateReady}, Change{To: StateReady})
	h.download(1, time.Second, nil)
	(&Hooks{}).poll(PollReady) // nil fields
}

func TestHooksCalls(t *testing.T) {
	var polls, states []string
	var bytes []int64
	h := &Hooks{
		PollFunc:     func(o string) { polls = append(polls, o) },
		StateFunc:    func(id string, to State) { states = append(states, id+">"+string(to)) },
		DownloadFunc: func(n int64, _ time.Duration, _ error) { bytes = append(bytes, n) },
	}
	h.poll(PollPending)
	h.state("mp4_a", &Record{State: StateDownloaded}, Change{To: StateDownloaded})
	h.state("mp4_a", &Record{State: StateDownloaded}, Change{Bytes: 5}) // no state change
	h.state("mp4_a", nil, Change{To: StateFailed})                      // conflict: dropped
	h.download(42, time.Second, nil)
	h.download(42, time.Second, errors.New("cut")) // a failed attempt verified nothing
	if len(polls) != 1 || polls[0] != PollPending {
		t.Errorf("polls %v", polls)
	}
	if len(states) != 1 || states[0] != "mp4_a>downloaded" {
		t.Errorf("states %v, want only the real change", states)
	}
	if len(bytes) != 2 || bytes[0] != 42 || bytes[1] != 0 {
		t.Errorf("download bytes %v, want [42 0]", bytes)
	}
}

func TestPollOutcomes(t *testing.T) {
	ok := context.Background()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		ctx  context.Context
		err  error
		want string
	}{
		{ok, &kie.APIError{Op: "record-info", HTTPStatus: 200, Msg: "recordInfo is null"}, PollNotFound},
		{ok, &kie.APIError{Op: "record-info", HTTPStatus: 200, Code: 430, Msg: "call frequency too high"}, PollRateLimited},
		{ok, &kie.APIError{Op: "record-info", HTTPStatus: 502}, PollError},
		{ok, &kie.APIError{Op: "record-info", HTTPStatus: 200, Code: 401, Msg: "no access"}, PollRefused},
		{done, &kie.APIError{Op: "record-info", Err: context.Canceled}, PollCanceled},
	}
	for _, c := range cases {
		if got := pollErrorOutcome(c.ctx, c.err); got != c.want {
			t.Errorf("pollErrorOutcome(%v) = %q, want %q", c.err, got, c.want)
		}
	}
	for vr, want := range map[*kie.VideoRecord]string{
		{Status: kie.StatusPending}:                                   PollPending,
		{Status: kie.StatusSuccess, VideoURL: "https://x/v.mp4"}:      PollReady,
		{Status: kie.StatusCallbackException, VideoURL: "https://x/"}: PollReady,
		{Status: kie.StatusCallbackException}:                         PollPending,
		{Status: kie.StatusGenerateFailed}:                            PollFailed,
	} {
		if got := pollOutcome(vr); got != want {
			t.Errorf("pollOutcome(%+v) = %q, want %q", *vr, got, want)
		}
	}
}
