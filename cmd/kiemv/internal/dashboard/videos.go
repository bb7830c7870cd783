package dashboard

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store"
)

// videosPage serves /videos (HTML) and /videos.json: the followed records, newest first,
// optionally of one state — what an operator wants and Asynqmon cannot show.
type videosPage struct {
	recs  *store.Records
	files jobs.Files // serves downloaded files at /videos/file/<id>.mp4; nil: no links
	log   *slog.Logger
}

// Limits of the number of records one page lists (?limit=).
const (
	videosDefaultLimit = 200
	videosMaxLimit     = 5000
)

// query reads ?state= and ?limit=, answering 400 itself when they are wrong.
func (v *videosPage) query(w http.ResponseWriter, r *http.Request) (st jobs.State, limit int, ok bool) {
	q := r.URL.Query()
	if s := q.Get("state"); s != "" {
		var err error
		if st, err = jobs.ParseState(s); err != nil {
			http.Error(w, "state: "+err.Error(), http.StatusBadRequest)
			return "", 0, false
		}
	}
	limit = videosDefaultLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > videosMaxLimit {
			http.Error(w, "limit must be a number from 1 to "+strconv.Itoa(videosMaxLimit), http.StatusBadRequest)
			return "", 0, false
		}
		limit = n
	}
	return st, limit, true
}

func (v *videosPage) list(w http.ResponseWriter, r *http.Request) ([]*jobs.Record, jobs.State, bool) {
	st, limit, ok := v.query(w, r)
	if !ok {
		return nil, "", false
	}
	recs, err := v.recs.List(r.Context(), st, limit)
	if err != nil {
		v.log.Error("dashboard: list records", "error", err)
		http.Error(w, "cannot read the records from Redis; see the dashboard's log", http.StatusInternalServerError)
		return nil, "", false
	}
	return recs, st, true
}

// serveJSON writes the records as a JSON array (the `status --json` shape).
func (v *videosPage) serveJSON(w http.ResponseWriter, r *http.Request) {
	recs, _, ok := v.list(w, r)
	if !ok {
		return
	}
	if recs == nil {
		recs = []*jobs.Record{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(recs)
}

// serveHTML renders the records as a table with a state filter.
func (v *videosPage) serveHTML(w http.ResponseWriter, r *http.Request) {
	recs, st, ok := v.list(w, r)
	if !ok {
		return
	}
	counts, err := v.recs.Counts(r.Context())
	if err != nil {
		v.log.Warn("dashboard: count records", "error", err)
	}
	type stateLink struct {
		State    jobs.State
		Count    int64
		Selected bool
	}
	var total int64
	links := make([]stateLink, 0, len(jobs.States))
	for _, s := range jobs.States {
		links = append(links, stateLink{State: s, Count: counts[s], Selected: s == st})
		total += counts[s]
	}
	data := struct {
		State  jobs.State
		States []stateLink
		Total  int64
		Recs   []*jobs.Record
		Files  bool
	}{st, links, total, recs, v.files != nil}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	if err := videosTemplate.Execute(w, data); err != nil {
		v.log.Warn("dashboard: render /videos", "error", err)
	}
}

// serveFile serves the verified file of a downloaded record from this machine's download
// directory (behind the dashboard's own auth and host checks), never following a link.
func (v *videosPage) serveFile(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("file"), ".mp4")
	if !ok || jobs.ValidateID("task id", id) != nil || v.files == nil {
		http.NotFound(w, r)
		return
	}
	rec, err := v.recs.Get(r.Context(), id)
	if err != nil || rec.State != jobs.StateDownloaded {
		http.Error(w, "no downloaded video "+id, http.StatusNotFound)
		return
	}
	if b, ok := v.files.(*store.Bucket); ok {
		v.serveObject(w, r, b, rec)
		return
	}
	f, err := v.files.OpenFinal(id)
	if err != nil {
		http.Error(w, "the file of "+id+" is not in this machine's download directory", http.StatusNotFound)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "video/mp4")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, id+".mp4", rec.DownloadedAt, f)
}

// serveObject streams the object of a downloaded record from the bucket (Range requests
// included), with the same headers as a local file.
func (v *videosPage) serveObject(w http.ResponseWriter, r *http.Request, b *store.Bucket, rec *jobs.Record) {
	obj, err := b.OpenObject(r.Context(), rec.TaskID)
	if errors.Is(err, os.ErrNotExist) {
		http.Error(w, "the object of "+rec.TaskID+" is not in the bucket "+b.Name(), http.StatusNotFound)
		return
	} else if err != nil {
		v.log.Warn("dashboard: open object", "task_id", rec.TaskID, "error", err)
		http.Error(w, "the bucket "+b.Name()+" could not be read; see the dashboard's log", http.StatusBadGateway)
		return
	}
	defer obj.Close() // read only
	w.Header().Set("Content-Type", "video/mp4")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, rec.TaskID+".mp4", rec.DownloadedAt, obj)
}
