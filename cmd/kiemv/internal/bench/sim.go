package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/kiemv/kiemv/cmd/kiemv/internal/app"

	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

// simServer is a KIE simulator that the bench reaches over loopback HTTP: in this process,
// or in a child process (`kiemv bench-sim`) so that the worker's CPU and memory are measured
// without the simulator's.
type simServer struct {
	URL   string
	Sim   *kiesim.Sim // nil for a child
	Child bool
	close func()
}

// simStats is what the capacity scenario needs from a simulator, wherever it runs.
type simStats struct {
	Polls        int   `json:"polls"`       // record-info calls
	PollFaults   int   `json:"poll_faults"` // injected faults and RecordInfoLimit refusals
	MaxPerSecond int   `json:"max_per_second"`
	CPUNanos     int64 `json:"cpu_ns"`   // the child's CPU time (0 in process)
	PeakRSS      int64 `json:"peak_rss"` // the child's VmHWM (0 in process)
}

// startSim serves a simulator configured by cfg in this process.
func startSim(cfg kiesim.Config) (*simServer, error) {
	sim := kiesim.New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: simulator: %w", err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return &simServer{URL: "http://" + ln.Addr().String(), Sim: sim, close: func() { srv.Close(); sim.Close() }}, nil
}

// startSimChild runs `kiemv bench-sim` in a child process. It fails inside a test binary,
// which cannot run kiemv's commands.
func startSimChild(ctx context.Context) (*simServer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(exe, ".test") {
		return nil, errors.New("a test binary cannot run `kiemv bench-sim`")
	}
	cmd := exec.Command(exe, "bench-sim")
	cmd.SysProcAttr = childAttr()
	stdin, err := cmd.StdinPipe() // the child exits when it reads EOF: when the bench ends
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() }
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if !strings.HasPrefix(line, "http://") {
		stop()
		return nil, fmt.Errorf("bench-sim did not say where it listens (%q, %v)", line, err)
	}
	return &simServer{URL: strings.TrimSpace(line), Child: true, close: stop}, nil
}

// Close stops the simulator.
func (s *simServer) Close() { s.close() }

// addNever adds n tasks named prefix000001… that stay PENDING for ever.
func (s *simServer) addNever(ctx context.Context, prefix string, n int) error {
	if s.Sim != nil {
		addNeverTasks(s.Sim, prefix, n)
		return nil
	}
	u := s.URL + "/bench/add?prefix=" + prefix + "&n=" + strconv.Itoa(n)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("bench-sim: add tasks: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("bench-sim: add tasks: HTTP %d", resp.StatusCode)
	}
	return nil
}

// stats returns the simulator's counters.
func (s *simServer) stats(ctx context.Context) (simStats, error) {
	if s.Sim != nil {
		return statsOf(s.Sim), nil
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/bench/stats", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return simStats{}, fmt.Errorf("bench-sim: stats: %w", err)
	}
	defer resp.Body.Close()
	var st simStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return simStats{}, fmt.Errorf("bench-sim: stats: %w", err)
	}
	return st, nil
}

// taskID is the id of the i-th bench task of a scenario: 12 characters like KIE's own
// ("mp4_9f21c0d4"), since ids are part of several keys and so of the memory per task.
func taskID(prefix string, i int) string { return fmt.Sprintf("mp4_%s%07d", prefix[:1], i) }

func addNeverTasks(sim *kiesim.Sim, prefix string, n int) {
	for i := range n {
		sim.AddTask(taskID(prefix, i), "audio-"+taskID(prefix, i), kiesim.Fate{Outcome: kiesim.OutcomeNever})
	}
}

func statsOf(sim *kiesim.Sim) simStats {
	st := sim.Stats()
	out := simStats{MaxPerSecond: st.MaxRecordInfoPerSecond}
	for _, n := range st.Polls {
		out.Polls += n
	}
	for _, n := range st.PollFaults {
		out.PollFaults += n
	}
	return out
}

// ServeSim is the hidden `kiemv bench-sim` that `kiemv bench` runs as its child: a simulator
// on a free loopback port (printed as the first line of stdout) with two extra endpoints,
// POST /bench/add?prefix=P&n=N and GET /bench/stats. It returns when stdin closes or ctx ends.
func ServeSim(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	sim := kiesim.New(kiesim.Config{})
	defer sim.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /bench/add", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 0 {
			http.Error(w, "bad n", http.StatusBadRequest)
			return
		}
		addNeverTasks(sim, r.URL.Query().Get("prefix"), n)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /bench/stats", func(w http.ResponseWriter, r *http.Request) {
		st := statsOf(sim)
		st.CPUNanos, st.PeakRSS = int64(cpuTime()), peakRSS()
		json.NewEncoder(w).Encode(st)
	})
	handleFiles(mux, sim)
	mux.Handle("/", sim)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "http://%s\n", ln.Addr())
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { io.Copy(io.Discard, stdin); cancel() }()
	return app.Serve(ctx, &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln, time.Second)
}
