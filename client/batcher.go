package client

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// The auto-batching mode: CreateTransaction calls made within a window of
// each other are sent as one POST /transactions/batch, and each caller
// gets its own result, as TigerBeetle's clients batch transfers. The first
// call of a batch starts the window; a batch that reaches MaxItems goes at
// once. Items whose outcome is not known are sent again with the next
// round of the same batch, until definite or their caller's context ends.

// waiting is one CreateTransaction call in the batcher.
type waiting struct {
	ctx  context.Context
	req  TxRequest
	done chan TxResult // buffered: the sender never blocks on a caller that left
}

// batcher collects calls into batches.
type batcher struct {
	c   *Client     // read-only
	cfg BatchConfig // read-only

	stop   chan struct{}  // closed by close: no more rounds
	flying sync.WaitGroup // batches being sent

	mu     sync.Mutex // guards the following
	queue  []*waiting // the batch being collected
	timer  *time.Timer
	closed bool
}

func newBatcher(c *Client, cfg BatchConfig) *batcher {
	return &batcher{c: c, cfg: cfg, stop: make(chan struct{})}
}

// add queues a call and waits for its result.
func (b *batcher) add(ctx context.Context, req TxRequest) TxResult {
	w := &waiting{ctx: ctx, req: req, done: make(chan TxResult, 1)}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return TxResult{Err: ErrClosed}
	}
	b.queue = append(b.queue, w)
	switch {
	case len(b.queue) >= b.cfg.MaxItems:
		b.flushLocked()
	case len(b.queue) == 1:
		b.timer = time.AfterFunc(b.cfg.Window, b.flush)
	}
	b.mu.Unlock()
	select {
	case r := <-w.done:
		return r
	case <-ctx.Done():
		return TxResult{Err: fmt.Errorf("%w (%w)", ErrOutcomeUnknown, ctx.Err())}
	}
}

// flush sends the batch being collected (the window ended).
func (b *batcher) flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
}

func (b *batcher) flushLocked() {
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	if len(b.queue) == 0 {
		return
	}
	batch := b.queue
	b.queue = nil
	b.flying.Add(1)
	go func() {
		defer b.flying.Done()
		b.send(batch)
	}()
}

// send sends a batch, and again its items whose outcome is not known,
// until each is definite or its caller has gone (untilDefinite).
func (b *batcher) send(batch []*waiting) {
	reqs := make([]TxRequest, len(batch))
	for i, w := range batch {
		reqs[i] = w.req
	}
	live := func(i int) bool { return batch[i].ctx.Err() == nil }
	deliver := func(i int, r TxResult) { batch[i].done <- r }
	if err := b.c.untilDefinite(context.Background(), b.stop, reqs, live, deliver); err != nil {
		for _, w := range batch {
			select {
			case w.done <- TxResult{Err: err}:
			default: // delivered already
			}
		}
	}
}

// close sends what is being collected, refuses new calls, and waits for
// the batches in flight to have their answers; their items still unclear
// end with ErrOutcomeUnknown instead of being sent again.
func (b *batcher) close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	b.flushLocked()
	b.mu.Unlock()
	close(b.stop)
	b.flying.Wait()
}
