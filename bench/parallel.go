package bench

import (
	"sync"
	"sync/atomic"
	"time"
)

// parallel runs fn(0..count-1) on workers goroutines, stopping at the
// first error; progress (if set) hears the count done every second.
func parallel(workers, count int, fn func(i int) error, progress func(done int)) error {
	var next, done atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	stop := make(chan struct{})
	if progress != nil {
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					progress(int(done.Load()))
				case <-stop:
					return
				}
			}
		}()
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for firstErr.Load() == nil {
				i := int(next.Add(1) - 1)
				if i >= count {
					return
				}
				if err := fn(i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stop)
	err, _ := firstErr.Load().(error)
	return err
}
