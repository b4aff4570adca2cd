package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	cw "github.com/cloudwallet/cloudwallet/client"
)

// The operator console (GET /console) in a real browser: Chromium, driven
// with chromedp, against a real server. Each main view is saved as a
// screenshot under the test's artifact directory (go test -artifacts).

// browser starts a headless Chromium, or skips the test with the one line
// that says how to get one.
func browser(t *testing.T, width, height int) context.Context {
	t.Helper()
	var exe string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			exe = p
			break
		}
	}
	if exe == "" {
		t.Skip("browser tests need Chromium: apt-get install chromium (make test installs it when run as root)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(width, height))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTime(); cancel(); cancelAlloc() })
	// confirm() dialogs (deletes) are accepted, as an operator would.
	chromedp.ListenTarget(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			go chromedp.Run(ctx, page.HandleJavaScriptDialog(true))
		}
	})
	return ctx
}

// shot saves a screenshot of the page as name.png.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	var png []byte
	if err := chromedp.Run(ctx, chromedp.CaptureScreenshot(&png)); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// submit submits a form as a person does, by its button (a script's
// form.submit() would skip the app's handler).
func submit(form string) chromedp.Action {
	return chromedp.Click(form+` button[type="submit"]`, chromedp.ByQuery)
}

func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// textOf reads an element's text.
func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	var s string
	run(t, ctx, "read "+sel, chromedp.WaitVisible(sel, chromedp.ByQuery), chromedp.Text(sel, &s, chromedp.ByQuery))
	return s
}

// An operator signs in, makes a project and a key pair (its secrets shown
// once), finds what the API made (a wallet's entries with the balance
// after each, a transaction by its referenceId, a Failed one's code and
// operation), suspends and deletes customers from the console and sees
// the API act on it, sees an error with its code, watches the cluster, and
// signs out, the token gone from the tab.
func TestConsoleInARealBrowser(t *testing.T) {
	s := newServer(t)
	ctx := browser(t, 1280, 800)
	base := s.url + "/console"

	run(t, ctx, "open the console", chromedp.Navigate(base), chromedp.WaitVisible("#token", chromedp.ByID))
	shot(t, ctx, "signin")
	run(t, ctx, "a wrong token", chromedp.SendKeys("#token", "not-the-token", chromedp.ByID), submit("#signin"))
	if got := textOf(t, ctx, "#error .error-code"); got == "" {
		t.Fatal("a wrong token shows no error code")
	}
	run(t, ctx, "sign in",
		chromedp.Evaluate(`document.getElementById("token").value = ""`, nil),
		chromedp.SendKeys("#token", s.operator+kb.Enter, chromedp.ByID), // the keyboard alone signs in
		chromedp.WaitVisible("#create-project", chromedp.ByID))
	shot(t, ctx, "projects")

	run(t, ctx, "create a project",
		chromedp.SendKeys("#new-project-name", "console-shop", chromedp.ByID), submit("#create-project"),
		chromedp.WaitVisible("#create-key", chromedp.ByID))
	var hash string
	run(t, ctx, "read the project's address", chromedp.Evaluate(`location.hash`, &hash))
	projectID := strings.TrimPrefix(hash, "#/projects/")
	run(t, ctx, "create a key pair",
		chromedp.SendKeys("#new-key-name", "backend", chromedp.ByID), submit("#create-key"))
	accessKey, sigKey := textOf(t, ctx, "#new-access-key"), textOf(t, ctx, "#new-signature-key")
	if accessKey == "" || sigKey == "" {
		t.Fatal("the new key pair's secrets are not shown")
	}
	shot(t, ctx, "project")
	var shownAgain bool
	run(t, ctx, "reload the project", chromedp.Reload(), chromedp.WaitVisible("#key-pairs", chromedp.ByID),
		chromedp.Evaluate(`document.getElementById("new-access-key") !== null`, &shownAgain))
	if shownAgain {
		t.Fatal("the secrets are shown again after a reload")
	}

	// The backend works with the key the console showed.
	ak := func(method, path string, body any) resp { return s.call(method, path, accessKey, body) }
	asset := s.expect(ak("POST", "/assets", map[string]any{"name": "Dollar", "code": "USD", "fractions": 100}), 201, "").str("id")
	var wallets []string
	for _, c := range []string{"alice", "bob", "carol"} {
		s.expect(ak("POST", "/customers", map[string]any{"id": c}), 201, "")
		wallets = append(wallets, s.expect(ak("POST", "/wallets", map[string]any{"customerId": c, "assetId": asset}), 201, "").str("id"))
	}
	s.expect(ak("POST", "/transactions", tx("console-fund", op("Issue", "", wallets[0], 1000))), 201, "")
	s.expect(ak("POST", "/transactions", tx("console-pay", op("Transfer", wallets[0], wallets[1], 250))), 201, "")
	failed := s.expect(ak("POST", "/transactions", tx("console-broke", op("Issue", "", wallets[1], 1), op("Transfer", wallets[1], wallets[0], 9999))), 422, "")

	run(t, ctx, "a wallet's entries", chromedp.Navigate(base+"#/projects/"+projectID+"/wallets/"+wallets[0]), chromedp.WaitVisible("#entries", chromedp.ByID))
	if got := textOf(t, ctx, "#wallet-balance"); got != "750" {
		t.Fatalf("the wallet's balance shows %q, want 750", got)
	}
	entries := textOf(t, ctx, "#entries")
	if !strings.Contains(entries, "1000") || !strings.Contains(entries, "750") || !strings.Contains(entries, "250") {
		t.Fatalf("the entries do not show amounts and balances after each:\n%s", entries)
	}
	shot(t, ctx, "wallet")

	find := func(key string) {
		run(t, ctx, "find "+key, chromedp.Navigate(base+"#/projects/"+projectID), chromedp.WaitVisible("#tx-lookup", chromedp.ByID),
			chromedp.SendKeys("#tx-lookup", key, chromedp.ByID), submit("#find-transaction"))
	}
	find("console-pay")
	if got := textOf(t, ctx, "#tx-reference"); got != "console-pay" {
		t.Fatalf("found by referenceId: %q", got)
	}
	find(failed.str("id"))
	if got := textOf(t, ctx, "#tx-failure"); !strings.Contains(got, "INSUFFICIENT_FUNDS") || !strings.Contains(got, "operation 1") {
		t.Fatalf("a Failed transaction shows %q", got)
	}
	shot(t, ctx, "transaction")

	// An error is shown with its code.
	find("no-such-transaction")
	if got := textOf(t, ctx, "#error .error-code"); got != "TRANSACTION_NOT_FOUND" {
		t.Fatalf("a 404 shows code %q", got)
	}
	shot(t, ctx, "error")

	// A hold: listed under the Held filter, shown with its terms, captured
	// with its button; the API then shows the money moved.
	hold := tx("console-hold", op("Transfer", wallets[0], wallets[1], 100))
	hold["hold"] = map[string]any{}
	holdID := s.expect(ak("POST", "/transactions", hold), 201, "").str("id")
	run(t, ctx, "the open holds", chromedp.Navigate(base+"#/projects/"+projectID+"/transactions"),
		chromedp.WaitVisible("#tx-status-filter", chromedp.ByID), chromedp.SetValue("#tx-status-filter", "Held", chromedp.ByID),
		submit("#tx-filter"), chromedp.WaitVisible(`//a[text()="`+holdID+`"]`, chromedp.BySearch))
	find(holdID)
	if got := textOf(t, ctx, "#tx-hold"); !strings.Contains(got, "never expires") || textOf(t, ctx, "#tx-status") != "Held" {
		t.Fatalf("a hold shows %q", got)
	}
	shot(t, ctx, "hold")
	run(t, ctx, "capture", chromedp.Click("#tx-capture", chromedp.ByID),
		chromedp.WaitVisible(`//strong[@id="tx-status"][text()="Completed"]`, chromedp.BySearch))
	if b := s.expect(ak("GET", "/wallets/"+wallets[1], nil), 200, ""); b.num("balance") != 350 || b.num("availableBalance") != 350 {
		t.Fatalf("after the capture in the console: %s", b.raw)
	}

	// Suspending alice makes the API refuse her Customer Key, and spending
	// from her (suspended) wallets; resuming her lets the key in again.
	// Deleting carol (her wallet closed) refuses hers for good.
	run(t, ctx, "suspend alice", chromedp.Navigate(base+"#/projects/"+projectID+"/customers/alice"),
		chromedp.WaitVisible("#customer-status", chromedp.ByID), chromedp.Click(`//button[text()="Suspend"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//strong[@id="customer-status"][text()="Suspended"]`, chromedp.BySearch))
	shot(t, ctx, "customer")
	aliceKey, err := cw.MintCustomerKey(accessKey, sigKey, "alice", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s.expect(s.call("GET", "/wallets", aliceKey, nil), 403, "ACCESS_DENIED")
	if got := s.expect(ak("POST", "/transactions", tx("after-suspend", op("Transfer", wallets[0], wallets[1], 1))), 422, ""); !strings.Contains(string(got.raw), "WRONG_WALLET_STATUS") {
		t.Fatalf("a transfer from a suspended customer's wallet: %s", got.raw)
	}
	run(t, ctx, "resume alice", chromedp.Click(`//button[text()="Resume"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//strong[@id="customer-status"][text()="Active"]`, chromedp.BySearch))
	s.expect(s.call("GET", "/wallets", aliceKey, nil), 200, "")
	ck, err := cw.MintCustomerKey(accessKey, sigKey, "carol", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s.expect(s.call("GET", "/wallets", ck, nil), 200, "")
	s.expect(ak("PUT", "/wallets/"+wallets[2]+"/status", map[string]string{"status": "Closed"}), 200, "")
	run(t, ctx, "delete carol", chromedp.Navigate(base+"#/projects/"+projectID+"/customers/carol"),
		chromedp.WaitVisible("#customer-status", chromedp.ByID), chromedp.Click(`//button[text()="Delete"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//strong[@id="customer-status"][text()="Deleted"]`, chromedp.BySearch))
	s.expect(s.call("GET", "/wallets", ck, nil), 403, "ACCESS_DENIED")

	run(t, ctx, "the cluster", chromedp.Navigate(base+"#/cluster"), chromedp.WaitVisible("#chart", chromedp.ByID))
	if got := textOf(t, ctx, "#readiness"); got != "ready" {
		t.Fatalf("readiness shows %q", got)
	}
	var groups int
	var roles string
	run(t, ctx, "the groups", chromedp.Evaluate(`document.querySelectorAll("table.group").length`, &groups),
		chromedp.Text("table.group", &roles, chromedp.ByQuery))
	if groups != 2 || !strings.Contains(roles, "Leader") { // the data group and the meta group
		t.Fatalf("%d group tables (want 2), the first reads %q", groups, roles)
	}
	time.Sleep(2500 * time.Millisecond) // a second sample for the chart
	shot(t, ctx, "cluster")

	// At phone width the page does not scroll sideways (tables do, inside).
	var overflow bool
	run(t, ctx, "phone width", chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+"#/projects/"+projectID),
		chromedp.WaitVisible("#key-pairs", chromedp.ByID),
		chromedp.Evaluate(`document.documentElement.scrollWidth > window.innerWidth + 1`, &overflow))
	shot(t, ctx, "phone")
	if overflow {
		t.Fatal("the project page scrolls sideways at phone width")
	}

	var token string
	run(t, ctx, "sign out", chromedp.Click("#signout", chromedp.ByID), chromedp.WaitVisible("#token", chromedp.ByID),
		chromedp.Evaluate(`String(sessionStorage.getItem("cloudwallet.operatorToken"))`, &token))
	if token != "null" {
		t.Fatalf("the token is still in sessionStorage after sign-out: %q", token)
	}
	var cookies string
	run(t, ctx, "cookies", chromedp.Evaluate(`document.cookie`, &cookies))
	if strings.Contains(cookies, s.operator) {
		t.Fatal("the token is in a cookie")
	}
}
