package transport

import (
	"io"
	"net"
	"sync"
	"time"
)

// Lingering close. When the server answers early — 431 for an over-long
// request line, 413 for a body it will not read — the client may still be
// sending. Closing a socket with unread input makes the kernel send RST, and
// an RST can destroy the error response in the client's receive buffer
// before the client reads it: the client sees "connection reset" instead of
// the documented error. So a connection is closed the way nginx does it:
// half-close (FIN after the response), discard what the client still sends
// for a bounded time and size, then close.
const (
	lingerTimeout  = time.Second
	lingerBytesMax = 1 << 20
)

type lingerListener struct{ net.Listener }

func (l lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		return &lingerConn{TCPConn: tc}, nil
	}
	return c, nil
}

type lingerConn struct {
	*net.TCPConn
	once sync.Once
}

// Close half-closes at once and finishes the close in the background, so a
// slow client never holds a server worker.
func (c *lingerConn) Close() error {
	err := net.ErrClosed
	c.once.Do(func() {
		if err = c.TCPConn.CloseWrite(); err != nil {
			err = c.TCPConn.Close()
			return
		}
		go func() {
			_ = c.TCPConn.SetReadDeadline(time.Now().Add(lingerTimeout))
			_, _ = io.CopyN(io.Discard, c.TCPConn, lingerBytesMax)
			_ = c.TCPConn.Close()
		}()
	})
	return err
}
