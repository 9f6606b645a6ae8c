package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color/palette"
	"image/draw"
	"image/png"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/wotchain/wotchain/appliance/httpauth"
	"github.com/wotchain/wotchain/bridge/pipeline/pipelinetest"
	"github.com/wotchain/wotchain/bridge/poll"
	"github.com/wotchain/wotchain/internal/testserver"
	"github.com/wotchain/wotchain/protocols"
)

// newPageEnv is the appliance's page over TLS with authentication: an
// admin and a viewer made through httpauth's API, and boiler-1's last 50 minutes in anchored
// blocks (plus one block sealed but not uploaded yet), with the ledger and
// storage the chain check needs.
func newPageEnv(t *testing.T) (*httptest.Server, *pipelinetest.Chain) {
	t.Helper()
	now := time.Now()
	c := pipelinetest.New(t, pipelinetest.WithMaxReadings(40), pipelinetest.WithDevices("boiler-1"),
		pipelinetest.WithStart(now.Add(-time.Hour)))
	ingest := func(i int) {
		at := now.Add(-50*time.Minute + time.Duration(i)*30*time.Second)
		temp := 60 + 8*math.Sin(float64(i)/9) + float64(i%7)/10
		c.IngestPoll(t, "boiler-1", at,
			protocols.Sample{Point: "temperature", Value: temp, Unit: "degC", Quality: protocols.Good},
			protocols.Sample{Point: "pressure", Value: 6.5 + float64(i%10)/20, Unit: "bar", Quality: protocols.Good})
	}
	for i := range 96 {
		ingest(i)
	}
	c.Seal(t)
	c.Drain(t)
	for i := 96; i < 100; i++ {
		ingest(i)
	}
	c.Seal(t)

	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	hash, err := httpauth.HashPassword("olga-password")
	if err != nil {
		t.Fatal(err)
	}
	viewerHash, err := httpauth.HashPassword("victor-password")
	if err != nil {
		t.Fatal(err)
	}
	if err := httpauth.WriteUsers(users, []httpauth.User{{Name: "olga", Role: httpauth.Admin, PasswordHash: hash},
		{Name: "victor", Role: httpauth.Viewer, PasswordHash: viewerHash}}); err != nil {
		t.Fatal(err)
	}
	us, err := httpauth.OpenUsers(users)
	if err != nil {
		t.Fatal(err)
	}
	// The device's last values are its last poll's.
	dev := &fakeDevices{list: []DeviceStatus{{ID: "boiler-1", Protocol: "modbus", Interval: 30 * time.Second,
		Health: poll.Health{Polls: 100, Readings: 200, LastGood: now}}}}
	for _, r := range c.Readings[len(c.Readings)-2:] {
		unit := map[string]string{"temperature": "degC", "pressure": "bar"}[r.Point]
		dev.list[0].Last = append(dev.list[0].Last, poll.PointValue{Point: r.Point, Value: r.Value, Unit: unit, Quality: protocols.Good, Time: r.At, Seq: r.Seq})
	}
	srv := New(Options{
		ApplianceID: c.ApplianceID, Store: c.Store, Devices: dev, OwnerKey: c.Owner,
		Credentials: c.Ledger, Objects: c.Storage, EventInterval: 500 * time.Millisecond,
		Auth:   httpauth.Config{Users: us},
		Logger: slog.New(slog.DiscardHandler),
	})
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts, c
}

// evalAsync evaluates a promise-valued expression and stores its result.
func evalAsync(expr string, res any) chromedp.Action {
	return chromedp.Evaluate(expr, res, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) })
}

func pollJS(expr string) chromedp.Action {
	return chromedp.Poll(expr, nil, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))
}

// screenshot saves the viewport as docs' PNG name when WOTCHAIN_SCREENSHOTS
// names a directory (make screenshots); otherwise it does nothing.
func screenshot(t *testing.T, name string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		dir := os.Getenv("WOTCHAIN_SCREENSHOTS")
		if dir == "" {
			return nil
		}
		if !filepath.IsAbs(dir) {
			dir = filepath.Join("..", "..", dir) // relative to the repository root
		}
		var shot []byte
		if err := chromedp.CaptureScreenshot(&shot).Do(ctx); err != nil {
			return err
		}
		small, err := smallPNG(shot)
		if err != nil {
			return fmt.Errorf("screenshot %s: %w", name, err)
		}
		t.Logf("screenshot %s: %d bytes", name, len(small))
		return os.WriteFile(filepath.Join(dir, name), small, 0o644)
	})
}

// The page in Chromium: log in, see a chart with data points and zoom it,
// verify a block and see every link ok, download a reading's proof bundle,
// check it on /verify (ok) and with one byte flipped (it fails).
func TestPageInChromium(t *testing.T) {
	bin := chromium(t)
	if _, err := fs.Stat(webFiles, "web/verify/verify.wasm"); err != nil {
		testserver.MissingServer(t, "the offline verifier is not built: run make wasm (make test does)")
	}
	ts, _ := newPageEnv(t)
	ctx := newBrowser(t, bin, chromedp.Flag("ignore-certificate-errors", true), chromedp.WindowSize(1200, 900))
	var mu sync.Mutex
	var exceptions []string
	chromedp.ListenTarget(ctx, func(ev any) {
		if ex, ok := ev.(*runtime.EventExceptionThrown); ok {
			mu.Lock()
			exceptions = append(exceptions, ex.ExceptionDetails.Error())
			mu.Unlock()
		}
	})

	// Log in, then the chart of boiler-1/temperature: 100 readings of
	// the last hour, one point each; 15 minutes hold fewer.
	const chart = `.chart[data-device="boiler-1"][data-point="temperature"]`
	var hourPts, quarterPts int
	err := chromedp.Run(ctx,
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible(`input[name="user"]`),
		chromedp.SendKeys(`input[name="user"]`, "olga"),
		chromedp.SendKeys(`input[name="password"]`, "olga-password"),
		chromedp.Submit(`input[name="password"]`),
		chromedp.WaitVisible(`#trends`), // the page, after the login's redirect
		waitText("#user", "olga"),
		pollJS(`(() => { const s = document.querySelector(`+jsString(chart+" svg")+`); return s && Number(s.dataset.points) > 50; })()`),
		chromedp.Evaluate(`Number(document.querySelector(`+jsString(chart+" svg")+`).dataset.points)`, &hourPts),
		chromedp.Evaluate(`document.querySelectorAll(`+jsString(chart+" svg circle.pt")+`).length`, &quarterPts),
	)
	if err != nil {
		t.Fatalf("log in and see the chart: %v", err)
	}
	if hourPts != 100 || quarterPts != 100 {
		t.Fatalf("chart of the last hour: %d points, %d dots; want 100", hourPts, quarterPts)
	}
	err = chromedp.Run(ctx,
		pollJS(`document.querySelector(`+jsString(chart+" .last")+`).textContent.endsWith(" degC")`),
		waitText(chart+" .quality", "good"),
		chromedp.Click(`.ranges button[data-range="900"]`),
		pollJS(`Number(document.querySelector(`+jsString(chart+" svg")+`).dataset.points) < 40`),
		chromedp.Evaluate(`Number(document.querySelector(`+jsString(chart+" svg")+`).dataset.points)`, &quarterPts),
		chromedp.Click(`.ranges button[data-range="3600"]`),
		pollJS(`Number(document.querySelector(`+jsString(chart+" svg")+`).dataset.points) === 100`),
	)
	if err != nil {
		t.Fatalf("zoom the chart: %v", err)
	}
	if quarterPts < 20 || quarterPts > 40 {
		t.Fatalf("chart of the last 15 minutes: %d points, want about 30", quarterPts)
	}

	// Drag across the half hour before the last quarter to zoom into it;
	// a double-click returns to the live hour.
	var box []float64
	if err := chromedp.Run(ctx, chromedp.Evaluate(`(() => { const r = document.querySelector(`+jsString(chart+" svg")+`).getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()`, &box)); err != nil || len(box) != 4 {
		t.Fatalf("chart box %v: %v", box, err)
	}
	plotX := func(frac float64) float64 { return box[0] + (48+frac*544)/600*box[2] } // the chart's margins in app.js
	y := box[1] + box[3]/2
	var dragged int
	var active []string
	err = chromedp.Run(ctx,
		chromedp.MouseEvent(input.MousePressed, plotX(0.25), y, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.MouseMoved, plotX(0.5), y),
		chromedp.MouseEvent(input.MouseReleased, plotX(0.75), y, chromedp.ButtonLeft),
		pollJS(`Number(document.querySelector(`+jsString(chart+" svg")+`).dataset.points) !== 100`),
		chromedp.Evaluate(`Number(document.querySelector(`+jsString(chart+" svg")+`).dataset.points)`, &dragged),
		chromedp.Evaluate(`Array.from(document.querySelectorAll(".ranges button.active")).map(b => b.textContent)`, &active),
		chromedp.DoubleClick(chart+" svg"),
		pollJS(`Number(document.querySelector(`+jsString(chart+" svg")+`).dataset.points) === 100`),
	)
	if err != nil {
		t.Fatalf("drag to zoom: %v", err)
	}
	if dragged < 50 || dragged > 65 || len(active) != 0 {
		t.Fatalf("dragged across half the hour: %d points (want about 60), range buttons active %q", dragged, active)
	}

	// The blocks: anchored ones and the pending one; the chain check of
	// block 1 passes every link.
	const row = `#block-list tr.block[data-height="1"]`
	const detail = `#block-list tr.detail[data-height="1"]`
	var states []string
	var links []string
	err = chromedp.Run(ctx,
		pollJS(`document.querySelectorAll("#block-list tr.block").length === 6`),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("#block-list tr.block")).map(tr => tr.dataset.height + " " + tr.dataset.state)`, &states),
		chromedp.Click(row+` button.verify`),
		pollJS(`document.querySelector(`+jsString(detail+" .verdict")+`) !== null`),
		chromedp.Evaluate(`Array.from(document.querySelectorAll(`+jsString(detail+" li.check")+`)).map(li => li.dataset.check + " " + (li.classList.contains("ok") ? "ok" : "FAILED"))`, &links),
		chromedp.ScrollIntoView(`#blocks`),
		screenshot(t, "page-blocks.png"),
		chromedp.Evaluate(`window.scrollTo(0, 0)`, nil),
		screenshot(t, "page-trends.png"),
	)
	if err != nil {
		t.Fatalf("blocks and their chain check: %v", err)
	}
	if want := "5 sealed,4 anchored,3 anchored,2 anchored,1 anchored,0 anchored"; strings.Join(states, ",") != want {
		t.Fatalf("block rows %q, want %s", states, want)
	}
	if len(links) < 7 {
		t.Fatalf("chain check of block 1: links %q, want them all", links)
	}
	for _, l := range links {
		if !strings.HasSuffix(l, " ok") {
			t.Fatalf("chain check of block 1: links %q, want every one ok", links)
		}
	}

	// Download a reading's proof bundle through the page's link.
	var bundle string
	err = chromedp.Run(ctx,
		evalAsync(`fetch(document.querySelector(`+jsString(row+" a.download")+`).href).then(r => r.ok ? r.text() : "HTTP " + r.status)`, &bundle),
	)
	if err != nil || !strings.HasPrefix(bundle, "{") {
		t.Fatalf("proof download: %.200s %v", bundle, err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "proof.json")
	bad := filepath.Join(dir, "proof-flipped.json")
	if err := os.WriteFile(good, []byte(bundle), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, flipByte(t, []byte(bundle), "header_signature"), 0o644); err != nil {
		t.Fatal(err)
	}

	// The offline verifier, logged out (it needs no session): ok, then the
	// flipped byte fails the header signature.
	check := func(file string) (string, []string) {
		var verdict string
		var statuses []string
		err := chromedp.Run(ctx,
			chromedp.SetUploadFiles("#bundle", []string{file}),
			chromedp.Click("#run"),
			pollJS(`document.querySelectorAll("#links li").length === 5`),
			chromedp.Text("#verdict", &verdict),
			chromedp.Evaluate(`Array.from(document.querySelectorAll("#links li")).map(li => li.dataset.link + " " + li.dataset.status)`, &statuses),
		)
		if err != nil {
			t.Fatalf("verify %s on /verify: %v", filepath.Base(file), err)
		}
		return verdict, statuses
	}
	err = chromedp.Run(ctx,
		chromedp.Navigate(ts.URL+"/verify"),
		pollJS(`document.querySelector("#wasm-status").dataset.state === "ready"`),
	)
	if err != nil {
		t.Fatalf("open /verify: %v", err)
	}
	verdict, statuses := check(good)
	if verdict != "Proof OK" || strings.Join(statuses, ",") != "reading ok,poll signature ok,merkle proof ok,header signature ok,signing key ok" {
		t.Fatalf("the downloaded bundle on /verify: %q %q", verdict, statuses)
	}
	if err := chromedp.Run(ctx, screenshot(t, "verify-ok.png")); err != nil {
		t.Fatal(err)
	}
	verdict, statuses = check(bad)
	if verdict != "Proof FAILED at header signature" || strings.Join(statuses, ",") != "reading ok,poll signature ok,merkle proof ok,header signature failed,signing key not checked" {
		t.Fatalf("the flipped bundle on /verify: %q %q", verdict, statuses)
	}
	if err := chromedp.Run(ctx, screenshot(t, "verify-failed.png")); err != nil {
		t.Fatal(err)
	}

	// A viewer sees the values, the charts and the blocks' states, but
	// neither the chain check nor proof downloads.
	var adminShown int
	err = chromedp.Run(ctx,
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible("#logout button"),
		chromedp.Click("#logout button"),
		chromedp.WaitVisible(`input[name="user"]`),
		chromedp.SendKeys(`input[name="user"]`, "victor"),
		chromedp.SendKeys(`input[name="password"]`, "victor-password"),
		chromedp.Submit(`input[name="password"]`),
		chromedp.WaitVisible(`#trends`),
		waitText("#user", "victor"),
		pollJS(`document.querySelectorAll("#block-list tr.block").length === 6 && document.body.classList.contains("viewer")`),
		pollJS(`Number(document.querySelector(`+jsString(chart+" svg")+`).dataset.points) === 100`),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("#blocks .admin, button.verify, a.download")).filter(e => e.offsetParent !== null).length`, &adminShown),
	)
	if err != nil || adminShown != 0 {
		t.Fatalf("the page of a viewer: %d admin controls shown, %v", adminShown, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(exceptions) > 0 {
		t.Fatalf("script errors on the pages: %q", exceptions)
	}
}

// Without its WebAssembly (a binary built without make wasm), /verify says
// how to build it.
func TestVerifyPageWithoutWasmInChromium(t *testing.T) {
	bin := chromium(t)
	srv := New(Options{Logger: slog.New(slog.DiscardHandler)})
	notBuilt := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".wasm") || strings.HasSuffix(r.URL.Path, "wasm_exec.js") {
			http.NotFound(w, r)
			return
		}
		srv.Handler().ServeHTTP(w, r)
	})
	ts := httptest.NewServer(notBuilt)
	t.Cleanup(ts.Close)
	ctx := newBrowser(t, bin)
	var msg string
	err := chromedp.Run(ctx,
		chromedp.Navigate(ts.URL+"/verify/"),
		pollJS(`document.querySelector("#wasm-status").dataset.state === "missing"`),
		chromedp.Text("#wasm-missing", &msg),
	)
	if err != nil || !strings.Contains(msg, "make build") || !strings.Contains(msg, "GOOS=js GOARCH=wasm") {
		t.Fatalf("/verify without its WebAssembly says %q, %v", msg, err)
	}
}

// flipByte flips the last byte of the base64 field of a bundle's JSON.
func flipByte(t *testing.T, bundle []byte, field string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(bundle, &m); err != nil {
		t.Fatal(err)
	}
	s, _ := m[field].(string)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		t.Fatalf("bundle field %s: %q %v", field, s, err)
	}
	b[len(b)-1] ^= 0x01
	m[field] = base64.StdEncoding.EncodeToString(b)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// smallPNG re-encodes a screenshot with the 216 web-safe colours and the
// best compression, so the committed screenshots stay a few tens of KB.
func smallPNG(shot []byte) ([]byte, error) {
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		return nil, err
	}
	pal := image.NewPaletted(img.Bounds(), palette.WebSafe)
	draw.Draw(pal, pal.Rect, img, img.Bounds().Min, draw.Src)
	var out bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&out, pal); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
