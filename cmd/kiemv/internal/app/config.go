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
	DownloadDir string
	Namespace   string
	KIETimeout  time.Duration
	CreateLimit int // creates per 10 s, shared by every process
	RecordLimit int // record-info calls per second, shared by every process
	Log         *slog.Logger
}

// ConfigError is a configuration that cannot work (a malformed URL, a bad limit): the user
// must change a flag or an environment variable. Its message says which and how.
type ConfigError struct{ Msg string }

func (e *ConfigError) Error() string { return e.Msg }

func configErrorf(format string, a ...any) error { return &ConfigError{fmt.Sprintf(format, a...)} }

// ErrNoAPIKey is returned when a KIE client is needed and Config.APIKey is empty.
var ErrNoAPIKey = errors.New("no KIE API key")

// KIEClient builds the KIE client; without an API key it fails before any network call.
func (c Config) KIEClient() (*kie.Client, error) {
	if c.APIKey == "" {
		return nil, ErrNoAPIKey
	}
	k, err := kie.New(kie.Config{BaseURL: c.KIEBaseURL, APIKey: c.APIKey, Timeout: c.KIETimeout})
	if err != nil {
		return nil, &ConfigError{err.Error()}
	}
	return k, nil
}

// Records returns the record store of the namespace.
func (c Config) Records(conn *Conn) *store.Records { return store.NewRecords(conn.Redis, c.Namespace) }

// Limiter returns the rate limiter of the namespace, shared by every process.
func (c Config) Limiter(conn *Conn) (*store.Limiter, error) {
	l, err := store.NewLimiter(conn.Redis, c.Namespace, store.Limits(c.CreateLimit, c.RecordLimit))
	if err != nil {
		return nil, configErrorf("rate limits: %v", err)
	}
	return l, nil
}

// Service wires what submit, track, retry, cancel and the callback receiver need; k may be
// nil for the operations that never call KIE.
func (c Config) Service(conn *Conn, k kie.API) (*jobs.Service, error) {
	lim, err := c.Limiter(conn)
	if err != nil {
		return nil, err
	}
	insp := asynq.NewInspectorFromRedisClient(conn.Redis)
	return &jobs.Service{KIE: k, Store: c.Records(conn), Limiter: lim, Enqueuer: conn.Client,
		Queues: jobs.QueuesFor(c.Namespace), Log: c.Log,
		ClearTaskFunc: func(q, id string) error { return insp.DeleteTask(q, id) },
		RunTaskFunc:   func(q, id string) error { return insp.RunTask(q, id) },
		TaskInfoFunc:  insp.GetTaskInfo}, nil
}

// ConnectService checks the API key (when needKey), connects to Redis and wires a Service.
// The caller closes the connection.
func (c Config) ConnectService(ctx context.Context, needKey bool) (*Conn, *jobs.Service, error) {
	var k kie.API
	if needKey {
		client, err := c.KIEClient()
		if err != nil {
			return nil, nil, err
		}
		k = client
	}
	conn, err := Connect(ctx, c.RedisURL)
	if err != nil {
		return nil, nil, err
	}
	svc, err := c.Service(conn, k)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, svc, nil
}
