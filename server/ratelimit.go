package server

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/huskyai/huskyai/abuse"
)

// retryAfterSeconds is the Retry-After value for a wait of d: whole
// seconds, rounded up, at least 1.
func retryAfterSeconds(d time.Duration) string {
	return strconv.FormatInt(max(1, int64(math.Ceil(d.Seconds()))), 10)
}

// admitClient applies the per-client defences that need no upload, before
// a prediction request's body is read or a slot is taken: the rate limit,
// then (with Config.BlockProbing) the block of a client flagged for
// probing. It answers 429 with Retry-After and returns false when the
// request is refused. cost is the predictions the request counts as (an
// explanation runs the model dozens of times: abuse.RateLimiter.ReserveN);
// warning is the model warning for the error body.
func (s *server) admitClient(w http.ResponseWriter, r *http.Request, cost int, warning string) bool {
	c := clientOf(r.Context())
	now := time.Now()
	if s.limiter != nil {
		if ok, wait := s.limiter.ReserveN(abuse.Key(c.Addr), now, cost); !ok {
			s.metrics.rateLimited.Inc()
			what := ""
			if cost > 1 {
				what = fmt.Sprintf(" (this one counts as %d)", cost)
			}
			s.refuse(w, r, wait, codeRateLimited, fmt.Sprintf(
				"too many prediction requests from your address%s: the limit is %g per second, in bursts of up to %d; try again in %s seconds",
				what, s.limiter.Limit(), s.limiter.Burst(), retryAfterSeconds(wait)), warning)
			return false
		}
	}
	return !s.probingBlocked(w, r, c, now, warning)
}

// refuse answers 429 with Retry-After for a wait of d, and closes the
// connection, since the upload that may follow is not read; the refusal
// is counted for the audit log (refusals.go).
func (s *server) refuse(w http.ResponseWriter, r *http.Request, d time.Duration, code, message, warning string) {
	s.auditRefusal(r, http.StatusTooManyRequests, code)
	w.Header().Set("Retry-After", retryAfterSeconds(d))
	w.Header().Set("Connection", "close")
	errorJSON(w, http.StatusTooManyRequests, code, message, warning)
}
