package metrics

import (
	"context"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie"
)

// Music wraps the music record-info client of the song handler so that its calls are counted
// in kiemv_kie_calls_total and kiemv_kie_call_duration_seconds as endpoint
// "music-record-info".
func (m *Metrics) Music(d jobs.MusicDetails) jobs.MusicDetails { return &instrumentedMusic{d: d, m: m} }

type instrumentedMusic struct {
	d jobs.MusicDetails
	m *Metrics
}

func (k *instrumentedMusic) MusicDetails(ctx context.Context, taskID string) (*kie.MusicRecord, error) {
	start := time.Now()
	r, err := k.d.MusicDetails(ctx, taskID)
	k.m.kieCalls.WithLabelValues("music-record-info", resultCode(err)).Inc()
	k.m.kieSeconds.WithLabelValues("music-record-info").Observe(time.Since(start).Seconds())
	return r, err
}
