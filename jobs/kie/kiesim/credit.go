package kiesim

import "net/http"

// MP4Price is what the simulator charges for a new MP4 task once SetCredits meters the
// account (kie-api.md §11: 2 credits).
const MP4Price = 2.0

// credit is the metered balance of the account. Guarded by Sim.mu.
type credit struct {
	metered bool    // SetCredits was called: creates are charged and may be refused
	balance float64 // what GET /api/v1/chat/credit reports
	refusal int     // the body code of a refused create: 402 (default) or 433
}

// SetCredits meters the account from now on: GET /api/v1/chat/credit reports balance, every
// new MP4 task (on either API; duplicates are free) costs MP4Price, and a create the balance
// cannot pay is refused with body code 402 (or SetCreditRefusal's) and creates nothing.
// Calling it again tops the account up (or down) to balance. Unmetered, the balance is
// Credit and creates are free.
func (s *Sim) SetCredits(balance float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.credit.metered, s.credit.balance = true, balance
}

// SetCreditRefusal sets the body code of a create refused for want of credits: 402 (KIE's
// "insufficient credits", the default) or 433 (a key's credit cap).
func (s *Sim) SetCreditRefusal(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.credit.refusal = code
}

// Credits returns the balance GET /api/v1/chat/credit reports now.
func (s *Sim) Credits() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.balance()
}

// balance is the reported balance. The caller holds s.mu.
func (s *Sim) balance() float64 {
	if !s.credit.metered {
		return Credit
	}
	return s.credit.balance
}

// chargeCreate takes MP4Price from a metered balance. It reports short, and the body code
// to refuse with, when the balance cannot pay (nothing is taken). The caller holds s.mu.
func (s *Sim) chargeCreate() (code int, short bool) {
	if !s.credit.metered {
		return 0, false
	}
	if s.credit.balance < MP4Price {
		if s.credit.refusal == 433 {
			return 433, true
		}
		return 402, true
	}
	s.credit.balance -= MP4Price
	return 0, false
}

// creditRefusalMsg is the msg of a create refused for want of credits.
func creditRefusalMsg(code int) string {
	if code == 433 {
		return "The account credit limit has been reached"
	}
	return "The current credits are insufficient. Please top up."
}

// handleCredit serves GET /api/v1/chat/credit.
func (s *Sim) handleCredit(w http.ResponseWriter, _ *http.Request) { ok(w, s.Credits()) }
