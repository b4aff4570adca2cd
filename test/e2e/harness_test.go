package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cloudwallet-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "cloudwallet")
	args := []string{"build", "-o", binary}
	if os.Getenv("CLOUDWALLET_E2E_RACE") != "" {
		// The servers themselves under the race detector; with
		// GORACE=halt_on_error=1 a race kills the server and fails the test.
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "github.com/cloudwallet/cloudwallet/cmd/cloudwallet")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building cloudwallet:", err)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	return freeAddrOn(t, "127.0.0.1")
}

// handedOut is every address freeAddrOn has given this test process: the
// kernel may offer a port again once its probe listener closed, and a
// server given one port for HTTP and the internal port cannot start.
var handedOut = struct {
	sync.Mutex
	addrs map[string]bool
}{addrs: map[string]bool{}}

// server is one running cloudwallet process.
type server struct {
	t                  *testing.T
	dir, httpAddr, url string
	raftAddr           string
	cmd                *exec.Cmd
	proc               *process // the current run
	stdout             *syncBuffer
	operator           string
	accessKey, sigKey  string
	projectID          string
	readiness          []int // /readyz statuses seen while starting
	joined             bool  // a cluster node that joined: no default-project.json
}

// startServer starts the binary on dir (reusing its addresses on restart)
// and waits until it is ready.
func startServer(t *testing.T, dir string, prev *server, extra ...string) *server {
	t.Helper()
	s := launch(t, dir, prev, extra...)
	s.waitReady()
	return s
}

// launch starts the binary on dir and returns at once.
func launch(t *testing.T, dir string, prev *server, extra ...string) *server {
	t.Helper()
	s := &server{t: t, dir: dir}
	if prev != nil {
		s.httpAddr, s.raftAddr = prev.httpAddr, prev.raftAddr
	} else {
		s.httpAddr, s.raftAddr = freeAddr(t), freeAddr(t)
	}
	s.start(extra...)
	return s
}

// start runs the binary for s's dir and addresses, with extra flags.
func (s *server) start(extra ...string) {
	t := s.t
	t.Helper()
	dir := s.dir
	s.stdout = &syncBuffer{}
	if s.url == "" { // set once: load goroutines read it across restarts
		s.url = "http://" + s.httpAddr
	}
	s.cmd = exec.Command(binary, "serve", "--data-dir", dir, "--http-addr", s.httpAddr, "--peer-addr", s.raftAddr, "--shards", "3")
	s.cmd.Args = append(s.cmd.Args, extra...)
	s.cmd.Stdout = s.stdout
	logf, err := os.OpenFile(filepath.Join(dir+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	logStart, _ := logf.Seek(0, io.SeekEnd)
	s.cmd.Stderr = logf
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	run := &process{cmd: s.cmd, exited: make(chan struct{})}
	s.proc = run
	go func() {
		run.err = run.cmd.Wait()
		close(run.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-run.exited:
			if !run.planned.Load() {
				t.Errorf("the server exited by itself (%v):\n%s", run.err, s.logSince(logStart))
			}
		default:
			run.planned.Store(true)
			run.cmd.Process.Kill()
			<-run.exited
		}
		logf.Close()
		checkServerLog(t, s.logSince(logStart))
	})
}

// process is one run of the server binary. exited closes when it has
// exited; err is its exit status then. planned is set before the test
// stops or kills it: any other exit fails the test.
type process struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	err     error // written before exited closes
	planned atomic.Bool
}

// checkServerLog fails the test on what a server must never print: a data
// race (the servers run under the race detector with CLOUDWALLET_E2E_RACE)
// or a panic.
func checkServerLog(t *testing.T, log string) {
	t.Helper()
	for _, bad := range []string{"WARNING: DATA RACE", "panic:", "fatal error:"} {
		if i := strings.Index(log, bad); i >= 0 {
			t.Errorf("the server log has %q:\n%s", bad, log[i:])
		}
	}
}

// signal sends sig as a planned step of the test.
func (s *server) signal(sig os.Signal) {
	s.t.Helper()
	s.proc.planned.Store(true)
	select {
	case <-s.proc.exited:
		s.t.Fatalf("the server had already exited before %v (%v):\n%s", sig, s.proc.err, s.log())
	default:
	}
	s.proc.cmd.Process.Signal(sig)
}

// waitExit waits for the process to exit after a planned signal and
// returns its exit status.
func (s *server) waitExit(d time.Duration) (error, bool) {
	select {
	case <-s.proc.exited:
		return s.proc.err, true
	case <-time.After(d):
		return nil, false
	}
}

// waitReady polls /readyz until 200, remembering every answer on the way,
// then reads the operator token and the default project's keys.
func (s *server) waitReady() {
	t := s.t
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			s.readiness = append(s.readiness, resp.StatusCode)
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not become ready: %v %v\n%s", err, s.readiness, s.log())
		}
		time.Sleep(5 * time.Millisecond)
	}
	tok, err := os.ReadFile(filepath.Join(s.dir, "operator.token"))
	if err != nil {
		t.Fatal(err)
	}
	// Set once: on a restart the keys are the same, and load goroutines
	// read them meanwhile. A joined node uses the first node's keys.
	if s.operator == "" {
		s.operator = strings.TrimSpace(string(tok))
	}
	if s.accessKey != "" || s.joined {
		return
	}
	var d struct{ ProjectID, AccessKey, SignatureKey string }
	b, err := os.ReadFile(filepath.Join(s.dir, "default-project.json"))
	if err != nil || json.Unmarshal(b, &d) != nil {
		t.Fatalf("default-project.json: %v", err)
	}
	s.projectID, s.accessKey, s.sigKey = d.ProjectID, d.AccessKey, d.SignatureKey
}

func newServer(t *testing.T) *server { return startServer(t, t.TempDir(), nil) }

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop() {
	s.t.Helper()
	s.signal(syscall.SIGTERM)
	err, exited := s.waitExit(30 * time.Second)
	switch {
	case !exited:
		s.t.Fatal("server did not stop after SIGTERM")
	case err != nil:
		s.t.Fatalf("server exited uncleanly after SIGTERM: %v\n%s", err, s.log())
	}
}

// log is what the server wrote to stderr so far (all its runs on this dir).
func (s *server) log() string {
	b, _ := os.ReadFile(s.dir + ".log")
	return string(b)
}

// logSince is the server's log from byte offset off on.
func (s *server) logSince(off int64) string {
	l := s.log()
	if off > int64(len(l)) {
		return ""
	}
	return l[off:]
}

// kill is kill -9, planned: the server must still be running until then.
func (s *server) kill() {
	s.t.Helper()
	s.signal(syscall.SIGKILL)
	<-s.proc.exited
}

// freeAddrOn is a free port on a given loopback IP (127.0.0.0/8 is all
// loopback on Linux, so nodes can have addresses of their own).
// freeAddrOn is a free port on ip, never one handed out before.
func freeAddrOn(t *testing.T, ip string) string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for {
		l, err := net.Listen("tcp", ip+":0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		if !handedOut.addrs[addr] {
			handedOut.addrs[addr] = true
			return addr
		}
	}
}

// resp is a decoded answer.
type resp struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
	list   []any
}

func (r resp) str(k string) string { v, _ := r.body[k].(string); return v }
func (r resp) num(k string) int64  { v, _ := r.body[k].(float64); return int64(v) }

// code is the error code of an error body ("status").
func (r resp) code() string { return r.str("status") }

// syncBuffer collects a child's output; exec copies into it from its own goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitFor waits until the output contains sub.
func (b *syncBuffer) waitFor(sub string, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if strings.Contains(b.String(), sub) {
			return true
		}
	}
	return false
}

var client = &http.Client{Timeout: 30 * time.Second}

// call sends a request; body may be nil, a string (sent as is) or a value (JSON).
func (s *server) call(method, path, token string, body any) resp {
	s.t.Helper()
	r, err := s.callNoFatal(method, path, token, body)
	if err != nil {
		s.t.Fatalf("%s %s: %s", method, clip(path), clip(err.Error()))
	}
	return r
}

// clip shortens s for a failure message (some tests send huge paths).
func clip(s string) string {
	const max = 300
	if len(s) <= max {
		return s
	}
	return s[:max] + fmt.Sprintf("...(%d bytes)", len(s))
}

// callNoFatal is call for goroutines and for servers that may be gone.
func (s *server) callNoFatal(method, path, token string, body any) (resp, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		return resp{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	hr, err := client.Do(req)
	if err != nil {
		return resp{}, err
	}
	defer hr.Body.Close()
	r := resp{status: hr.StatusCode, header: hr.Header}
	if r.raw, err = io.ReadAll(hr.Body); err != nil {
		return r, err
	}
	checkContract(s.t, method, path, hr, r.raw)
	if len(r.raw) > 0 && r.raw[0] == '[' {
		json.Unmarshal(r.raw, &r.list)
	} else {
		json.Unmarshal(r.raw, &r.body)
	}
	return r, nil
}

// expect asserts a status (and for errors, a code).
func (s *server) expect(r resp, status int, code string) resp {
	s.t.Helper()
	if r.status != status || (code != "" && r.code() != code) {
		s.t.Fatalf("got %d %s, want %d %s\nbody: %s", r.status, r.code(), status, code, r.raw)
	}
	return r
}

func (s *server) ak(method, path string, body any) resp {
	s.t.Helper()
	return s.call(method, path, s.accessKey, body)
}

// fixture helpers

func (s *server) asset(code string) string {
	s.t.Helper()
	return s.expect(s.ak("POST", "/assets", map[string]any{"name": code, "code": code, "fractions": 100}), 201, "").str("id")
}

func (s *server) customer(id string) {
	s.t.Helper()
	r := s.ak("POST", "/customers", map[string]any{"id": id})
	if r.status != 201 && r.status != 200 {
		s.t.Fatalf("customer %s: %d %s", id, r.status, r.raw)
	}
}

func (s *server) wallet(customer, asset string) string {
	s.t.Helper()
	return s.expect(s.ak("POST", "/wallets", map[string]any{"customerId": customer, "assetId": asset}), 201, "").str("id")
}

func (s *server) balance(w string) int64 {
	s.t.Helper()
	return s.expect(s.ak("GET", "/wallets/"+w, nil), 200, "").num("balance")
}

func op(typ, src, dst string, amount any) map[string]any {
	m := map[string]any{"type": typ, "amount": amount}
	if src != "" {
		m["sourceWalletId"] = src
	}
	if dst != "" {
		m["destinationWalletId"] = dst
	}
	return m
}

func tx(ref string, ops ...map[string]any) map[string]any {
	return map[string]any{"referenceId": ref, "operations": ops}
}
