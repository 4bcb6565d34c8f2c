package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/huskyai/huskyai/abuse"
)

// probingBlocked returns the 429 refusal (refusal) when
// Config.BlockProbing is set and c is flagged for probing, before the
// upload is read; else nil.
func (s *server) probingBlocked(ctx context.Context, hdr http.Header, c *client, now time.Time) *uploadError {
	if s.probes == nil || !s.cfg.BlockProbing {
		return nil
	}
	count, wait := s.probes.Blocked(abuse.Key(c.Addr), now)
	if wait <= 0 {
		return nil
	}
	s.flagProbing(ctx, c, count)
	return s.refusal(ctx, hdr, wait, codeProbing, probingMessage(wait))
}

// checkProbing records a classified upload of the request's client in
// the probing detector (sha is the upload's SHA-256, phash its perceptual
// hash), as n near-identical uploads when the model ran n times on
// variations of it (abuse.ProbeDetector.ObserveN). When the client is flagged it counts, logs and marks the request
// for the audit record; with Config.BlockProbing it then sets Retry-After
// and returns block true and the message: the caller answers 429
// codeProbing instead of the verdict.
func (s *server) checkProbing(ctx context.Context, hdr http.Header, sha [32]byte, phash uint64, n int) (block bool, message string) {
	if s.probes == nil {
		return false, ""
	}
	c := clientOf(ctx)
	key, now := abuse.Key(c.Addr), time.Now()
	count, flagged := s.probes.ObserveN(key, now, sha, phash, n)
	if !flagged {
		return false, ""
	}
	s.flagProbing(ctx, c, count)
	if !s.cfg.BlockProbing {
		return false, ""
	}
	_, wait := s.probes.Blocked(key, now)
	hdr.Set("Retry-After", retryAfterSeconds(wait))
	return true, probingMessage(wait)
}

// flagProbing counts, logs and marks a request of a client flagged for
// probing, with count near-identical uploads in the window.
func (s *server) flagProbing(ctx context.Context, c *client, count int) {
	c.probing = true
	s.metrics.probingFlagged.Inc()
	addLogAttrs(ctx, "probing", true)
	s.logger.WarnContext(ctx, "probing suspected: many near-identical images from one client",
		"request_id", requestIDOf(ctx), "client", c.String(),
		"near_identical", count, "window", s.probes.Window().String(), "blocked", s.cfg.BlockProbing)
}

// probingMessage is the message of a 429 probing_suspected answer.
func probingMessage(wait time.Duration) string {
	return fmt.Sprintf("too many nearly identical images from your address; try again in %s seconds", retryAfterSeconds(wait))
}
