package engine

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/cloudwallet/cloudwallet/peer"
)

// serveIndex answers every call on a peer port with the given Index.
func serveIndex(t *testing.T, addr string, secret []byte, index uint64) *peer.Mux {
	t.Helper()
	m, err := peer.Listen(addr, "", secret, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	m.Handle(peer.KindCall, func(conn net.Conn, _ uint16) {
		r, w := bufio.NewReader(conn), bufio.NewWriter(conn)
		for {
			if _, err := peer.ReadFrame(r, nil); err != nil {
				return
			}
			b, _ := json.Marshal(callAnswer{Index: index})
			if peer.WriteFrame(w, b) != nil {
				return
			}
		}
	})
	return m
}

// A peer that restarted left this node's idle connections to it dead: the
// next calls still succeed (on a new connection) instead of reporting the
// peer unreachable, however many dead ones the pool held.
func TestCallsSurviveAPeerRestart(t *testing.T) {
	secret := []byte("a-cluster-secret-of-enough-length")
	server := serveIndex(t, "127.0.0.1:0", secret, 7)
	addr := server.Addr()
	client, err := peer.Listen("127.0.0.1:0", "", secret, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	calls := callClient{mux: client}
	defer calls.close()
	var ans callAnswer
	if err := calls.do(addr, callRequest{Op: opStatus}, &ans, time.Second); err != nil || ans.Index != 7 {
		t.Fatalf("first call: %v %+v", err, ans)
	}
	// three connections idle in the pool, as after concurrent calls
	var held []*callConn
	for range 3 {
		conn, _, err := calls.take(addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, conn)
	}
	for _, conn := range held {
		calls.put(addr, conn, true)
	}
	server.Close()
	server = serveIndex(t, addr, secret, 8) // the same address, a new process
	defer server.Close()
	var again callAnswer // a fresh answer: the new process's, not the first one left over
	for i := range 3 {
		if err := calls.do(addr, callRequest{Op: opStatus}, &again, time.Second); err != nil || again.Index != 8 {
			t.Fatalf("call %d after the peer restarted: %v %+v", i+1, err, again)
		}
	}
}
