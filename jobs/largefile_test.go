package jobs_test

import (
	"testing"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/kiemv/kiemv/jobs/kie/kiesim"
)

// A download of many buffers, cut and resumed, lands byte for byte: the resume continues at
// the right offset and fetches only the rest.
func TestDownloadLargeFileCutAndResumed(t *testing.T) {
	t.Parallel()
	const size = 30<<20 + 3
	e := newEnv(t, kiesim.Config{FileSize: size})
	id := e.simTask("mp4_large", kiesim.Fate{CutAt: 17<<20 + 5})
	e.record(id, jobs.StateReady, time.Time{}, e.fileURL(id))
	e.wantTransient(id, e.download(e.downloader(), id))
	if err := e.download(e.downloader(), id); err != nil {
		t.Fatal(err)
	}
	e.wantDownloaded(id, e.simSHA(id), size)
	if st := e.sim.Stats(); st.BytesServed[id] != size || st.Downloads[id] != 2 {
		t.Errorf("served %d bytes in %d GETs; want %d in 2 (the resume fetched only the rest)", st.BytesServed[id], st.Downloads[id], size)
	}
}
