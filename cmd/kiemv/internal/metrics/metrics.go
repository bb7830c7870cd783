// Package metrics holds the Prometheus instrumentation of a kiemv worker: its own kiemv_*
// collectors, the records-by-state gauge, and Asynq's queue metrics.
package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	asynqmetrics "github.com/hibiken/asynq/x/metrics"
	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie"
	"github.com/kiemv/kiemv/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the Prometheus instrumentation of one worker process. Each worker has its own
// registry (tests run several in one process).
type Metrics struct {
	reg           *prometheus.Registry
	kieCalls      *prometheus.CounterVec
	kieSeconds    *prometheus.HistogramVec
	polls         *prometheus.CounterVec
	stateChanges  *prometheus.CounterVec
	downloadBytes prometheus.Counter
	downloads     *prometheus.HistogramVec
	limiterWaits  *prometheus.CounterVec
	limiterWaited *prometheus.CounterVec
	reconciled    *prometheus.CounterVec
	kieUp         prometheus.Gauge
}

// New registers kiemv's metrics, the records-by-state gauge read from recs, Asynq's
// queue metrics read through insp, and the Go runtime and process collectors.
func New(recs *store.Records, insp *asynq.Inspector) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		kieCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kiemv_kie_calls_total",
			Help: "KIE API calls by endpoint and result code (ok, a KIE body code or HTTP status, bad_reply, network, timeout, canceled)."},
			[]string{"endpoint", "code"}),
		kieSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "kiemv_kie_call_duration_seconds",
			Help: "Duration of KIE API calls by endpoint.", Buckets: prometheus.DefBuckets}, []string{"endpoint"}),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kiemv_polls_total",
			Help: "Runs of the poll handler by outcome (pending, ready, failed, not_found, rate_limited, throttled, error, refused, canceled, timed_out, outage)."},
			[]string{"outcome"}),
		stateChanges: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kiemv_state_changes_total",
			Help: "Record state changes made by this worker, by the state entered."}, []string{"state"}),
		downloadBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "kiemv_download_bytes_total",
			Help: "Bytes of videos downloaded and verified."}),
		downloads: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "kiemv_download_duration_seconds",
			Help:    "Duration of download attempts by result (ok or error).",
			Buckets: []float64{0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800}}, []string{"result"}),
		limiterWaits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kiemv_limiter_waits_total",
			Help: "Calls held back by kiemv's shared rate limiter, by limit (create, record-info)."}, []string{"limit"}),
		limiterWaited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kiemv_limiter_wait_seconds_total",
			Help: "Time the shared rate limiter asked callers to wait, by limit."}, []string{"limit"}),
		reconciled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kiemv_reconciled_total",
			Help: "Records whose task was lost, acted on by this worker's reconciler, by reason (missing, archived, completed: queued again; budget_spent, requeues_spent: ended)."},
			[]string{"reason"}),
		kieUp: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kiemv_kie_up",
			Help: "1 while KIE's API is taken to be up; 0 while its breaker is open (an outage: tasks wait for a probe to succeed)."}),
	}
	m.kieUp.Set(1)
	m.reg.MustRegister(m.kieCalls, m.kieSeconds, m.polls, m.stateChanges, m.downloadBytes, m.downloads,
		m.limiterWaits, m.limiterWaited, m.reconciled, m.kieUp)
	registerShared(m.reg, recs, insp)
	return m
}

// QueuesHandler serves only what any process can read from Redis — the records-by-state
// gauge and Asynq's queue metrics — with the Go runtime and process collectors: the metrics
// of `kiemv dashboard --metrics`, which runs no handler to count.
func QueuesHandler(recs *store.Records, insp *asynq.Inspector) http.Handler {
	reg := prometheus.NewRegistry()
	registerShared(reg, recs, insp)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

func registerShared(reg *prometheus.Registry, recs *store.Records, insp *asynq.Inspector) {
	reg.MustRegister(&recordsCollector{recs: recs},
		uncheckedCollector{asynqmetrics.NewQueueMetricsCollector(insp)},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// Hooks returns the jobs.Hooks that feed the handler metrics.
func (m *Metrics) Hooks() *jobs.Hooks {
	return &jobs.Hooks{
		PollFunc:       func(outcome string) { m.polls.WithLabelValues(outcome).Inc() },
		StateFunc:      func(_ string, to jobs.State) { m.stateChanges.WithLabelValues(string(to)).Inc() },
		ReconciledFunc: func(reason string) { m.reconciled.WithLabelValues(reason).Inc() },
		OutageFunc: func(dep string, up bool) {
			if dep == jobs.DepKIE {
				m.kieUp.Set(map[bool]float64{false: 0, true: 1}[up])
			}
		},
		DownloadFunc: func(n int64, d time.Duration, err error) {
			result := "ok"
			if err != nil {
				result = "error"
			}
			m.downloadBytes.Add(float64(n))
			m.downloads.WithLabelValues(result).Observe(d.Seconds())
		},
	}
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// KIE wraps a KIE client so that every call is counted by endpoint and result code.
func (m *Metrics) KIE(api kie.API) kie.API { return &instrumentedKIE{api: api, m: m} }

// Limiter wraps the shared limiter so that every wait it imposes is counted.
func (m *Metrics) Limiter(l jobs.Limiter) jobs.Limiter {
	il := &instrumentedLimiter{l: l, m: m}
	if lr, ok := l.(jobs.LoadReserver); ok {
		return &instrumentedLoadReserver{instrumentedLimiter: il, lr: lr}
	}
	return il
}

// instrumentedKIE is a kie.API that records each call in metrics.
type instrumentedKIE struct {
	api kie.API
	m   *Metrics
}

func (k *instrumentedKIE) observe(endpoint string, start time.Time, err error) {
	k.m.kieCalls.WithLabelValues(endpoint, resultCode(err)).Inc()
	k.m.kieSeconds.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
}

func (k *instrumentedKIE) CreateVideo(ctx context.Context, req kie.CreateRequest) (string, error) {
	start := time.Now()
	id, err := k.api.CreateVideo(ctx, req)
	k.observe("create", start, err)
	return id, err
}

func (k *instrumentedKIE) VideoDetails(ctx context.Context, taskID string) (*kie.VideoRecord, error) {
	start := time.Now()
	vr, err := k.api.VideoDetails(ctx, taskID)
	k.observe("record-info", start, err)
	return vr, err
}

func (k *instrumentedKIE) DownloadURL(ctx context.Context, fileURL string) (string, error) {
	start := time.Now()
	u, err := k.api.DownloadURL(ctx, fileURL)
	k.observe("download-url", start, err)
	return u, err
}

func (k *instrumentedKIE) Credits(ctx context.Context) (float64, error) {
	start := time.Now()
	c, err := k.api.Credits(ctx)
	k.observe("credit", start, err)
	return c, err
}

// resultCode names the result of a KIE call for the code label: "ok"; KIE's body code (or
// the HTTP status when there is none); "bad_reply" for a 2xx that could not be used;
// "timeout", "canceled" or "network" when no reply arrived; "invalid" for a request the
// client refused to send.
func resultCode(err error) string {
	if err == nil {
		return "ok"
	}
	var ae *kie.APIError
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case !errors.As(err, &ae):
		return "invalid"
	case ae.Code != 0 && ae.Code != 200:
		return strconv.Itoa(ae.Code)
	case ae.HTTPStatus != 0 && (ae.HTTPStatus < 200 || ae.HTTPStatus > 299):
		return strconv.Itoa(ae.HTTPStatus)
	case ae.HTTPStatus != 0:
		return "bad_reply"
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return "timeout"
	}
	return "network"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Release passes a jobs.Reserver's Release through; a limiter without Reserve books nothing.
func (l *instrumentedLimiter) Release(ctx context.Context, name, holder string) error {
	if r, ok := l.l.(jobs.Reserver); ok {
		return r.Release(ctx, name, holder)
	}
	return nil
}

var _ jobs.Reserver = (*instrumentedLimiter)(nil)

// instrumentedLimiter is a jobs.Limiter that records the waits it imposes.
type instrumentedLimiter struct {
	l jobs.Limiter
	m *Metrics
}

func (l *instrumentedLimiter) Allow(ctx context.Context, name string) (time.Duration, error) {
	d, err := l.l.Allow(ctx, name)
	l.waited(name, d, err)
	return d, err
}

// Reserve passes a jobs.Reserver through (the poll handler keeps waiting polls in line with
// it), recording the waits it imposes; a limiter without Reserve answers as Allow.
func (l *instrumentedLimiter) Reserve(ctx context.Context, name, holder string) (time.Duration, error) {
	r, ok := l.l.(jobs.Reserver)
	if !ok {
		return l.Allow(ctx, name)
	}
	d, err := r.Reserve(ctx, name, holder)
	l.waited(name, d, err)
	return d, err
}

// instrumentedLoadReserver is an instrumentedLimiter over a jobs.LoadReserver, passing its
// LoadReserve through (the poll handler's lean path) and recording the waits it imposes.
type instrumentedLoadReserver struct {
	*instrumentedLimiter
	lr jobs.LoadReserver
}

var _ jobs.LoadReserver = (*instrumentedLoadReserver)(nil)

func (l *instrumentedLoadReserver) LoadReserve(ctx context.Context, name, id string, gen int64) (*jobs.Record, time.Duration, bool, error) {
	rec, d, booked, err := l.lr.LoadReserve(ctx, name, id, gen)
	l.waited(name, d, err)
	return rec, d, booked, err
}

func (l *instrumentedLimiter) waited(name string, d time.Duration, err error) {
	if err == nil && d > 0 {
		l.m.limiterWaits.WithLabelValues(name).Inc()
		l.m.limiterWaited.WithLabelValues(name).Add(d.Seconds())
	}
}

// recordsCollector exports how many records are in each state, read from Redis at scrape time.
type recordsCollector struct{ recs *store.Records }

var recordsDesc = prometheus.NewDesc("kiemv_records", "Followed MP4 tasks by state (read from Redis at scrape time).", []string{"state"}, nil)

func (c *recordsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- recordsDesc }

func (c *recordsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.recs.Counts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(recordsDesc, err)
		return
	}
	for _, st := range jobs.States {
		ch <- prometheus.MustNewConstMetric(recordsDesc, prometheus.GaugeValue, float64(counts[st]), string(st))
	}
}

// uncheckedCollector hides a collector's descriptors so that registering it does not run a
// whole collection (asynq's collector describes itself by collecting, which reads Redis).
type uncheckedCollector struct{ prometheus.Collector }

func (uncheckedCollector) Describe(chan<- *prometheus.Desc) {}
