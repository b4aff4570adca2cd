package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// cli runs the binary and returns its stdout.
func cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(binary, args...).Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		err = fmt.Errorf("%w: %s", err, exit.Stderr)
	}
	return string(out), err
}

func TestCLI(t *testing.T) {
	s := newServer(t)
	srv := []string{"--server", s.url, "--data-dir", s.dir} // token read from DATA_DIR/operator.token

	out, err := cli(t, append([]string{"project", "create"}, append(srv, "shop")...)...)
	var p struct{ ID, Name string }
	if err != nil || json.Unmarshal([]byte(out), &p) != nil || p.Name != "shop" {
		t.Fatalf("project create: %v %s", err, out)
	}
	if out, err = cli(t, append([]string{"project", "list"}, srv...)...); err != nil || !strings.Contains(out, `"shop"`) {
		t.Fatalf("project list: %v %s", err, out)
	}
	out, err = cli(t, append([]string{"keypair", "create", "--project", p.ID, "--name", "k1"}, srv...)...)
	var kp struct{ ID, AccessKey, SignatureKey string }
	if err != nil || json.Unmarshal([]byte(out), &kp) != nil || kp.AccessKey == "" {
		t.Fatalf("keypair create: %v %s", err, out)
	}
	if out, err = cli(t, append([]string{"keypair", "list", "--project", p.ID}, srv...)...); err != nil || !strings.Contains(out, kp.ID) || strings.Contains(out, kp.SignatureKey) {
		t.Fatalf("keypair list: %v %s", err, out)
	}
	s.expect(s.call("POST", "/customers", kp.AccessKey, map[string]any{"id": "zed"}), 201, "")
	ck, err := cli(t, "customer-key", "--access-key", kp.AccessKey, "--signature-key", kp.SignatureKey, "--customer", "zed", "--ttl", "1h")
	if err != nil {
		t.Fatalf("customer-key: %v", err)
	}
	s.expect(s.call("GET", "/customers/zed", strings.TrimSpace(ck), nil), 200, "")
	if _, err = cli(t, append([]string{"keypair", "delete", "--project", p.ID}, append(srv, kp.ID)...)...); err != nil {
		t.Fatalf("keypair delete: %v", err)
	}
	s.expect(s.call("GET", "/project", kp.AccessKey, nil), 401, "API_KEY_PAIR_NOT_FOUND")
	// Errors are reported with a non-zero exit.
	if _, err = cli(t, append([]string{"project", "create", "--token", "wrong"}, append(srv, "x")...)...); err == nil {
		t.Fatal("a wrong operator token did not fail the command")
	}
	if _, err = cli(t, "customer-key", "--access-key", "not-a-jwt", "--signature-key", "s", "--customer", "c"); err == nil {
		t.Fatal("a malformed access key did not fail customer-key")
	}
	if out, err = cli(t, "version"); err != nil || !strings.HasPrefix(out, "cloudwallet ") {
		t.Fatalf("version: %v %s", err, out)
	}
}
