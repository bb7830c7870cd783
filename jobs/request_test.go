package jobs_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kiemv/kiemv/jobs"
)

// TestSubmitRequestValidate checks that every refusal is a *jobs.FieldError naming the field
// (so that the CLI can name the flag), carrying the value, and matching ErrBadID.
func TestSubmitRequestValidate(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 51)
	for _, c := range []struct {
		req   jobs.SubmitRequest
		field jobs.Field
		value string
		say   string
	}{
		{jobs.SubmitRequest{MusicTaskID: "", AudioID: "a"}, jobs.FieldMusicTaskID, "", "music task id is empty"},
		{jobs.SubmitRequest{MusicTaskID: "m/1", AudioID: "a"}, jobs.FieldMusicTaskID, "m/1", "music task id \"m/1\""},
		{jobs.SubmitRequest{MusicTaskID: "m", AudioID: "../a"}, jobs.FieldAudioID, "../a", "audio id \"../a\""},
		{jobs.SubmitRequest{MusicTaskID: "m", AudioID: strings.Repeat("a", 129)}, jobs.FieldAudioID, strings.Repeat("a", 129), "128"},
		{jobs.SubmitRequest{MusicTaskID: "m", AudioID: "a", Author: long}, jobs.FieldAuthor, long, "author is 51 characters; KIE allows at most 50"},
		{jobs.SubmitRequest{MusicTaskID: "m", AudioID: "a", Domain: long}, jobs.FieldDomain, long, "domain is 51 characters"},
		{jobs.SubmitRequest{MusicTaskID: "m", AudioID: "a", Author: "Ann\x07"}, jobs.FieldAuthor, "Ann\x07", "control character or invalid UTF-8 at byte 3"},
		{jobs.SubmitRequest{MusicTaskID: "m", AudioID: "a", Author: "line\nbreak"}, jobs.FieldAuthor, "line\nbreak", "at byte 4"},
		{jobs.SubmitRequest{MusicTaskID: "m", AudioID: "a", Domain: "bad\xffutf8"}, jobs.FieldDomain, "bad\xffutf8", "domain has a control character or invalid UTF-8 at byte 3"},
		{jobs.SubmitRequest{MusicTaskID: "m", AudioID: "a", Domain: "zero\u200bwidth"}, jobs.FieldDomain, "zero\u200bwidth", "at byte 4"},
		{jobs.SubmitRequest{MusicTaskID: "m", AudioID: "a", CallbackURL: "hooks.example.org/kie"}, jobs.FieldCallbackURL, "hooks.example.org/kie", "not an absolute http(s) URL"},
		{jobs.SubmitRequest{MusicTaskID: "m", AudioID: "a", CallbackURL: "ftp://hooks.example.org/kie"}, jobs.FieldCallbackURL, "ftp://hooks.example.org/kie", "callback URL"},
		{jobs.SubmitRequest{MusicTaskID: "m", AudioID: "a", CallbackURL: "https:///kie"}, jobs.FieldCallbackURL, "https:///kie", "callback URL"},
	} {
		err := c.req.Validate()
		var fe *jobs.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || fe.Value != c.value || !errors.Is(err, jobs.ErrBadID) {
			t.Errorf("Validate(%+v) = %v (%+v); want a FieldError of %s", c.req, err, fe, c.field)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, c.say) || strings.Contains(msg, "--") {
			t.Errorf("Validate(%+v) = %q; want it to say %q and name no flag", c.req, msg, c.say)
		}
	}
	for _, ok := range []jobs.SubmitRequest{
		{MusicTaskID: "m", AudioID: "a", Author: strings.Repeat("é", 50), Domain: strings.Repeat("d", 50)},
		{MusicTaskID: "m", AudioID: "a", Author: "Zoë & the Bänd — 東京 ♪", Domain: "example.org"},
		{MusicTaskID: "m", AudioID: "a", CallbackURL: "https://hooks.example.org/kie/mp4"},
		{MusicTaskID: "m", AudioID: "a", CallbackURL: "http://127.0.0.1:8080/kie"},
	} {
		if err := ok.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v; want nil", ok, err)
		}
	}
}
