package store_test

import (
	"testing"
	"time"

	"github.com/kiemv/kiemv/store"
	"github.com/kiemv/kiemv/store/storetest"
)

// TestRecordsConformance runs the jobs.Store conformance suite on Records: on miniredis, or on
// the real Redis named by KIEMV_TEST_REDIS_URL.
func TestRecordsConformance(t *testing.T) {
	storetest.StoreSuite(t, func(t *testing.T) storetest.Fixture {
		rdb, _ := storetest.Redis(t)
		ns := storetest.Namespace(t)
		storetest.Clean(t, rdb, ns)
		return storetest.Fixture{
			Store:      store.NewRecords(rdb, ns),
			ElapseFunc: func(d time.Duration) { storetest.Elapse(t, rdb, d) },
		}
	})
}
