// Package app is the one place that assembles kiemv's production objects — the Redis
// connection, the KIE client, the Service, the Worker and the callback receiver — from one
// Config; every command, `kiemv dev` and `kiemv bench` build through it, and nothing patches
// the objects afterwards.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie"
	"github.com/kiemv/kiemv/store"
)

// Config is what every production object is built from: the CLI's global flags.
type Config struct {
	RedisURL    string
	KIEBaseURL  string
	APIKey      string // never logged, never printed
	DownloadDir string // a local directory, or a bucket URL (see Files)
	ScratchDir  string // where downloads to a bucket are staged ("": kiemv's in the OS temp dir)
	Namespace   string
	KIETimeout  time.Duration
	CreateLimit int           // creates per 10 s, shared by every process
	RecordLimit int           // record-info calls per second, shared by every process
	RedisWait   time.Duration // how long Connect waits for a Redis that does not answer
	KIEAPI      string        // where new MP4 tasks are created: jobs.APILegacy ("" too) or jobs.APIJobs
	MP4Credits  float64       // the price of one MP4 in credits (0: jobs.DefaultMP4Credits)
	Log         *slog.Logger
}

// ConfigError is a configuration that cannot work (a malformed URL, a bad limit, a malformed
// key): the user must change a flag or an environment variable. Its message says which.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

func configErrorf(format string, a ...any) error { return &ConfigError{fmt.Errorf(format, a...)} }

// KIEClient builds the KIE client; without an API key it fails with kie.ErrNoAPIKey before
// any network call.
func (c Config) KIEClient() (*kie.Client, error) {
	k, err := kie.New(kie.Config{BaseURL: c.KIEBaseURL, APIKey: c.APIKey, Timeout: c.KIETimeout})
	switch {
	case errors.Is(err, kie.ErrNoAPIKey):
		return nil, err
	case err != nil:
		return nil, &ConfigError{err}
	}
	return k, nil
}

// Records returns the record store of the namespace.
func (c Config) Records(conn *Conn) *store.Records { return store.NewRecords(conn.Redis, c.Namespace) }

// Ledger returns the counts of the MP4 tasks kiemv created in the namespace.
func (c Config) Ledger(conn *Conn) *store.Ledger { return store.NewLedger(conn.Redis, c.Namespace) }

// Songs returns the song store of the namespace.
func (c Config) Songs(conn *Conn) *store.Songs { return store.NewSongs(conn.Redis, c.Namespace) }

// Limiter returns the rate limiter of the namespace, shared by every process.
func (c Config) Limiter(conn *Conn) (*store.Limiter, error) {
	l, err := store.NewLimiter(conn.Redis, c.Namespace, store.Limits(c.CreateLimit, c.RecordLimit))
	if err != nil {
		return nil, configErrorf("rate limits: %v", err)
	}
	return l, nil
}

// ServiceOptions say what a Service is built for.
type ServiceOptions struct {
	NeedKIE   bool          // ConnectService: build a KIE client (submit and track call KIE; retry, cancel and callbacks do not)
	FirstPoll time.Duration // delay before the first poll of a submitted task (0: at once)
	// OnCreateWait hears that a submit waits for a create slot (nil: the Service logs it).
	OnCreateWait func(jobs.CreateWait)
	// JobsKIE is KIE's jobs API client (ConnectService sets it with NeedKIE): new tasks are
	// created there when Config.KIEAPI is jobs.APIJobs.
	JobsKIE kie.API
}

// Service wires what submit, track, retry, cancel and the callback receiver need; k may be
// nil for the operations that never call KIE.
func (c Config) Service(conn *Conn, k kie.API, o ServiceOptions) (*jobs.Service, error) {
	lim, err := c.Limiter(conn)
	if err != nil {
		return nil, err
	}
	return &jobs.Service{KIE: k, Store: c.Records(conn), Songs: c.Songs(conn), Limiter: lim, Enqueuer: conn.Client,
		Queues: jobs.QueuesFor(c.Namespace), FirstPoll: o.FirstPoll, Log: c.Log, OnCreateWait: o.OnCreateWait,
		Tasks: asynq.NewInspectorFromRedisClient(conn.Redis), JobsKIE: o.JobsKIE, API: c.KIEAPI,
		Counter: c.Ledger(conn)}, nil
}

// ConnectService checks the API key (when o.NeedKIE), connects to Redis and wires a Service.
// The caller closes the connection.
func (c Config) ConnectService(ctx context.Context, o ServiceOptions) (*Conn, *jobs.Service, error) {
	var k kie.API
	if o.NeedKIE {
		client, err := c.KIEClient()
		if err != nil {
			return nil, nil, err
		}
		k, o.JobsKIE = client, client.Jobs()
	}
	conn, err := c.Connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	svc, err := c.Service(conn, k, o)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, svc, nil
}
