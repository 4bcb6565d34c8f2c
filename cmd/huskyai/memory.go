package main

import (
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/huskyai/huskyai/server"
)

// Memory: --max-decode-memory, the budget of the images being decoded
// at once (server.Config.MaxDecodeMemory), and the Go runtime's soft
// memory limit (GOMEMLIMIT), both from the container's memory limit when
// it has one.

// cgroupFiles are where a container's memory limit is read: cgroup v2,
// then v1.
var cgroupFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// cgroupMemoryLimit returns the memory limit of the cgroup this process
// runs in, if it has one: "max" (v2) and v1's huge "unlimited" values
// are none.
func cgroupMemoryLimit(readFile func(string) ([]byte, error)) (int64, bool) {
	for _, f := range cgroupFiles {
		b, err := readFile(f)
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(b))
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 || n >= 1<<60 {
			return 0, false // "max", or v1's page-rounded MaxInt64
		}
		return n, true
	}
	return 0, false
}

// memoryPlan is how serve uses memory: the decode budget, the runtime's
// soft limit, and where they came from.
type memoryPlan struct {
	decode   int64  // server.Config.MaxDecodeMemory
	goLimit  int64  // debug.SetMemoryLimit; 0: left as GOMEMLIMIT says
	from     string // "flag", "cgroup" or "default"
	cgroup   int64  // the container's limit, 0 if none
	envLimit string // GOMEMLIMIT, when set
}

// planMemory decides the decode budget and the soft memory limit:
//   - with a container limit L: the runtime's soft limit is 90% of L (the
//     garbage collector works harder before the kernel kills), and the
//     decode budget half of that, leaving the rest to the model, the
//     uploads being read (--max-pending x --max-upload) and garbage;
//   - without one: the decode budget is server.DefaultMaxDecodeMemory
//     and the soft limit twice it;
//   - --max-decode-memory (flag > 0) sets the budget, and the soft limit
//     is then twice it (at most 90% of L);
//   - GOMEMLIMIT in the environment wins for the soft limit.
func planMemory(flag int64, getenv func(string) string, readFile func(string) ([]byte, error)) memoryPlan {
	p := memoryPlan{envLimit: getenv("GOMEMLIMIT")}
	limit, ok := cgroupMemoryLimit(readFile)
	switch {
	case flag > 0:
		p.decode, p.from, p.goLimit = flag, "flag", 2*flag
		if ok {
			p.goLimit = min(p.goLimit, limit/10*9)
		}
	case ok:
		p.goLimit = limit / 10 * 9
		p.decode, p.from = p.goLimit/2, "cgroup"
	default:
		p.decode, p.from, p.goLimit = server.DefaultMaxDecodeMemory, "default", 2*server.DefaultMaxDecodeMemory
	}
	if ok {
		p.cgroup = limit
	}
	if p.envLimit != "" {
		p.goLimit = 0
	}
	return p
}

// apply sets the runtime's soft memory limit, logs the plan, and returns
// a func that restores the previous limit (serve runs inside tests too).
func (p memoryPlan) apply(logger *slog.Logger) (restore func()) {
	restore = func() {}
	if p.goLimit > 0 {
		old := debug.SetMemoryLimit(p.goLimit)
		restore = func() { debug.SetMemoryLimit(old) }
	}
	logger.Info("memory", "max_decode_memory", p.decode, "from", p.from, "cgroup_limit", p.cgroup,
		"go_memory_limit", debug.SetMemoryLimit(-1), "gomemlimit_env", p.envLimit)
	return restore
}

// readFile is os.ReadFile, for planMemory outside tests.
var readFile = os.ReadFile
