package peer

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func listen(t *testing.T, secret string) *Mux {
	t.Helper()
	m, err := Listen("127.0.0.1:0", "", []byte(secret), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// echo serves KindCall by answering each frame with the group and the frame.
func echo(conn net.Conn, group uint16) {
	r, w := bufio.NewReader(conn), bufio.NewWriter(conn)
	for {
		f, err := ReadFrame(r, nil)
		if err != nil {
			return
		}
		WriteFrame(w, append([]byte{byte(group)}, f...))
	}
}

func TestCallsReachTheHandlerOfTheirKindAndGroup(t *testing.T) {
	a, b := listen(t, "0123456789abcdef-secret"), listen(t, "0123456789abcdef-secret")
	b.Handle(KindCall, echo)
	conn, err := a.Dial(b.Addr(), KindCall, 7, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	w, r := bufio.NewWriter(conn), bufio.NewReader(conn)
	for _, msg := range []string{"one", "two"} {
		if err := WriteFrame(w, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		got, err := ReadFrame(r, nil)
		if err != nil || got[0] != 7 || string(got[1:]) != msg {
			t.Fatalf("answer %q, %v; want group 7 and %q", got, err, msg)
		}
	}
}

func TestAWrongSecretIsRefusedBothWays(t *testing.T) {
	a, b := listen(t, "0123456789abcdef-secret"), listen(t, "another-cluster-secret!!")
	a.Handle(KindCall, echo)
	b.Handle(KindCall, echo)
	if _, err := a.Dial(b.Addr(), KindCall, 0, time.Second); !errors.Is(err, ErrBadSecret) {
		t.Fatalf("dial with a wrong secret: %v, want ErrBadSecret", err)
	}
	if _, err := b.Dial(a.Addr(), KindCall, 0, time.Second); !errors.Is(err, ErrBadSecret) {
		t.Fatalf("dial with a wrong secret: %v, want ErrBadSecret", err)
	}
}

func TestAServerThatFakesTheHandshakeIsNotTrusted(t *testing.T) {
	// A listener that reads the hello and answers "ok" with a made-up proof:
	// the client must not believe it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var h hello
		io.ReadFull(c, h[:])
		c.Write(make([]byte, 16))
		io.ReadFull(c, make([]byte, 32))
		c.Write(make([]byte, 33))
		io.Copy(io.Discard, c)
	}()
	a := listen(t, "0123456789abcdef-secret")
	if _, err := a.Dial(ln.Addr().String(), KindCall, 0, time.Second); !errors.Is(err, ErrBadSecret) {
		t.Fatalf("dial to an impostor: %v, want ErrBadSecret", err)
	}
}

func TestUnservedKindsAndGroupsAreRefused(t *testing.T) {
	a, b := listen(t, "0123456789abcdef-secret"), listen(t, "0123456789abcdef-secret")
	b.Stream(0)
	if _, err := a.Dial(b.Addr(), KindForward, 0, time.Second); !errors.Is(err, errRefused) {
		t.Fatalf("kind without handler: %v", err)
	}
	if _, err := a.Dial(b.Addr(), KindRaft, 3, time.Second); !errors.Is(err, errRefused) {
		t.Fatalf("raft group without stream: %v", err)
	}
}

func TestRaftConnectionsGoToTheirGroupsStream(t *testing.T) {
	a, b := listen(t, "0123456789abcdef-secret"), listen(t, "0123456789abcdef-secret")
	s0, s1 := b.Stream(0), b.Stream(1)
	got := make(chan uint16, 2)
	for g, s := range []*Stream{s0, s1} {
		go func() {
			c, err := s.Accept()
			if err == nil {
				got <- uint16(g)
				c.Close()
			}
		}()
	}
	c, err := a.Stream(1).Dial("127.0.0.1:1", time.Second) // unreachable: must fail
	if err == nil {
		c.Close()
		t.Fatal("dial to a closed port succeeded")
	}
	c, err = a.Stream(1).Dial(raftAddr(b), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case g := <-got:
		if g != 1 {
			t.Fatalf("group 1's connection reached group %d", g)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted")
	}
	if s0.Addr().String() != b.Addr() {
		t.Fatalf("stream address %s, want %s", s0.Addr(), b.Addr())
	}
}

func raftAddr(m *Mux) raft.ServerAddress { return raft.ServerAddress(m.Addr()) }

func TestSilentConnectionsCannotExhaustThePort(t *testing.T) {
	b := listen(t, "0123456789abcdef-secret")
	b.Handle(KindCall, echo)
	var idle []net.Conn
	for range handshakesMax + 16 {
		c, err := net.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	// The idle ones time out of their handshake; a real peer gets in then.
	a := listen(t, "0123456789abcdef-secret")
	deadline := time.Now().Add(3 * handshakeTimeout)
	for {
		c, err := a.Dial(b.Addr(), KindCall, 0, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a peer never got in past idle connections: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestAdvertiseMustBeReachable(t *testing.T) {
	if _, err := Listen("127.0.0.1:0", "0.0.0.0:7000", []byte("0123456789abcdef"), slog.Default()); err == nil {
		t.Fatal("advertising 0.0.0.0 was accepted")
	}
	if _, err := Listen("127.0.0.1:0", "", []byte("short"), slog.Default()); err == nil {
		t.Fatal("a short secret was accepted")
	}
}
