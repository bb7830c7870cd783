package metrics

import (
	"context"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/kiemv/kiemv/jobs/kie"
	"github.com/kiemv/kiemv/store"
	"github.com/kiemv/kiemv/store/storetest"
)

type musicReply struct{ err error }

func (m musicReply) MusicDetails(context.Context, string) (*kie.MusicRecord, error) {
	if m.err != nil {
		return nil, m.err
	}
	return &kie.MusicRecord{}, nil
}

func TestMusicCallsAreCounted(t *testing.T) {
	rdb, _ := storetest.Redis(t)
	m := New(store.NewRecords(rdb, storetest.Namespace(t)), asynq.NewInspectorFromRedisClient(rdb))
	m.Music(musicReply{}).MusicDetails(context.Background(), "m1")
	m.Music(musicReply{}).MusicDetails(context.Background(), "m1")
	m.Music(musicReply{err: &kie.APIError{Code: 455}}).MusicDetails(context.Background(), "m1")
	mf, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range mf {
		if f.GetName() != "kiemv_kie_calls_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range s.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			got[l["endpoint"]+"/"+l["code"]] = s.GetCounter().GetValue()
		}
	}
	if got["music-record-info/ok"] != 2 || got["music-record-info/455"] != 1 {
		t.Errorf("kiemv_kie_calls_total %v; want 2 ok and one 455 for music-record-info", got)
	}
}
