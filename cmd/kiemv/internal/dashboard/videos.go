package dashboard

import (
	"encoding/json"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/store"
)

// videosPage serves /videos (HTML) and /videos.json: the followed records, newest first,
// optionally of one state — what an operator wants and Asynqmon cannot show.
type videosPage struct {
	recs *store.Records
	log  *slog.Logger
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
		Now    time.Time
	}{st, links, total, recs, time.Now().UTC()}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	if err := videosTemplate.Execute(w, data); err != nil {
		v.log.Warn("dashboard: render /videos", "error", err)
	}
}

var videosTemplate = template.Must(template.New("videos").Funcs(template.FuncMap{
	"since": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return time.Since(t).Round(time.Second).String() + " ago"
	},
	"rfc3339": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
	"size": HumanBytes,
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>kiemv · followed videos</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;width:100%}th,td{padding:.35em .6em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n{text-align:right}code{font-size:12px}.err{color:#a00;max-width:40em}
nav a{margin-right:.8em}nav a.on{font-weight:bold;text-decoration:none;color:#000}
.s-downloaded{color:#070}.s-failed,.s-expired,.s-timed_out{color:#a00}.s-canceled{color:#777}
</style></head><body>
<h1>Followed videos</h1>
<p><a href="/">← Asynqmon (queues and tasks)</a> · <a href="/videos.json{{if .State}}?state={{.State}}{{end}}">JSON</a> · refreshed every 5 s</p>
<nav><a href="/videos"{{if not .State}} class="on"{{end}}>all ({{.Total}})</a>{{range .States}}<a href="/videos?state={{.State}}"{{if .Selected}} class="on"{{end}}>{{.State}} ({{.Count}})</a>{{end}}</nav>
<table>
<thead><tr><th>task id</th><th>state</th><th>KIE status</th><th>polls</th><th>file</th><th>size</th><th>sha256</th><th>created</th><th>updated</th><th>error</th></tr></thead>
<tbody>
{{range .Recs}}<tr>
<td><code>{{.TaskID}}</code></td><td class="s-{{.State}}">{{.State}}</td><td>{{.KIEStatus}}</td><td class="n">{{.Polls}}</td>
<td><code>{{.File}}</code></td><td class="n">{{if .Bytes}}{{size .Bytes}}{{end}}</td><td><code title="{{.SHA256}}">{{if .SHA256}}{{printf "%.12s" .SHA256}}…{{end}}</code></td>
<td title="{{rfc3339 .CreatedAt}}">{{since .CreatedAt}}</td><td title="{{rfc3339 .UpdatedAt}}">{{since .UpdatedAt}}</td><td class="err">{{.Error}}</td>
</tr>
{{else}}<tr><td colspan="10">No {{if .State}}{{.State}} {{end}}records.</td></tr>
{{end}}</tbody></table>
</body></html>
`))
