package storetest

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// The static credentials S3 servers of the tests accept; S3 puts them in the environment,
// where the AWS SDK (through gocloud.dev/blob/s3blob) finds them as it would in production.
const (
	S3AccessKey = "kiemv-test-key"
	S3SecretKey = "kiemv-test-secret"
)

var s3Env sync.Once

// S3Env puts the test credentials (and a region) in this process's environment, once. It
// uses os.Setenv, not t.Setenv, so that parallel tests may share it.
func S3Env() {
	s3Env.Do(func() {
		for k, v := range S3Environ() {
			_ = os.Setenv(k, v)
		}
	})
}

// S3Environ is the environment a child process needs to reach an S3 server of the tests.
func S3Environ() map[string]string {
	return map[string]string{"AWS_ACCESS_KEY_ID": S3AccessKey, "AWS_SECRET_ACCESS_KEY": S3SecretKey,
		"AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
}

// S3 is an S3-compatible server (gofakes3, in memory) over real HTTP, for tests.
type S3 struct {
	Server  *httptest.Server
	Backend *s3mem.Backend
	// Before, when set before requests come, sees every accepted request first (a test cuts
	// an upload there).
	Before func(*http.Request)
	key    atomic.Value // string: the access key id it accepts
	puts   atomic.Int64
}

// NewS3 starts an S3 server with the given buckets, closed by t.Cleanup, and calls S3Env.
// It accepts only requests signed with S3AccessKey, and answers others 403
// InvalidAccessKeyId as AWS does.
func NewS3(t testing.TB, buckets ...string) *S3 {
	t.Helper()
	S3Env()
	s := &S3{Backend: s3mem.New()}
	s.key.Store(S3AccessKey)
	for _, b := range buckets {
		if err := s.Backend.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	fake := gofakes3.New(s.Backend).Server()
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Authorization"), "Credential="+s.key.Load().(string)+"/") {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidAccessKeyId</Code>` +
				`<Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>`))
			return
		}
		if r.Method == http.MethodPut || r.Method == http.MethodPost {
			s.puts.Add(1)
		}
		if s.Before != nil {
			s.Before(r)
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Server.Close)
	return s
}

// URL is the kiemv destination URL of bucket under prefix on this server.
func (s *S3) URL(bucket, prefix string) string {
	return "s3://" + bucket + "/" + prefix + "?region=us-east-1&use_path_style=true&endpoint=" + s.Server.URL
}

// Accept makes the server accept only key from now on (another key than S3AccessKey: the
// credentials of the environment are then wrong).
func (s *S3) Accept(key string) { s.key.Store(key) }

// Writes counts the PUT and POST requests accepted (uploads, parts, multipart steps).
func (s *S3) Writes() int64 { return s.puts.Load() }

// Keys lists the keys of the objects in bucket (nil if it cannot be listed).
func (s *S3) Keys(bucket string) []string {
	list, err := s.Backend.ListBucket(bucket, nil, gofakes3.ListBucketPage{})
	if err != nil {
		return nil
	}
	var keys []string
	for _, o := range list.Contents {
		keys = append(keys, o.Key)
	}
	return keys
}
