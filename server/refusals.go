package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/huskyai/huskyai/abuse"
	"github.com/huskyai/huskyai/audit"
)

// maxRefusalClients bounds the clients whose refusals one minute keeps
// apart; beyond it they are counted under refusalOthers.
const maxRefusalClients = 10_000

// refusalOthers is the client of the refusals past maxRefusalClients.
const refusalOthers = "others"

// refusalCounter counts the prediction requests refused before their
// upload was read, per client and minute, for audit.Refusals records: a
// minute's counts are written when a refusal of a later minute comes, and
// at shutdown (Drain.Finish).
type refusalCounter struct {
	mu     sync.Mutex
	minute time.Time
	counts map[string]map[string]int // client -> "status code" -> n
}

// add counts a refusal at now and returns the records of an earlier
// minute that are due.
func (c *refusalCounter) add(now time.Time, client, what string) []audit.Refusals {
	c.mu.Lock()
	defer c.mu.Unlock()
	var due []audit.Refusals
	if m := now.UTC().Truncate(time.Minute); !m.Equal(c.minute) {
		due = c.take()
		c.minute = m
	}
	if c.counts == nil {
		c.counts = map[string]map[string]int{}
	}
	if _, ok := c.counts[client]; !ok && len(c.counts) >= maxRefusalClients {
		client = refusalOthers
	}
	if c.counts[client] == nil {
		c.counts[client] = map[string]int{}
	}
	c.counts[client][what]++
	return due
}

// take returns the records of the counts kept, and forgets them; c.mu is
// held.
func (c *refusalCounter) take() []audit.Refusals {
	var out []audit.Refusals
	for client, counts := range c.counts {
		out = append(out, audit.Refusals{Minute: c.minute.Format(time.RFC3339), Client: client, Counts: counts})
	}
	c.counts = nil
	return out
}

// flush returns the records of every count kept.
func (c *refusalCounter) flush() []audit.Refusals {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.take()
}

// auditRefusal counts a refusal of the client of the request of ctx with
// status and code, and writes the records that are due.
func (s *server) auditRefusal(ctx context.Context, status int, code string) {
	if s.cfg.Audit == nil {
		return
	}
	client := abuse.Key(clientOf(ctx).Addr).String()
	s.writeRefusals(ctx, s.refusals.add(time.Now(), client, fmt.Sprintf("%d %s", status, code)))
}

// flushRefusals writes every refusal count kept (at shutdown).
func (s *server) flushRefusals() {
	s.writeRefusals(context.Background(), s.refusals.flush())
}

func (s *server) writeRefusals(ctx context.Context, recs []audit.Refusals) {
	for _, ev := range recs {
		if err := s.cfg.Audit.Record(ctx, ev); err != nil && s.auditLogged.allow(time.Now()) {
			s.logger.ErrorContext(ctx, "audit record failed (further failures are logged at most every 10s; see huskyai_audit_records_dropped_total)",
				"type", ev.EventType(), "err", err)
		}
	}
}
