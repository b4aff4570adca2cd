package engine

import (
	"sync"
	"sync/atomic"

	"github.com/cloudwallet/cloudwallet/shard"
)

// workerQueueMax bounds each worker's inbox. Senders block when it is full,
// which holds back the FSM (and so Raft) rather than growing memory.
const workerQueueMax = 256

// group runs a shard.Machine on one goroutine per partition.
// Each partition's state is owned by its worker goroutine; others reach it
// only with a task on the worker's channel.
type group struct {
	machine atomic.Pointer[shard.Machine] // replaced whole by restore
	layout  shard.Layout                  // set at start, read-only after
	workers []chan task                   // one per partition, set at start

	// submitMu orders tasks that go to several workers (apply batches,
	// all-partition reads): every worker sees them in the same order, so
	// two rendezvous can never wait for each other.
	submitMu sync.Mutex

	// closeMu keeps the workers' inboxes open while a task is on its way:
	// every submission holds it shared; close holds it alone, so it waits
	// for them, and later ones find closed set and run nothing (a replica
	// closes while the node runs when its group moves away).
	closeMu sync.RWMutex
	closed  bool
}

// task is one unit of work for a worker: a run of slots, or a function.
type task struct {
	slots []*slot
	fn    func(m *shard.Machine)
	done  *sync.WaitGroup
}

// slot is one command in a schedule.
// A slot is written by the scheduler before it is handed to the workers,
// then by the one worker that runs the command (the last to arrive).
type slot struct {
	ctx     shard.Context
	cmd     *shard.Command
	parts   []int
	res     *shard.Result
	pending atomic.Int32   // workers still to arrive (multi-partition only)
	handed  sync.WaitGroup // released by the coordinator when it is done
}

func newGroup(m *shard.Machine) *group {
	g := &group{layout: m.Layout, workers: make([]chan task, 1+m.ShardCount())}
	g.machine.Store(m)
	for i := range g.workers {
		g.workers[i] = make(chan task, workerQueueMax)
		go g.work(g.workers[i])
	}
	return g
}

func (g *group) close() {
	g.closeMu.Lock()
	defer g.closeMu.Unlock()
	g.closed = true
	for _, w := range g.workers {
		close(w)
	}
}

// open takes the shared hold that keeps the inboxes open for a
// submission; false (and no hold) once the group is closed.
func (g *group) open() bool {
	g.closeMu.RLock()
	if g.closed {
		g.closeMu.RUnlock()
		return false
	}
	return true
}

func (g *group) work(inbox chan task) {
	for t := range inbox {
		m := g.machine.Load()
		if t.fn != nil {
			t.fn(m)
		}
		for _, s := range t.slots {
			g.run(m, s)
		}
		t.done.Done()
	}
}

// run executes a slot, or hands this worker's partition to its coordinator.
func (g *group) run(m *shard.Machine, s *slot) {
	if len(s.parts) == 1 {
		*s.res = m.Apply(s.ctx, s.cmd)
		return
	}
	if s.pending.Add(-1) > 0 {
		s.handed.Wait() // our partition is the coordinator's until it is done
		return
	}
	*s.res = m.Apply(s.ctx, s.cmd) // last to arrive: we hold every partition
	s.handed.Done()
}

// apply runs commands in log order across the workers and fills res.
// The FSM never applies to a closed group (Raft stops first).
func (g *group) apply(ctxs []shard.Context, cmds []*shard.Command, res []shard.Result) {
	if !g.open() {
		return
	}
	defer g.closeMu.RUnlock()
	slots := make([]slot, len(cmds))
	perWorker := make([][]*slot, len(g.workers))
	parts := make([]int, 0, 4*len(cmds))
	for i, c := range cmds {
		s := &slots[i]
		start := len(parts)
		parts = c.Partitions(parts, g.layout)
		s.ctx, s.cmd, s.parts, s.res = ctxs[i], c, parts[start:len(parts):len(parts)], &res[i]
		if n := len(s.parts); n > 1 {
			s.pending.Store(int32(n))
			s.handed.Add(1)
		}
		for _, p := range s.parts {
			perWorker[p] = append(perWorker[p], s)
		}
	}
	var done sync.WaitGroup
	g.submitMu.Lock()
	for p, list := range perWorker {
		if len(list) > 0 {
			done.Add(1)
			g.workers[p] <- task{slots: list, done: &done}
		}
	}
	g.submitMu.Unlock()
	done.Wait()
}

// read runs fn on the worker of one partition, after everything before
// it; false, without running fn, once the group is closed.
func (g *group) read(partition int, fn func(m *shard.Machine)) bool {
	if !g.open() {
		return false
	}
	defer g.closeMu.RUnlock()
	var done sync.WaitGroup
	done.Add(1)
	g.workers[partition] <- task{fn: fn, done: &done}
	done.Wait()
	return true
}

// readAll runs fn while every partition is held: the workers all reach the
// same point and wait while one of them runs fn. False, without running
// fn, once the group is closed.
func (g *group) readAll(fn func(m *shard.Machine)) bool {
	if !g.open() {
		return false
	}
	defer g.closeMu.RUnlock()
	s := &slot{parts: make([]int, len(g.workers))}
	s.pending.Store(int32(len(g.workers)))
	s.handed.Add(1)
	var done sync.WaitGroup
	done.Add(len(g.workers))
	g.submitMu.Lock()
	for _, w := range g.workers {
		w <- task{fn: func(m *shard.Machine) {
			if s.pending.Add(-1) > 0 {
				s.handed.Wait()
				return
			}
			fn(m)
			s.handed.Done()
		}, done: &done}
	}
	g.submitMu.Unlock()
	done.Wait()
	return true
}

// restore swaps in a new machine once every worker is idle.
func (g *group) restore(m *shard.Machine) {
	if m.Layout != g.layout {
		panic("engine: snapshot has a different shard layout than this group")
	}
	g.readAll(func(*shard.Machine) { g.machine.Store(m) })
}

// queueDepths returns each partition worker's inbox length (for metrics;
// a racy read of a channel length is fine there).
func (g *group) queueDepths() []int {
	d := make([]int, len(g.workers))
	for i, w := range g.workers {
		d[i] = len(w)
	}
	return d
}
