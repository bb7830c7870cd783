package jobs

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// DefaultMP4Credits is what one MP4 costs at KIE (kie-api.md §11: 2 credits, 8 before).
const DefaultMP4Credits = 2.0

// Errors of a create refused for credits.
var (
	// ErrInsufficientCredits means KIE refused a create for want of credits (402, or 433 for
	// a credit cap): nothing was created, and no create can succeed until the account is
	// topped up. It is never retried.
	ErrInsufficientCredits = errors.New("insufficient credits")
	// ErrOverBudget means a create would have spent more than the run's Budget allows:
	// nothing was created.
	ErrOverBudget = errors.New("over the credit budget of this run")
)

// Budget bounds what one run (a submit, a bulk file) may spend on creates, and stops every
// create of the run once KIE said the account has too few credits. Its zero value (and a nil
// *Budget) allows everything. It is safe for concurrent use.
type Budget struct {
	// Max is the most credits the run may spend (0: no bound).
	Max float64
	// Price is what one MP4 create costs (0: DefaultMP4Credits).
	Price float64

	mu      sync.Mutex
	spent   float64
	stopped error
}

// NewBudget returns a Budget of max credits (0: unbounded) at price per MP4 (0: the default).
func NewBudget(max, price float64) *Budget { return &Budget{Max: max, Price: price} }

// price is b.Price or DefaultMP4Credits.
func (b *Budget) price() float64 {
	if b.Price > 0 {
		return b.Price
	}
	return DefaultMP4Credits
}

// Reserve asks to spend one MP4 create's price. It fails, reserving nothing, with an error
// wrapping ErrOverBudget when that would pass Max, and with the error given to Stop once KIE
// refused a create for credits. A nil Budget allows everything.
func (b *Budget) Reserve() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped != nil {
		return b.stopped
	}
	p := b.price()
	if b.Max > 0 && b.spent+p > b.Max+1e-9 {
		return fmt.Errorf("%w: an MP4 costs %g credits, %g of the %g allowed are spent", ErrOverBudget, p, b.spent, b.Max)
	}
	b.spent += p
	return nil
}

// Refund gives back a reservation whose create did not cost anything (it failed, or KIE had
// the video already).
func (b *Budget) Refund() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.spent = max(b.spent-b.price(), 0)
}

// Stop makes every later Reserve fail with err (which wraps ErrInsufficientCredits): KIE said
// the account cannot pay. The first Stop wins.
func (b *Budget) Stop(err error) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped == nil {
		b.stopped = err
	}
}

// Stopped returns the error given to Stop, or nil.
func (b *Budget) Stopped() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stopped
}

// Spent returns the credits reserved and not refunded: what the run spent, or is spending.
func (b *Budget) Spent() float64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.spent
}

// Affordable returns how many of n more creates the run may make: the fewest of n, what Max
// leaves, and what balance (KIE's credits, from kie.API.Credits) pays for at Price each. A
// bulk run asks it before it starts; a nil Budget has no Max and the default price.
func (b *Budget) Affordable(balance float64, n int) int {
	p, left := DefaultMP4Credits, math.Inf(1)
	if b != nil {
		b.mu.Lock()
		p = b.price()
		if b.Max > 0 {
			left = b.Max - b.spent
		}
		b.mu.Unlock()
	}
	k := math.Floor((min(balance, left) + 1e-9) / p)
	return int(max(0, min(float64(n), k)))
}

// CreateCounter counts the MP4 tasks kiemv created at KIE, per UTC day and in total, for
// `kiemv credits`. store.Ledger implements it.
type CreateCounter interface {
	// CountCreate counts one MP4 task created at time at.
	CountCreate(ctx context.Context, at time.Time) error
	// Creates returns how many MP4 tasks were created on the UTC day of at, and in total.
	Creates(ctx context.Context, at time.Time) (day, total int64, err error)
}

// CreditReport is what `kiemv credits` prints: KIE's balance and what kiemv created.
type CreditReport struct {
	Balance    float64      `json:"balance"`     // KIE's remaining credits (GET /api/v1/chat/credit)
	MP4Credits float64      `json:"mp4_credits"` // the price of one MP4 the counts are multiplied by
	Today      CreditPeriod `json:"today"`
	Total      CreditPeriod `json:"total"`
}

// CreditPeriod is what kiemv created in one period: a UTC day, or all time.
type CreditPeriod struct {
	Date    string  `json:"date,omitempty"` // the UTC day, YYYY-MM-DD; absent for the total
	MP4s    int64   `json:"mp4s"`           // MP4 tasks kiemv created
	Credits float64 `json:"credits"`        // MP4s × MP4Credits
}

// BalanceSource is the part of the KIE API that reports the balance. kie.API fits.
type BalanceSource interface {
	Credits(ctx context.Context) (float64, error)
}

// Credits builds the report: what counter counted (today being the UTC day of now) times
// price, and the balance KIE reports. A failed balance call returns the counts and the error.
func Credits(ctx context.Context, k BalanceSource, counter CreateCounter, price float64, now time.Time) (CreditReport, error) {
	if price <= 0 {
		price = DefaultMP4Credits
	}
	day, total, err := counter.Creates(ctx, now)
	if err != nil {
		return CreditReport{}, fmt.Errorf("read kiemv's create counts: %w", err)
	}
	r := CreditReport{MP4Credits: price,
		Today: CreditPeriod{Date: now.UTC().Format(time.DateOnly), MP4s: day, Credits: float64(day) * price},
		Total: CreditPeriod{MP4s: total, Credits: float64(total) * price}}
	r.Balance, err = k.Credits(ctx)
	if err != nil {
		return r, fmt.Errorf("ask KIE for the credit balance: %w; try again later", err)
	}
	return r, nil
}
