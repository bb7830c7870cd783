package kiesim

import (
	"net/http"
	"time"
)

// Chaos for reliability tests: an outage switched on and off at run time, a count of the
// record-info calls of one task in flight at once, and file responses paced to a byte rate.

// SetOutage makes every API call (create, record-info, download-url, credit) answer with
// fault f, as during KIE maintenance (Fault455) or a broken gateway (FaultHTML500), until
// SetOutage(FaultNone) ends it. Video files keep being served: they come from a file host of
// their own. Record-info calls answered by the outage count in Stats.Polls and
// Stats.PollFaults; every call it answers counts in Stats.OutageReplies.
func (s *Sim) SetOutage(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outage = f
}

// serveOutage answers r with the outage fault and reports whether it did (false when there
// is no outage, or when a FaultSlow outage let the call through after its delay).
func (s *Sim) serveOutage(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	f := s.outage
	if f != FaultNone {
		s.stats.OutageReplies++
		if id := r.URL.Query().Get("taskId"); (r.URL.Path == PathRecordInfo || r.URL.Path == PathJobsRecordInfo) && id != "" {
			s.stats.Polls[id]++
			s.stats.PollFaults[id]++
		}
	}
	s.mu.Unlock()
	return f != FaultNone && s.answerFault(w, r, f)
}

// pollBegin counts a record-info call of task id as in flight, updates
// Stats.MaxConcurrentPolls, and returns the func that ends it. The caller holds s.mu; the
// returned func takes it.
func (s *Sim) pollBegin(id string) func() {
	if s.inFlight == nil {
		s.inFlight = map[string]int{}
	}
	s.inFlight[id]++
	s.stats.MaxConcurrentPolls = max(s.stats.MaxConcurrentPolls, s.inFlight[id])
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.inFlight[id]--; s.inFlight[id] <= 0 {
			delete(s.inFlight, id)
		}
	}
}

// paced returns w slowed down to Config.FileRate bytes per second, or w itself without a rate.
func (s *Sim) paced(w http.ResponseWriter, r *http.Request) http.ResponseWriter {
	if s.cfg.FileRate <= 0 {
		return w
	}
	return &pacer{ResponseWriter: w, r: r, rate: s.cfg.FileRate, start: time.Now()}
}

// pacer writes in slices of about 1/20 s of its rate, each at the earliest time that keeps the
// average at or below rate, flushing each so that the client sees steady progress.
type pacer struct {
	http.ResponseWriter
	r     *http.Request
	rate  int64
	start time.Time
	n     int64
}

// Write implements io.Writer. It stops early, with the request's error, when the client goes.
func (p *pacer) Write(b []byte) (int, error) {
	chunk := int(max(p.rate/20, 512))
	written := 0
	for len(b) > 0 {
		due := p.start.Add(time.Duration(float64(p.n) / float64(p.rate) * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-p.r.Context().Done():
				t.Stop()
				return written, p.r.Context().Err()
			}
		}
		c := min(len(b), chunk)
		m, err := p.ResponseWriter.Write(b[:c])
		written, p.n = written+m, p.n+int64(m)
		if err != nil {
			return written, err
		}
		_ = http.NewResponseController(p.ResponseWriter).Flush()
		b = b[c:]
	}
	return written, nil
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (p *pacer) Unwrap() http.ResponseWriter { return p.ResponseWriter }
