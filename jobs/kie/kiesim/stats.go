package kiesim

import "maps"

// Stats counts what the simulator has seen. Stats() returns a deep copy.
type Stats struct {
	// CreateCalls counts every POST to /api/v1/mp4/generate or /api/v1/jobs/createTask,
	// refused ones included.
	CreateCalls int
	// Creates counts accepted creates (new tasks) per audioId; a 409 duplicate does not count.
	Creates map[string]int
	// Duplicates counts creates refused with 409 (the video of that music task and audioId
	// exists) per audioId: a client that asked KIE to create one video twice.
	Duplicates map[string]int
	// RateLimited counts creates refused by the create rate limit (not injected Fault429s).
	RateLimited int
	// Polls counts record-info calls (legacy and jobs API) per requested task id, faulted and
	// refused ones included.
	Polls map[string]int
	// PollFaults counts faults injected per task: PollFaults answered (other than FaultNone)
	// plus RecordInfoLimit refusals.
	PollFaults map[string]int
	// Downloads counts GETs of each task's file (HEADs excluded).
	Downloads map[string]int
	// BytesServed counts the video body bytes written per task.
	BytesServed map[string]int64
	// DownloadURLCalls counts POSTs to /api/v1/common/download-url.
	DownloadURLCalls int
	// MaxRecordInfoPerSecond is the most record-info calls (all tasks and keys) seen in any
	// sliding 1 s window, whether or not a limit is set.
	MaxRecordInfoPerSecond int
	// MaxConcurrentPolls is the most record-info calls for one task id that were in flight at
	// the same time (1 when no task was ever polled twice at once).
	MaxConcurrentPolls int
	// OutageReplies counts the API calls answered by a SetOutage fault.
	OutageReplies int
	// Callbacks counts the scheduled callback POSTs attempted per task, retries included
	// (SendForged, SendReplay and SendStale are not counted).
	Callbacks map[string]int
}

// newStats returns Stats with empty maps.
func newStats() Stats {
	return Stats{
		Creates:     map[string]int{},
		Duplicates:  map[string]int{},
		Polls:       map[string]int{},
		PollFaults:  map[string]int{},
		Downloads:   map[string]int{},
		BytesServed: map[string]int64{},
		Callbacks:   map[string]int{},
	}
}

// Stats returns a snapshot of the counters that later calls don't change.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.stats
	c.Creates = maps.Clone(s.stats.Creates)
	c.Duplicates = maps.Clone(s.stats.Duplicates)
	c.Polls = maps.Clone(s.stats.Polls)
	c.PollFaults = maps.Clone(s.stats.PollFaults)
	c.Downloads = maps.Clone(s.stats.Downloads)
	c.BytesServed = maps.Clone(s.stats.BytesServed)
	c.Callbacks = maps.Clone(s.stats.Callbacks)
	return c
}

// TaskFor returns the MP4 task id most recently created (or added) for audioID.
func (s *Sim) TaskFor(audioID string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byAudio[audioID]
	return id, ok
}
