// Package bulk is `kiemv submit --from FILE`: it reads many submits from JSON Lines or CSV,
// checks every line, and submits them through the same deduplicated path as one submit, a
// few at a time within the shared create limit, printing one line per input line. A rerun of
// the same file pays nothing twice and finishes what is missing.
package bulk

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/kiemv/kiemv/jobs"
)

// Columns are the fields an input line may have: JSON keys, or CSV header names.
var Columns = []string{"task_id", "audio_id", "author", "domain", "callback_url"}

// Input is one line of the file: a submit request, or why the line cannot be one.
type Input struct {
	Line int                // the line number in the file (1 is the first line; CSV's header is 1)
	Req  jobs.SubmitRequest // AudioID "" means every take of the song
	Err  error              // a bad line: what is wrong with it; nothing is submitted for it
}

// Song reports whether the line asks for every take of a song.
func (in Input) Song() bool { return in.Req.AudioID == "" }

// ID names what the line is about: the music task id (a song) or "<task id>/<audio id>".
func (in Input) ID() string {
	switch {
	case in.Req.MusicTaskID == "":
		return "-"
	case in.Song():
		return in.Req.MusicTaskID
	}
	return in.Req.MusicTaskID + "/" + in.Req.AudioID
}

// Defaults fill the fields a line leaves out (from the submit flags).
type Defaults struct {
	Author, Domain, CallbackURL string
}

// maxLine is the longest input line read.
const maxLine = 1 << 20

// ErrFormat is wrapped by Read's errors about the file as a whole (a CSV header naming no
// known column, say): nothing of it is submitted.
var ErrFormat = errors.New("unusable input")

// Read reads every line of r: JSON Lines (a line starting with '{') or CSV whose first line
// is a header naming some of Columns. Blank lines are skipped. A bad line becomes an Input
// with Err; only an unreadable or unusable file is an error.
func Read(r io.Reader, d Defaults) ([]Input, error) {
	all, err := io.ReadAll(io.LimitReader(r, 1<<30))
	if err != nil {
		return nil, fmt.Errorf("read the input: %w", err)
	}
	all = bytes.TrimPrefix(all, []byte{0xEF, 0xBB, 0xBF}) // a UTF-8 byte order mark
	if bytes.HasPrefix(bytes.TrimSpace(all), []byte("{")) {
		return readJSONL(all, d)
	}
	return readCSV(all, d)
}

func readJSONL(all []byte, d Defaults) ([]Input, error) {
	var out []Input
	sc := bufio.NewScanner(bytes.NewReader(all))
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		in := Input{Line: n}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil || m == nil {
			in.Err = fmt.Errorf("not a JSON object (%v); want {\"task_id\":…, \"audio_id\":…}", errOr(err, "null"))
			out = append(out, in)
			continue
		}
		fields := map[string]string{}
		for k, v := range m {
			s, ok := v.(string)
			switch {
			case !slices.Contains(Columns, k):
				in.Err = fmt.Errorf("unknown field %q; the fields are %s", k, strings.Join(Columns, ", "))
			case !ok && v != nil:
				in.Err = fmt.Errorf("field %q is not a string", k)
			}
			fields[k] = s
		}
		if in.Err == nil {
			in.Req, in.Err = request(fields, d)
		} else {
			in.Req.MusicTaskID = fields["task_id"]
		}
		out = append(out, in)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("%w: %v (a line over %d bytes?)", ErrFormat, err, maxLine)
	}
	return out, nil
}

func readCSV(all []byte, d Defaults) ([]Input, error) {
	cr := csv.NewReader(bytes.NewReader(all))
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("%w: CSV header: %v", ErrFormat, err)
	}
	for i, h := range header {
		header[i] = strings.ToLower(strings.TrimSpace(h))
		if !slices.Contains(Columns, header[i]) {
			return nil, fmt.Errorf("%w: the CSV header names column %q; name some of %s (JSON Lines start with '{')", ErrFormat, h, strings.Join(Columns, ", "))
		}
	}
	if !slices.Contains(header, "task_id") {
		return nil, fmt.Errorf("%w: the CSV header has no task_id column", ErrFormat)
	}
	var out []Input
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		var in Input
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe):
			in.Line, in.Err = pe.StartLine, fmt.Errorf("bad CSV: %v", pe.Err)
			out = append(out, in)
			continue
		case err != nil:
			return out, fmt.Errorf("read the input: %w", err)
		}
		in.Line, _ = cr.FieldPos(0) // only after a record was read: it panics otherwise
		switch {
		case len(rec) == 1 && strings.TrimSpace(rec[0]) == "":
			continue
		case len(rec) != len(header):
			in.Err = fmt.Errorf("%d fields, but the header names %d", len(rec), len(header))
		default:
			fields := map[string]string{}
			for i, h := range header {
				fields[h] = rec[i]
			}
			in.Req, in.Err = request(fields, d)
		}
		out = append(out, in)
	}
}

// request builds and validates the submit request of one line.
func request(f map[string]string, d Defaults) (jobs.SubmitRequest, error) {
	req := jobs.SubmitRequest{MusicTaskID: strings.TrimSpace(f["task_id"]), AudioID: strings.TrimSpace(f["audio_id"]),
		Author: f["author"], Domain: f["domain"], CallbackURL: strings.TrimSpace(f["callback_url"])}
	if req.Author == "" {
		req.Author = d.Author
	}
	if req.Domain == "" {
		req.Domain = d.Domain
	}
	if req.CallbackURL == "" {
		req.CallbackURL = d.CallbackURL
	}
	if req.AudioID == "" {
		return req, songReq(Input{Req: req}, 0).Validate()
	}
	return req, req.Validate()
}

func errOr(err error, s string) string {
	if err != nil {
		return err.Error()
	}
	return s
}
