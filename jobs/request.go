package jobs

import (
	"fmt"
	"net/url"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kiemv/kiemv/jobs/kie"
)

// SubmitRequest is what a submit sends to KIE: the track to make a video of, and how.
type SubmitRequest struct {
	MusicTaskID string // the music task the track belongs to
	AudioID     string // the track within the music task
	Author      string // signature on the cover, at most kie.MaxLabelLen characters
	Domain      string // watermark at the bottom, at most kie.MaxLabelLen characters
	CallbackURL string // where KIE POSTs the result: "" or an absolute http(s) URL
	// Timeout bounds how long Submit waits for its turn to create (a create slot of the
	// shared limit, or another submit of the same audio) before it gives up with
	// ErrWaitTimeout, having created nothing and released its claim (0: no bound). It is not
	// sent to KIE, and does not cut short a create already sent.
	Timeout time.Duration
	// Budget, when set, bounds what the run this submit belongs to may spend on creates, and
	// stops it once KIE refused a create for credits (see Budget). It is not sent to KIE.
	Budget *Budget
}

// Field names a field of a SubmitRequest in a FieldError, in words a message can use.
type Field string

// The fields of a SubmitRequest, as FieldError.Field reports them.
const (
	FieldMusicTaskID Field = "music task id"
	FieldAudioID     Field = "audio id"
	FieldAuthor      Field = "author"
	FieldDomain      Field = "domain"
	FieldCallbackURL Field = "callback URL"
)

// FieldError is a field of a SubmitRequest that Validate refused. Its message says which
// field and what is wrong with it; a program that took the field from a flag or a form maps
// Field to that flag to say where to fix it. Every FieldError matches ErrBadID.
type FieldError struct {
	Field Field  // the field refused
	Value string // its value, as given
	Err   error  // what is wrong with it; its text is the FieldError's message
}

// Error returns the message of Err, which names the field and says what is wrong.
func (e *FieldError) Error() string { return e.Err.Error() }

// Unwrap returns Err and ErrBadID, so errors.Is(err, ErrBadID) holds for every FieldError.
func (e *FieldError) Unwrap() []error { return []error{e.Err, ErrBadID} }

// Validate checks a request before anything is sent anywhere, and is the one place its rules
// live: both ids pass ValidateID, author and domain are printable UTF-8 within KIE's limit
// (kie.LabelFits, at most kie.MaxLabelLen characters), and a callback URL is an absolute http(s) URL with a host. The
// first field refused is returned as a *FieldError.
func (r SubmitRequest) Validate() error {
	for _, f := range []struct {
		field Field
		value string
	}{{FieldMusicTaskID, r.MusicTaskID}, {FieldAudioID, r.AudioID}} {
		if err := ValidateID(string(f.field), f.value); err != nil {
			return &FieldError{Field: f.field, Value: f.value, Err: err}
		}
	}
	for _, f := range []struct {
		field Field
		value string
	}{{FieldAuthor, r.Author}, {FieldDomain, r.Domain}} {
		if !kie.LabelFits(f.value) {
			return &FieldError{Field: f.field, Value: f.value, Err: fmt.Errorf("%s is %d characters; KIE allows at most %d",
				f.field, utf8.RuneCountInString(f.value), kie.MaxLabelLen)}
		}
		if i, ok := printable(f.value); !ok {
			return &FieldError{Field: f.field, Value: f.value, Err: fmt.Errorf(
				"%s has a control character or invalid UTF-8 at byte %d; use printable text (it is drawn on the video)", f.field, i)}
		}
	}
	if u := r.CallbackURL; u != "" && !isHTTPURL(u) {
		return &FieldError{Field: FieldCallbackURL, Value: u, Err: fmt.Errorf(
			"callback URL %q is not an absolute http(s) URL, such as https://hooks.example.org/kie/mp4", u)}
	}
	return nil
}

// printable reports whether s is valid UTF-8 made of printable characters and plain spaces;
// when not, it returns the byte offset of the first offender.
func printable(s string) (int, bool) {
	for i, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return i, false
		}
	}
	return 0, true
}

// isHTTPURL reports whether s is an absolute http or https URL with a host.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
