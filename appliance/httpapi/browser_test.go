package httpapi

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/wotchain/wotchain/internal/testserver"
)

// chromium finds the browser for the page test: WOTCHAIN_CHROMIUM, Debian's
// /usr/bin/chromium, or chromium on PATH. CI must have it; elsewhere the
// test is skipped.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("WOTCHAIN_CHROMIUM"), "/usr/bin/chromium"} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	testserver.MissingServer(t, "chromium is not installed (apt-get install -y chromium); it runs the status page test")
	return ""
}

// textOf is a page expression: the text of the first element matching a
// CSS selector, or null.
func textOf(selector string) string {
	return `(() => { const e = document.querySelector(` + jsString(selector) + `); return e ? e.textContent : null; })()`
}

func jsString(s string) string {
	b := []byte{'"'}
	for _, c := range []byte(s) {
		if c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, c)
	}
	return string(append(b, '"'))
}

// waitText waits until the element's text is want.
func waitText(selector, want string) chromedp.Action {
	return chromedp.Poll(textOf(selector)+` === `+jsString(want), nil,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second))
}

// newBrowser starts headless Chromium for one test and returns a tab's
// context, cancelled after 90 s; everything is cleaned up with the test.
func newBrowser(t *testing.T, bin string, flags ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	// Chromium's helper processes can still write to the profile for a
	// moment after the browser exits, so it is removed with retries (the
	// cleanup runs after the allocator's, registered below).
	profile, err := os.MkdirTemp("", "wotchain-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		var err error
		for range 50 {
			if err = os.RemoveAll(profile); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("remove the browser profile: %v", err)
	})
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
	}, flags...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	// Cancelling the allocator waits for the browser to exit, before the
	// temporary profile is removed and the server closed.
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelTab)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestStatusPageInChromium(t *testing.T) {
	bin := chromium(t)
	e := newEnv(t, func(o *Options) { o.EventInterval = 200 * time.Millisecond })
	ts := newTestServer(t, e.srv)

	ctx := newBrowser(t, bin)

	var mu sync.Mutex
	var exceptions []string
	chromedp.ListenTarget(ctx, func(ev any) {
		if ex, ok := ev.(*runtime.EventExceptionThrown); ok {
			mu.Lock()
			exceptions = append(exceptions, ex.ExceptionDetails.Error())
			mu.Unlock()
		}
	})

	const temp = `tr[data-device="boiler-1"] [data-point="temperature"] .value`
	var rows []string
	err := chromedp.Run(ctx,
		chromedp.Navigate(ts.URL+"/"),
		waitText(temp, "21.5 degC"),
		waitText("#conn", "live"),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("#devices tbody tr")).map(
			tr => tr.dataset.device + " " + tr.querySelector('[data-col="state"]').textContent)`, &rows),
		waitText(`tr[data-device="boiler-1"] [data-point="pressure"] .value`, "7 bar"),
		waitText(`tr[data-device="press-2"] [data-col="errors"]`, "4 (3 in a row)"),
		waitText("#appliance", appID),
		waitText(`#pipeline [data-field="readings_stored"]`, "23"),
		waitText(`#pipeline [data-field="outbox_depth"]`, "2"),
		waitText(`#pipeline [data-field="blocks_anchored"]`, "4"),
		waitText("#pipeline-error", "Anchoring failed: anchor block 4: signing key revoked"),
		waitText(`#anchored-fields [data-field="height"]`, "3"),
		waitText(`#anchored-fields [data-field="id"]`, e.c.Block(t, 3).BlockID),
	)
	if err != nil {
		t.Fatalf("first snapshot on the page: %v", err)
	}
	if want := []string{"boiler-1 ok", "press-2 failing"}; !slices.Equal(rows, want) {
		t.Fatalf("device rows %q, want %q", rows, want)
	}

	// The next snapshots carry a new value and the drained outbox.
	e.dev.set(twoDevices(22.75))
	e.c.Drain(t)
	err = chromedp.Run(ctx,
		waitText(temp, "22.75 degC"),
		waitText(`#pipeline [data-field="blocks_anchored"]`, "6"),
		waitText(`#pipeline [data-field="outbox_oldest_age"]`, "none pending"),
		waitText(`#anchored-fields [data-field="height"]`, "5"),
	)
	if err != nil {
		t.Fatalf("update on the page: %v", err)
	}

	// A device removed from the configuration leaves the table.
	e.dev.set(twoDevices(22.75)[:1])
	var n int
	err = chromedp.Run(ctx,
		waitText(`tr[data-device="press-2"] [data-col="state"]`, "failing"),
		chromedp.Poll(`document.querySelectorAll("#devices tbody tr").length === 1`, nil, chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.Evaluate(`document.querySelectorAll('tr[data-device="boiler-1"]').length`, &n),
	)
	if err != nil || n != 0 {
		t.Fatalf("removed device: rows of boiler-1 %d, %v", n, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(exceptions) > 0 {
		t.Fatalf("script errors on the page: %q", exceptions)
	}
}
