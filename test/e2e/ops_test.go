package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cloudwallet/cloudwallet/api"
)

// scrape reads /metrics into series → value, the series written as
// name{label="value",...} with labels in name order (as Prometheus prints).
func (s *server) scrape() map[string]float64 {
	s.t.Helper()
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		s.t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			s.t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// series names one series: series("m", "code", "201", "route", "/x").
func series(name string, labels ...string) string {
	if len(labels) == 0 {
		return name
	}
	type kv struct{ k, v string }
	var kvs []kv
	for i := 0; i < len(labels); i += 2 {
		kvs = append(kvs, kv{labels[i], labels[i+1]})
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].k < kvs[j].k })
	parts := make([]string, len(kvs))
	for i, p := range kvs {
		parts[i] = p.k + `="` + p.v + `"`
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}

// TestMetricsCountAKnownWorkload runs a workload whose every count is known
// and checks that each metric moved by exactly that much.
func TestMetricsCountAKnownWorkload(t *testing.T) {
	s := newServer(t)
	before := s.scrape()

	a := s.asset("USD")
	var ws []string
	for _, c := range []string{"c0", "c1", "c2"} {
		s.customer(c)
		ws = append(ws, s.wallet(c, a))
	}
	s.expect(s.ak("POST", "/system-wallets", map[string]any{"assetId": a}), 201, "")
	s.expect(s.ak("POST", "/transactions", tx("i0", op("Issue", "", ws[0], 1000))), 201, "")
	for i := 0; i < 5; i++ {
		s.expect(s.ak("POST", "/transactions", tx("t"+strconv.Itoa(i), op("Transfer", ws[0], ws[1], 10))), 201, "")
	}
	s.expect(s.ak("POST", "/transactions", tx("multi", op("Issue", "", ws[2], 5), op("Transfer", ws[2], ws[0], 2), op("Transfer", ws[2], ws[1], 3))), 201, "")
	for i := 0; i < 2; i++ {
		s.expect(s.ak("POST", "/transactions", tx("f"+strconv.Itoa(i), op("Transfer", ws[2], ws[0], 5))), 422, "")
	}
	for i := 0; i < 3; i++ {
		s.expect(s.ak("POST", "/transactions", tx("i0", op("Issue", "", ws[0], 1))), 409, "DuplicateReferenceId")
	}
	s.expect(s.ak("POST", "/transactions", "{not json"), 400, "ILLEGAL_DATA")
	s.expect(s.ak("POST", "/transactions", tx("", op("Issue", "", ws[0], 1))), 400, "VALIDATION_ERROR")
	s.expect(s.call("GET", "/projects/"+s.projectID+"/assets", s.operator, nil), 200, "")
	s.expect(s.ak("GET", "/no/such/route", nil), 404, "NOT_FOUND")

	after := s.scrape()
	delta := func(name string, labels ...string) float64 {
		k := series(name, labels...)
		if _, ok := after[k]; !ok {
			t.Fatalf("metric %s is missing", k)
		}
		return after[k] - before[k]
	}
	const (
		completed, failed, duplicate = 7, 2, 3
		proposedTx                   = completed + failed + duplicate
		operations                   = 1 + 5 + 3 + 2 + 3      // per proposed transaction body
		commands                     = 3 + 3 + 1 + proposedTx // in the data group, group 0
		metaCommands                 = 1 + 1                  // the asset, and its first wallet marking it used
	)
	want := []struct {
		got  float64
		want float64
		what string
	}{
		{delta("cloudwallet_transactions_total", "outcome", "completed"), completed, "completed transactions"},
		{delta("cloudwallet_transactions_total", "outcome", "failed"), failed, "failed transactions"},
		{delta("cloudwallet_transactions_total", "outcome", "duplicate"), duplicate, "duplicate transactions"},
		{delta("cloudwallet_transactions_total", "outcome", "overloaded"), 0, "overloaded transactions"},
		{delta("cloudwallet_transaction_duration_seconds_count"), proposedTx, "transaction latencies observed"},
		{delta("cloudwallet_transaction_operations_count"), proposedTx, "transactions in the operations histogram"},
		{delta("cloudwallet_transaction_operations_sum"), operations, "operations"},
		{delta("cloudwallet_raft_entry_commands_sum", "group", "0"), commands, "commands applied"},
		{delta("cloudwallet_raft_entry_commands_sum", "group", "1"), metaCommands, "commands applied in the meta group"},
		{after[series("cloudwallet_customers")], 3, "customers held"},
		{after[series("cloudwallet_wallets")], 4, "wallets held"},
		{after[series("cloudwallet_transactions")], completed + failed, "transactions held"},
		{delta("cloudwallet_http_request_duration_seconds_count", "route", "/transactions", "method", "POST", "code", "201"), completed, "POST /transactions 201"},
		{delta("cloudwallet_http_request_duration_seconds_count", "route", "/transactions", "method", "POST", "code", "422"), failed, "POST /transactions 422"},
		{delta("cloudwallet_http_request_duration_seconds_count", "route", "/transactions", "method", "POST", "code", "409"), duplicate, "POST /transactions 409"},
		{delta("cloudwallet_http_request_duration_seconds_count", "route", "/transactions", "method", "POST", "code", "400"), 2, "POST /transactions 400"},
		{delta("cloudwallet_http_request_duration_seconds_count", "route", "/wallets", "method", "POST", "code", "201"), 3, "POST /wallets 201"},
		{delta("cloudwallet_http_request_duration_seconds_count", "route", "/projects/{projectId}/assets", "method", "GET", "code", "200"), 1, "operator's prefixed route"},
		{delta("cloudwallet_http_request_duration_seconds_count", "route", "unmatched", "method", "GET", "code", "404"), 1, "unmatched route"},
		{after[series("cloudwallet_raft_leader", "group", "0")], 1, "leader"},
		{after[series("cloudwallet_raft_leader_changes_total", "group", "0")], 1, "leader changes of a fresh node"},
		{after[series("cloudwallet_raft_applied_index", "group", "0")], after[series("cloudwallet_raft_commit_index", "group", "0")], "applied = commit at rest"},
		{after[series("cloudwallet_build_info", "commit", "unknown", "goversion", runtime(after), "version", "dev")], 1, "build info"},
	}
	for _, w := range want {
		if w.got != w.want {
			t.Errorf("%s: moved by %v, want %v", w.what, w.got, w.want)
		}
	}
	if delta("cloudwallet_log_fsync_duration_seconds_count", "group", "0") < 1 || delta("cloudwallet_log_written_bytes_total", "group", "0") <= 0 {
		t.Error("the log store's fsyncs and bytes did not move")
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "cloudwallet_proposal_queue_depth{group=\"0\"}", "cloudwallet_shard_queue_depth{group=\"0\",partition=\"meta\"}"} {
		if _, ok := after[name]; !ok {
			t.Errorf("metric %s is missing", name)
		}
	}
	checkDeployFiles(t, after)
	checkLog(t, s)
	// No id ever becomes a label value.
	for k := range after {
		for _, id := range append([]string{s.projectID, "i0", "multi", "c0"}, ws...) {
			if strings.Contains(k, `"`+id+`"`) || strings.Contains(k, "/"+id) {
				t.Fatalf("series %s carries the id %s", k, id)
			}
		}
	}
}

// runtime finds the goversion label of cloudwallet_build_info.
func runtime(m map[string]float64) string {
	for k := range m {
		if strings.HasPrefix(k, "cloudwallet_build_info{") {
			i := strings.Index(k, `goversion="`) + len(`goversion="`)
			return k[i : i+strings.IndexByte(k[i:], '"')]
		}
	}
	return ""
}

// TestReadinessFlipsDuringStartAndShutdown: while starting, /readyz is 503
// and the API answers 503 UNAVAILABLE; during a shutdown delay /readyz is
// 503 while /livez and the API still answer; then the process exits 0.
func TestReadinessFlipsDuringStartAndShutdown(t *testing.T) {
	first := newServer(t)
	first.stop()

	s := launch(t, first.dir, first, "--shutdown-delay", "1500ms")
	s.accessKey = first.accessKey
	var sawNotReady, saw503API bool
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := s.callNoFatal("GET", "/readyz", "", nil)
		if err == nil && r.status == 200 {
			break
		}
		if err == nil && r.status == 503 {
			sawNotReady = true
			if a, err := s.callNoFatal("GET", "/project", s.accessKey, nil); err == nil && a.status == 503 && a.code() == "UNAVAILABLE" {
				saw503API = true
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready in time:\n%s", s.log())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !sawNotReady || !saw503API {
		t.Fatalf("while starting: /readyz 503 seen %v, API 503 UNAVAILABLE seen %v", sawNotReady, saw503API)
	}
	s.waitReady()
	r := s.expect(s.call("GET", "/readyz?verbose", "", nil), 200, "")
	for _, line := range []string{"[+]log", "[+]leader", "[+]applied", "[+]http"} {
		if !strings.Contains(string(r.raw), line) {
			t.Fatalf("/readyz?verbose lacks %s:\n%s", line, r.raw)
		}
	}

	s.signal(syscall.SIGTERM)
	flipped := time.Now().Add(5 * time.Second)
	for {
		r, err := s.callNoFatal("GET", "/readyz?verbose", "", nil)
		if err == nil && r.status == 503 && strings.Contains(string(r.raw), "[-]http shutting down") {
			break
		}
		if time.Now().After(flipped) {
			t.Fatalf("/readyz did not flip to 503 on SIGTERM: %v %v", r.status, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.expect(s.call("GET", "/livez", "", nil), 200, "")
	s.expect(s.ak("GET", "/project", nil), 200, "") // still served while draining
	if err, exited := s.waitExit(30 * time.Second); !exited || err != nil {
		t.Fatalf("exit after SIGTERM: exited %v, %v\n%s", exited, err, s.log())
	}
}

// TestOpenAPIAndDocsAreServed: the document parses as JSON, names the same
// operations as the embedded source, and /docs is a page that loads it
// from this server only.
func TestOpenAPIAndDocsAreServed(t *testing.T) {
	s := newServer(t)
	r := s.expect(s.call("GET", "/openapi.json", "", nil), 200, "")
	if r.body["openapi"] != "3.1.0" {
		t.Fatalf("openapi.json: %.200s", r.raw)
	}
	// The served document is the embedded one: the same operations, each
	// path with the same methods.
	embedded, err := api.OpenAPIJSON()
	if err != nil {
		t.Fatal(err)
	}
	if string(r.raw) != string(embedded) {
		t.Fatal("/openapi.json is not the embedded document")
	}
	paths, _ := r.body["paths"].(map[string]any)
	var served []string
	for path, item := range paths {
		for method := range item.(map[string]any) {
			if method != "parameters" {
				served = append(served, strings.ToUpper(method)+" "+path)
			}
		}
	}
	sort.Strings(served)
	ops, err := api.Operations()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(served, "\n") != strings.Join(ops, "\n") || len(ops) < 30 {
		t.Fatalf("served operations:\n%s\nembedded operations:\n%s", strings.Join(served, "\n"), strings.Join(ops, "\n"))
	}
	resp, err := http.Get(s.url + "/docs")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/docs: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	html := string(page)
	if !strings.Contains(html, `fetch("openapi.json")`) || strings.Contains(html, "http://") || strings.Contains(html, "https://") {
		t.Fatal("/docs must load openapi.json from this server and nothing from elsewhere")
	}
}

// The Grafana dashboard and the alert rules only use metrics the server
// serves, and the rules file has the shape Prometheus loads.
func checkDeployFiles(t *testing.T, scraped map[string]float64) {
	t.Helper()
	names := map[string]bool{}
	for k := range scraped {
		if i := strings.IndexByte(k, '{'); i >= 0 {
			k = k[:i]
		}
		names[k] = true
	}
	ref := regexp.MustCompile(`\b(?:cloudwallet|go|process)_[a-z0-9_]+`)
	for _, path := range []string{"../../deploy/grafana/cloudwallet.json", "../../deploy/prometheus/alerts.yaml"} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		used := ref.FindAllString(string(b), -1)
		if len(used) < 5 {
			t.Fatalf("%s names only %d metrics", path, len(used))
		}
		for _, m := range used {
			if !names[m] {
				t.Errorf("%s uses %s, which /metrics does not serve", path, m)
			}
		}
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	b, _ := os.ReadFile("../../deploy/grafana/cloudwallet.json")
	if err := json.Unmarshal(b, &dash); err != nil || len(dash.Panels) == 0 {
		t.Fatalf("dashboard: %v", err)
	}
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert, Expr string
				Labels      map[string]string
			}
		}
	}
	b, _ = os.ReadFile("../../deploy/prometheus/alerts.yaml")
	if err := yaml.Unmarshal(b, &rules); err != nil || len(rules.Groups) == 0 {
		t.Fatalf("alerts.yaml: %v", err)
	}
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" {
				t.Errorf("alert rule %+v lacks a name, an expression or a severity", r)
			}
			alerts[r.Alert] = true
		}
	}
	for _, must := range []string{"CloudwalletNoLeader", "CloudwalletFsyncSlow", "CloudwalletFailedTransactionRate"} {
		if !alerts[must] {
			t.Errorf("alerts.yaml lacks %s", must)
		}
	}
}

// checkLog: the log is JSON lines, starts with version, commit and config,
// and never holds a secret.
func checkLog(t *testing.T, s *server) {
	t.Helper()
	log := s.log()
	var start map[string]any
	if err := json.Unmarshal([]byte(log[:strings.IndexByte(log, '\n')]), &start); err != nil {
		t.Fatalf("first log line is not JSON: %v\n%s", err, log)
	}
	for _, k := range []string{"version", "commit", "dataDir", "httpAddr", "peerAddr", "shards", "logStore"} {
		if _, ok := start[k]; !ok || start["msg"] != "starting" {
			t.Errorf("start line lacks %s: %v", k, start)
		}
	}
	for _, secret := range []string{s.operator, s.accessKey, s.sigKey} {
		if secret == "" || strings.Contains(log, secret) {
			t.Fatalf("the log holds a secret (or a secret is empty)")
		}
	}
}

// With --metrics-auth, /metrics needs the operator token.
func TestMetricsAuth(t *testing.T) {
	s := startServer(t, t.TempDir(), nil, "--metrics-auth")
	s.expect(s.call("GET", "/metrics", "", nil), 401, "NO_KEY")
	s.expect(s.call("GET", "/metrics", s.accessKey, nil), 403, "ACCESS_DENIED")
	r, err := s.callNoFatal("GET", "/metrics", s.operator, nil)
	if err != nil || r.status != 200 || !strings.Contains(string(r.raw), "cloudwallet_raft_leader") {
		t.Fatalf("/metrics with the operator token: %v %d", err, r.status)
	}
	s.expect(s.call("GET", "/livez", "", nil), 200, "") // health stays open
}

// A request in flight when SIGTERM arrives is finished and answered before
// the server stops: here its body is still arriving when the signal comes.
func TestSIGTERMFinishesRequestsInFlight(t *testing.T) {
	s := newServer(t)
	a := s.asset("USD")
	s.customer("c")
	w := s.wallet("c", a)
	body, _ := json.Marshal(tx("inflight", op("Issue", "", w, 7)))
	conn, err := net.DialTimeout("tcp", s.httpAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	half := len(body) / 2
	fmt.Fprintf(conn, "POST /transactions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		s.accessKey, len(body), body[:half])
	// The server is reading the body: our connection is active (the scrape
	// that asks is the other one).
	for deadline := time.Now().Add(10 * time.Second); s.scrape()[series("cloudwallet_http_connections", "state", "active")] < 2; {
		if time.Now().After(deadline) {
			t.Fatal("the request never became active")
		}
		time.Sleep(2 * time.Millisecond)
	}
	s.signal(syscall.SIGTERM)
	// The shutdown has begun: the port takes no new connection.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", s.httpAddr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the port still accepts connections 10 s after SIGTERM")
		}
	}
	conn.Write(body[half:])
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	hr, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to the request in flight: %v\n%s", err, s.log())
	}
	answer, _ := io.ReadAll(hr.Body)
	if hr.StatusCode != 201 || !strings.Contains(string(answer), `"Completed"`) {
		t.Fatalf("request in flight: %d %s", hr.StatusCode, answer)
	}
	if err, exited := s.waitExit(30 * time.Second); !exited || err != nil {
		t.Fatalf("exit after SIGTERM: exited %v, %v\n%s", exited, err, s.log())
	}
	s = startServer(t, s.dir, s)
	if s.balance(w) != 7 {
		t.Fatalf("the answered issue is not in the ledger after restart: balance %d", s.balance(w))
	}
}

// The operations endpoints answer what the OpenAPI document promises for
// a node that is not there, for the last node, and for a route only
// Customer Keys may call.
func TestOperatorAnswersForMissingNodeAndCustomerOnlyRoute(t *testing.T) {
	s := newServer(t)
	s.expect(s.call("DELETE", "/cluster/nodes/node-nobody", s.operator, nil), 404, "NOT_FOUND")
	self := s.expect(s.call("GET", "/cluster", s.operator, nil), 200, "").str("node")
	s.expect(s.call("DELETE", "/cluster/nodes/"+self, s.operator, nil), 400, "VALIDATION_ERROR")
	s.expect(s.ak("GET", "/customers?page=0", nil), 200, "") // still serving
	// GET /wallets lists the caller's own wallets: a Customer Key's. The
	// operator token has no customer, as an Access Key has none: 403 both.
	s.expect(s.call("GET", "/projects/"+s.projectID+"/wallets", s.operator, nil), 403, "ACCESS_DENIED")
	s.expect(s.ak("GET", "/wallets", nil), 403, "ACCESS_DENIED")
	// Bearer is case-insensitive (RFC 7235).
	r, err := http.NewRequest("GET", s.url+"/project", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", "bearer "+s.accessKey)
	hr, err := client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	hr.Body.Close()
	if hr.StatusCode != 200 {
		t.Fatalf("lower-case bearer: %d", hr.StatusCode)
	}
}

// The server lifts its open-file limit to the hard limit, sizes its
// connection cap below it, and refuses a client IP's connections past
// --max-conns-per-ip with 429 while serving the others.
func TestConnectionLimits(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Max < 2048 {
		t.Fatalf("this test needs a hard open-file limit of 2048 or more, not %d", lim.Max)
	}
	// The child inherits a low soft limit; the test's own is put back at once.
	low := syscall.Rlimit{Cur: 1500, Max: lim.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	s := launch(t, t.TempDir(), nil, "--max-conns-per-ip", "2")
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	s.waitReady()
	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", s.proc.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("Max open files            %-20d %-20d", lim.Max, lim.Max)
	if !strings.Contains(string(limits), want) {
		t.Fatalf("the open-file limit was not raised to the hard limit %d:\n%s", lim.Max, limits)
	}
	if !strings.Contains(s.log(), fmt.Sprintf(`"connectionsMax":%d`, min(lim.Max-1024, 100_000))) {
		t.Fatalf("the connection cap is not sized from the file limit:\n%s", s.log())
	}

	get := func(conn net.Conn) int {
		fmt.Fprintf(conn, "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		hr, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			return 0
		}
		hr.Body.Close()
		return hr.StatusCode
	}
	var open []net.Conn
	for range 2 {
		conn, err := net.DialTimeout("tcp", s.httpAddr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if st := get(conn); st != 200 {
			t.Fatalf("connection %d: %d", len(open)+1, st)
		}
		open = append(open, conn)
	}
	third, err := net.DialTimeout("tcp", s.httpAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if st := get(third); st != 429 {
		t.Fatalf("a third connection from one IP: %d, want 429", st)
	}
	third.Close()
	open[0].Close()
	// The slot frees once the server sees the close.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		conn, err := net.DialTimeout("tcp", s.httpAddr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		st := get(conn)
		conn.Close()
		if st == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after closing a connection, a new one still gets %d", st)
		}
	}
}
