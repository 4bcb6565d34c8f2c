package server

import (
	"context"
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
// probing. It returns the 429 refusal (refusal), or nil when the request
// may go on. cost is the predictions the request counts as (an
// explanation runs the model dozens of times: abuse.RateLimiter.ReserveN).
// ctx and hdr are the request's, as the pipeline takes them.
func (s *server) admitClient(ctx context.Context, hdr http.Header, cost int) *uploadError {
	c := clientOf(ctx)
	now := time.Now()
	if s.limiter != nil {
		if ok, wait := s.limiter.ReserveN(abuse.Key(c.Addr), now, cost); !ok {
			s.metrics.rateLimited.Inc()
			what := ""
			if cost > 1 {
				what = fmt.Sprintf(" (this one counts as %d)", cost)
			}
			return s.refusal(ctx, hdr, wait, codeRateLimited, fmt.Sprintf(
				"too many prediction requests from your address%s: the limit is %g per second, in bursts of up to %d; try again in %s seconds",
				what, s.limiter.Limit(), s.limiter.Burst(), retryAfterSeconds(wait)))
		}
	}
	return s.probingBlocked(ctx, hdr, c, now)
}

// refusal is a 429 with Retry-After for a wait of d, which closes the
// HTTP connection, since the upload that may follow is not read; the
// refusal is counted for the audit log (refusals.go). The caller answers
// it.
func (s *server) refusal(ctx context.Context, hdr http.Header, d time.Duration, code, message string) *uploadError {
	s.auditRefusal(ctx, http.StatusTooManyRequests, code)
	hdr.Set("Retry-After", retryAfterSeconds(d))
	hdr.Set("Connection", "close")
	return &uploadError{http.StatusTooManyRequests, code, message}
}
