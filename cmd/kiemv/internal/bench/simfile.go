package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

// A video for the downloads scenario, wherever the simulator runs: `kiemv bench-sim` serves
// POST /bench/file?id=ID&size=N&cut=M (a ready task whose file has N bytes, its first GET cut
// after M when M > 0) and GET /bench/file?id=ID (what was served of it, and its sha256).

// fileStats is what the simulator served of one task's file.
type fileStats struct {
	Downloads   int    `json:"downloads"`
	BytesServed int64  `json:"bytes_served"`
	SHA256      string `json:"sha256"`
}

// addFile adds a ready task id whose video has size bytes, its first GET cut after cut bytes
// when cut > 0.
func (s *simServer) addFile(ctx context.Context, id string, size, cut int64) error {
	if s.Sim != nil {
		s.Sim.AddTask(id, id, kiesim.Fate{ReadyAfter: -1, FileSize: size, CutAt: cut})
		return nil
	}
	q := url.Values{"id": {id}, "size": {strconv.FormatInt(size, 10)}, "cut": {strconv.FormatInt(cut, 10)}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/bench/file?"+q.Encode(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("bench-sim: add file: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("bench-sim: add file: HTTP %d", resp.StatusCode)
	}
	return nil
}

// fileStats returns what the simulator served of id's file.
func (s *simServer) fileStats(ctx context.Context, id string) (fileStats, error) {
	if s.Sim != nil {
		return fileStatsOf(s.Sim, id), nil
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/bench/file?id="+url.QueryEscape(id), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fileStats{}, fmt.Errorf("bench-sim: file stats: %w", err)
	}
	defer resp.Body.Close()
	var st fileStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return fileStats{}, fmt.Errorf("bench-sim: file stats: %w", err)
	}
	return st, nil
}

func fileStatsOf(sim *kiesim.Sim, id string) fileStats {
	st := sim.Stats()
	sum, _ := sim.FileSHA256(id)
	return fileStats{Downloads: st.Downloads[id], BytesServed: st.BytesServed[id], SHA256: sum}
}

// handleFiles adds the /bench/file endpoints of `kiemv bench-sim` to mux.
func handleFiles(mux *http.ServeMux, sim *kiesim.Sim) {
	mux.HandleFunc("POST /bench/file", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		size, err1 := strconv.ParseInt(q.Get("size"), 10, 64)
		cut, err2 := strconv.ParseInt(q.Get("cut"), 10, 64)
		if err1 != nil || err2 != nil || size <= 0 || q.Get("id") == "" {
			http.Error(w, "bad id, size or cut", http.StatusBadRequest)
			return
		}
		sim.AddTask(q.Get("id"), q.Get("id"), kiesim.Fate{ReadyAfter: -1, FileSize: size, CutAt: cut})
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /bench/file", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(fileStatsOf(sim, r.URL.Query().Get("id")))
	})
}
