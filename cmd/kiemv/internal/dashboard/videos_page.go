package dashboard

import (
	"html/template"
	"time"

	"github.com/kiemv/kiemv/jobs"
)

// progress is what the page shows of a download under way: bytes so far, and the share of
// the length the file host declared (0 when unknown).
func progress(r *jobs.Record) (done, total int64, pct int) {
	if r.PartTotal > 0 {
		return r.Bytes, r.PartTotal, int(min(100, r.Bytes*100/r.PartTotal))
	}
	return r.Bytes, 0, 0
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
	"progress": func(r *jobs.Record) map[string]any {
		done, total, pct := progress(r)
		return map[string]any{"Done": done, "Total": total, "Pct": pct}
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>kiemv · followed videos</title>
<style>
body{font:14px system-ui,sans-serif;margin:1em;color:#222}
table{border-collapse:collapse;width:100%}th,td{padding:.35em .5em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
th{background:#f4f4f4;white-space:nowrap}td.n{text-align:right;white-space:nowrap}code{font-size:12px;word-break:break-all}
small{color:#666;display:block}.err{color:#a00;word-break:break-word}
nav{display:flex;flex-wrap:wrap;gap:.2em .8em}nav a{white-space:nowrap}nav a.on{font-weight:bold;text-decoration:none;color:#000}
.s-downloaded{color:#070}.s-failed,.s-expired,.s-timed_out{color:#a00}.s-canceled{color:#777}.s-downloading{color:#05a}
progress{width:8em}.totals{margin:.5em 0 1em}.totals b{margin-right:.2em}
@media (max-width:900px){.wide{display:none}}
</style></head><body>
<h1>Followed videos</h1>
<p><a href="/">← Asynqmon (queues and tasks)</a> · <a href="/videos.json{{if .State}}?state={{.State}}{{end}}">JSON</a> · refreshed every 5 s</p>
<p class="totals"><b>{{.Total}}</b> followed{{range .States}}{{if .Count}} · <b>{{.Count}}</b> {{.State}}{{end}}{{end}}</p>
<nav><a href="/videos"{{if not .State}} class="on"{{end}}>all ({{.Total}})</a>{{range .States}}<a href="/videos?state={{.State}}"{{if .Selected}} class="on"{{end}}>{{.State}} ({{.Count}})</a>{{end}}</nav>
<table>
<thead><tr><th>video</th><th>state</th><th>file</th><th class="n">polls</th><th>created</th><th class="wide">sha256</th><th>error</th></tr></thead>
<tbody>
{{range .Recs}}<tr>
<td><code>{{.TaskID}}</code>{{if .AudioID}}<small>audio <code>{{.AudioID}}</code>{{if .MusicTaskID}} · music <code>{{.MusicTaskID}}</code>{{end}}</small>{{end}}</td>
<td class="s-{{.State}}">{{.State}}{{if .KIEStatus}}<small>KIE {{.KIEStatus}}</small>{{end}}</td>
<td>{{if eq .State "downloading"}}{{with progress .}}{{if .Total}}<progress max="100" value="{{.Pct}}"></progress> {{.Pct}}%<small>{{size .Done}} of {{size .Total}}</small>{{else}}{{size .Done}}{{end}}{{end}}{{else if eq .State "downloaded"}}{{if $.Files}}<a href="/videos/file/{{.TaskID}}.mp4">open</a> {{end}}{{size .Bytes}}<small><code>{{.File}}</code></small>{{end}}</td>
<td class="n">{{.Polls}}</td>
<td title="{{rfc3339 .CreatedAt}}">{{since .CreatedAt}}<small title="{{rfc3339 .UpdatedAt}}">updated {{since .UpdatedAt}}</small></td>
<td class="wide"><code title="{{.SHA256}}">{{if .SHA256}}{{printf "%.12s" .SHA256}}…{{end}}</code></td>
<td class="err">{{.Error}}</td>
</tr>
{{else}}<tr><td colspan="7">No {{if .State}}{{.State}} {{end}}records.</td></tr>
{{end}}</tbody></table>
</body></html>
`))
