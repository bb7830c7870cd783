package metrics

import (
	"time"

	"github.com/hibiken/asynq"
	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store"
	"github.com/kiemv/kiemv/store/storetest"

	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/kiemv/kiemv/jobs/kie"
)

func TestResultCode(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{&kie.APIError{Op: "record-info", HTTPStatus: 200, Code: 422, Msg: "recordInfo is null"}, "422"},
		{&kie.APIError{Op: "create", HTTPStatus: 429, Code: 429}, "429"},
		{&kie.APIError{Op: "create", HTTPStatus: 502, Msg: "<html>"}, "502"},
		{&kie.APIError{Op: "record-info", HTTPStatus: 200, Msg: "not JSON"}, "bad_reply"},
		{&kie.APIError{Op: "record-info", Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}, "network"},
		{&kie.APIError{Op: "record-info", Err: context.DeadlineExceeded}, "timeout"},
		{&kie.APIError{Op: "record-info", Err: context.Canceled}, "canceled"},
		{fmt.Errorf("wrapped: %w", &kie.APIError{Code: 430}), "430"},
		{kie.ErrInvalidRequest, "invalid"},
	}
	for _, c := range cases {
		if got := resultCode(c.err); got != c.want {
			t.Errorf("resultCode(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

// fixedLimiter asks every caller to wait d.
type fixedLimiter struct{ d time.Duration }

func (l fixedLimiter) Allow(context.Context, string) (time.Duration, error) { return l.d, nil }

func TestLimiterWaitsAreCounted(t *testing.T) {
	rdb, _ := storetest.Redis(t)
	m := New(store.NewRecords(rdb, storetest.Namespace(t)), asynq.NewInspectorFromRedisClient(rdb))
	lim := m.Limiter(fixedLimiter{d: 1500 * time.Millisecond})
	for range 2 {
		lim.Allow(context.Background(), jobs.LimitRecordInfo)
	}
	m.Limiter(fixedLimiter{}).Allow(context.Background(), jobs.LimitCreate)
	mf, err := m.reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	got := map[string]float64{}
	for _, f := range mf {
		for _, s := range f.GetMetric() {
			if len(s.GetLabel()) == 1 && s.GetCounter() != nil {
				got[f.GetName()+"/"+s.GetLabel()[0].GetValue()] = s.GetCounter().GetValue()
			}
		}
	}
	if got["kiemv_limiter_waits_total/record-info"] != 2 || got["kiemv_limiter_wait_seconds_total/record-info"] != 3 {
		t.Errorf("limiter metrics %v; want 2 waits and 3 s for record-info", got)
	}
	if _, ok := got["kiemv_limiter_waits_total/create"]; ok {
		t.Errorf("a call let through at once was counted as a wait")
	}
}

// TestKIEUp: kiemv_kie_up starts at 1, follows what the breaker reports of KIE (0 while open),
// and ignores the file hosts.
func TestKIEUp(t *testing.T) {
	rdb, _ := storetest.Redis(t)
	m := New(store.NewRecords(rdb, storetest.Namespace(t)), asynq.NewInspectorFromRedisClient(rdb))
	up := func() float64 {
		mf, err := m.reg.Gather()
		if err != nil {
			t.Fatalf("gather: %v", err)
		}
		for _, f := range mf {
			if f.GetName() == "kiemv_kie_up" {
				return f.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no kiemv_kie_up")
		return -1
	}
	h := m.Hooks()
	steps := []struct {
		dep  string
		up   bool
		want float64
	}{{"", true, 1}, {jobs.DepKIE, false, 0}, {"host:files.example", true, 0}, {jobs.DepKIE, true, 1}, {"host:files.example", false, 1}}
	for i, s := range steps {
		if s.dep != "" {
			h.OutageFunc(s.dep, s.up)
		}
		if got := up(); got != s.want {
			t.Errorf("step %d (%s up=%v): kiemv_kie_up %v, want %v", i, s.dep, s.up, got, s.want)
		}
	}
}
