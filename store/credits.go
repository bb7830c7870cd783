package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/kiemv/kiemv/jobs"
	"github.com/redis/go-redis/v9"
)

// ledgerTotal is the field of the credits hash that counts every create.
const ledgerTotal = "total"

// Ledger counts the MP4 tasks kiemv created at KIE, per UTC day and in total, in one hash
// (Keys.Credits): field "total", and one field per day "YYYY-MM-DD". It implements
// jobs.CreateCounter.
type Ledger struct {
	rdb  redis.UniversalClient
	keys Keys
}

var _ jobs.CreateCounter = (*Ledger)(nil)

// NewLedger returns the create counts of namespace.
func NewLedger(rdb redis.UniversalClient, namespace string) *Ledger {
	return &Ledger{rdb: rdb, keys: NewKeys(namespace)}
}

// CountCreate adds one create on the UTC day of at, and to the total, atomically.
func (l *Ledger) CountCreate(ctx context.Context, at time.Time) error {
	key := l.keys.Credits()
	_, err := l.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HIncrBy(ctx, key, at.UTC().Format(time.DateOnly), 1)
		p.HIncrBy(ctx, key, ledgerTotal, 1)
		return nil
	})
	if err != nil {
		return fmt.Errorf("count a create in %s: %w", key, err)
	}
	return nil
}

// Creates returns the creates counted on the UTC day of at, and in total.
func (l *Ledger) Creates(ctx context.Context, at time.Time) (day, total int64, err error) {
	key := l.keys.Credits()
	vals, err := l.rdb.HMGet(ctx, key, at.UTC().Format(time.DateOnly), ledgerTotal).Result()
	if err != nil {
		return 0, 0, fmt.Errorf("read %s: %w", key, err)
	}
	var n [2]int64
	for i, v := range vals {
		s, _ := v.(string)
		if s == "" {
			continue
		}
		if n[i], err = strconv.ParseInt(s, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("%s: field is corrupt: %w", key, err)
		}
	}
	return n[0], n[1], nil
}
