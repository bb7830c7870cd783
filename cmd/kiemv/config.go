package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie"
	"github.com/kiemv/kiemv/store"
	"github.com/redis/go-redis/v9"
	"github.com/urfave/cli/v2"
)

// globals are the flags every command shares.
type globals struct {
	RedisURL    string
	KIEBaseURL  string
	APIKey      string
	DownloadDir string
	Namespace   string
	LogFormat   string
	KIETimeout  time.Duration
	CreateLimit int // creates per 10 s, shared by every process
	RecordLimit int // record-info calls per second, shared by every process
	Stderr      io.Writer
	Log         *slog.Logger
}

func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "redis-url", EnvVars: []string{"REDIS_URL"}, Value: "redis://127.0.0.1:6379/0", Usage: "Redis shared by every worker and CLI"},
		&cli.StringFlag{Name: "kie-base-url", EnvVars: []string{"KIE_BASE_URL"}, Value: "https://api.kie.ai", Usage: "KIE API base URL"},
		&cli.StringFlag{Name: "api-key", EnvVars: []string{"KIE_API_KEY"}, Usage: "KIE API key (never logged)"},
		&cli.StringFlag{Name: "download-dir", EnvVars: []string{"KIEMV_DOWNLOAD_DIR"}, Value: "./videos", Usage: "where verified MP4 files are written"},
		&cli.StringFlag{Name: "namespace", EnvVars: []string{"KIEMV_NAMESPACE"}, Value: "kiemv", Usage: "prefix of kiemv's Redis keys and queue names"},
		&cli.StringFlag{Name: "log-format", EnvVars: []string{"KIEMV_LOG_FORMAT"}, Value: "text", Usage: "log format: text or json"},
		&cli.DurationFlag{Name: "kie-timeout", EnvVars: []string{"KIEMV_KIE_TIMEOUT"}, Value: 20 * time.Second, Usage: "timeout of one KIE API call"},
		&cli.IntFlag{Name: "create-limit", EnvVars: []string{"KIEMV_CREATE_LIMIT"}, Value: 18, Usage: "video creates per 10 s across all processes (KIE allows 20)"},
		&cli.IntFlag{Name: "record-info-limit", EnvVars: []string{"KIEMV_RECORD_INFO_LIMIT"}, Value: 10, Usage: "record-info calls per second across all processes"},
	}
}

// readGlobals validates the shared flags and sets up logging.
func readGlobals(c *cli.Context) (*globals, error) {
	g := &globals{
		RedisURL: c.String("redis-url"), KIEBaseURL: c.String("kie-base-url"), APIKey: c.String("api-key"),
		DownloadDir: c.String("download-dir"), Namespace: c.String("namespace"), LogFormat: c.String("log-format"),
		KIETimeout: c.Duration("kie-timeout"), CreateLimit: c.Int("create-limit"), RecordLimit: c.Int("record-info-limit"),
		Stderr: c.App.ErrWriter,
	}
	if err := jobs.ValidateID("--namespace", g.Namespace); err != nil {
		return nil, usagef("%v", err)
	}
	if g.CreateLimit < 1 || g.RecordLimit < 1 {
		return nil, usagef("--create-limit and --record-info-limit must be at least 1")
	}
	if g.KIETimeout <= 0 {
		return nil, usagef("--kie-timeout must be positive, got %v", g.KIETimeout)
	}
	log, err := newLogger(g.Stderr, g.LogFormat)
	if err != nil {
		return nil, err
	}
	g.Log = log
	return g, nil
}

func newLogger(w io.Writer, format string) (*slog.Logger, error) {
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, usagef("--log-format %q: use text or json", format)
}

// kieClient builds the KIE client; without an API key it fails before any network call.
func (g *globals) kieClient() (*kie.Client, error) {
	if g.APIKey == "" {
		return nil, errors.New("no KIE API key: set KIE_API_KEY (or pass --api-key); get one at https://kie.ai/api-key")
	}
	c, err := kie.New(kie.Config{BaseURL: g.KIEBaseURL, APIKey: g.APIKey, Timeout: g.KIETimeout})
	switch {
	case errors.Is(err, kie.ErrNoAPIKey):
		return nil, usagef("%v: set KIE_API_KEY or pass --api-key", err)
	case errors.Is(err, kie.ErrBadAPIKey):
		return nil, usagef("%v: check KIE_API_KEY", err)
	case err != nil:
		return nil, usagef("%v", err)
	}
	return c, nil
}

// redisConn is an open connection to the shared Redis, checked with a PING.
type redisConn struct {
	rdb  redis.UniversalClient
	opt  asynq.RedisConnOpt
	url  string
	pool *asynq.Client
}

// connect opens and pings Redis, with an error that says how to get one running. The URL is
// parsed by Asynq, so redis://, rediss:// (TLS) and redis-sentinel:// (failover through
// Sentinel: redis-sentinel://[:password@]host:port[,host:port]/db?master=NAME) all work.
func (g *globals) connect(ctx context.Context) (*redisConn, error) {
	aopt, err := asynq.ParseRedisURI(g.RedisURL)
	if err != nil {
		return nil, usagef("--redis-url %q is not a Redis URL (redis://[user:pass@]host:port/db, rediss://…, redis-sentinel://…): %v", redactURL(g.RedisURL), err)
	}
	rdb, ok := aopt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, usagef("--redis-url %q: unsupported kind of Redis connection", redactURL(g.RedisURL))
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("cannot reach Redis at %s (%v): start one with `redis-server` (Debian: apt-get install redis-server), point REDIS_URL at yours, or try `kiemv dev` for an embedded one", redactURL(g.RedisURL), err)
	}
	makePatient(rdb) // after the PING: fail fast at start, ride out a restart later (redis_retry.go)
	return &redisConn{rdb: rdb, opt: patientRedis{aopt}, url: g.RedisURL, pool: asynq.NewClientFromRedisClient(rdb)}, nil
}

// Close releases the connection.
func (r *redisConn) Close() error { return r.rdb.Close() }

// redactURL hides a password in a URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

// records returns the record store of the namespace.
func (g *globals) records(r *redisConn) *store.Records { return store.NewRecords(r.rdb, g.Namespace) }

// limiter returns the shared rate limiter of the namespace.
func (g *globals) limiter(r *redisConn) (*store.Limiter, error) {
	l, err := store.NewLimiter(r.rdb, g.Namespace, store.Limits(g.CreateLimit, g.RecordLimit))
	if err != nil {
		return nil, usagef("rate limits: %v", err)
	}
	return l, nil
}

// service wires what submit, track and retry need.
func (g *globals) service(r *redisConn, k kie.API) (*jobs.Service, error) {
	lim, err := g.limiter(r)
	if err != nil {
		return nil, err
	}
	insp := asynq.NewInspectorFromRedisClient(r.rdb)
	return &jobs.Service{KIE: k, Store: g.records(r), Limiter: lim, Enqueuer: r.pool,
		Queues: jobs.QueuesFor(g.Namespace), Log: g.Log, Tasks: insp}, nil
}

// connectService checks the API key (when needKey), connects to Redis and wires a Service.
// The caller closes the connection.
func (g *globals) connectService(ctx context.Context, needKey bool) (*redisConn, *jobs.Service, error) {
	var k kie.API
	if needKey {
		c, err := g.kieClient()
		if err != nil {
			return nil, nil, err
		}
		k = c
	}
	conn, err := g.connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	svc, err := g.service(conn, k)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, svc, nil
}

// readIDs returns the ids named on the command line, reading stdin for "-".
func readIDs(c *cli.Context, stdin io.Reader) ([]string, error) {
	var ids []string
	for _, a := range c.Args().Slice() {
		if a != "-" {
			ids = append(ids, a)
			continue
		}
		b, err := io.ReadAll(io.LimitReader(stdin, 64<<20))
		if err != nil {
			return nil, fmt.Errorf("read ids from stdin: %w", err)
		}
		ids = append(ids, strings.Fields(string(b))...)
	}
	if len(ids) == 0 {
		return nil, usagef("%s needs at least one MP4 task id (or - to read them from stdin)", c.Command.Name)
	}
	for _, id := range ids {
		if err := jobs.ValidateID("mp4 task id", id); err != nil {
			return nil, usagef("%v", err)
		}
	}
	return ids, nil
}
