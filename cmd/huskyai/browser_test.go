package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/defaultmodel"
	"github.com/huskyai/huskyai/explain"
	"github.com/huskyai/huskyai/internal/testtool"
)

// chromiumPath returns Debian's Chromium (apt-get install chromium), or
// calls testtool.Missing. HUSKYAI_CHROMIUM names another binary.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("HUSKYAI_CHROMIUM"), "/usr/bin/chromium"} {
		if p == "" {
			continue
		}
		if full, err := exec.LookPath(p); err == nil {
			return full
		}
	}
	testtool.Missing(t, "chromium (apt-get install chromium), or HUSKYAI_CHROMIUM")
	return ""
}

// spkiPin returns the base64 SHA-256 of the public key of the certificate
// that s serves, as Chromium's --ignore-certificate-errors-spki-list wants
// it. The connection is pinned to the fingerprint serve printed.
func spkiPin(t *testing.T, s *served) string {
	t.Helper()
	addr := strings.TrimSuffix(strings.TrimPrefix(s.url, "https://"), "/")
	conn, err := tls.Dial("tcp", addr, pinnedTLS(s.fingerprint))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sum := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// browserPortraitPNG is a portrait photo-sized PNG (a smooth gradient):
// the shape that, shown above the verdict, pushed it out of view.
func browserPortraitPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			fy, fx := float64(y)/float64(h), float64(x)/float64(w)
			img.Set(x, y, color.RGBA{uint8(90 + 140*fy), uint8(120 + 100*fy*fx), uint8(200 - 60*fy), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// browserJPEG is a small JPEG, as a phone's camera gives.
func browserJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(200 - x), uint8(60 + y), uint8(x + y), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// apiAnswer is what POST /api/v1/predict answers for an image: the page
// must show the same.
type apiAnswer struct {
	text, score string
	prob        float64
}

func predictViaAPI(t *testing.T, s *served, img []byte) apiAnswer {
	t.Helper()
	body, ct := multipartFile(t, img)
	status, _, m := s.do(t, "POST", "/api/v1/predict", ct, body.Bytes())
	var a apiAnswer
	a.text, _ = m["text"].(string)
	a.score, _ = m["score"].(string)
	a.prob, _ = m["probability"].(float64)
	if status != 200 || a.text == "" || a.score == "" {
		t.Fatalf("POST /api/v1/predict: %d %v", status, m)
	}
	if w, _ := m["warning"].(string); w != "" {
		t.Errorf("POST /api/v1/predict with the default model warns %q", w)
	}
	return a
}

// rect is an element's getBoundingClientRect, with the viewport's size
// and scroll position.
type rect struct {
	Top, Bottom, Left, Right float64
}

type layout struct {
	Preview, Result, Score, Error rect
	ViewW, ViewH, ScrollY         float64
	ScrollW, ClientW              float64
}

const layoutJS = `JSON.stringify((() => {
	const r = (id) => { const b = document.getElementById(id).getBoundingClientRect(); return {Top: b.top, Bottom: b.bottom, Left: b.left, Right: b.right}; };
	return {Preview: r("preview"), Result: r("result"), Score: r("score"), Error: r("error"),
		ViewW: innerWidth, ViewH: innerHeight, ScrollY: scrollY,
		ScrollW: document.documentElement.scrollWidth, ClientW: document.documentElement.clientWidth};
})())`

// inView reports whether r is all inside the viewport (half a pixel of
// rounding allowed).
func (l layout) inView(r rect) bool {
	return r.Top >= -0.5 && r.Bottom <= l.ViewH+0.5 && r.Left >= -0.5 && r.Right <= l.ViewW+0.5
}

// TestBrowser drives the upload page in headless Chromium against the real
// service with the embedded model, on a desktop (1280x900) and on phones
// (375x812 and 375x667, touch; on the smaller one the verdict is below the
// fold and the page must scroll to it). At each size it uploads a
// portrait photo through the file input and checks that the verdict is in
// view with its whole score (beside the photo on the desktop, below it on
// a phone) and the same as the API's answer; picks the same file again,
// which must upload it again; pastes an image; on a phone takes one with
// the camera input; and uploads a text file named .png, whose error must
// be said once. It saves the pages with a verdict as docs/page-375.png,
// docs/page-1280.png and docs/page.png (the desktop one, in the README);
// with -artifacts, every size's page with a verdict and with the error.
//
// The service runs over HTTPS with its self-signed certificate, as it does
// by default; Chromium trusts exactly that certificate's key
// (--ignore-certificate-errors-spki-list), not any certificate.
func TestBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	start := time.Now()
	s := startServe(t, nil)
	pin := spkiPin(t, s)
	dir := t.TempDir()

	// The images, and the API's answers for them.
	portrait := browserPortraitPNG(t, 480, 720)
	pasted := testPNG(t, 96, 64)
	photo := browserJPEG(t, 120, 160)
	notes := []byte("these are notes, not a photo\n")
	files := map[string][]byte{"portrait.png": portrait, "camera.jpg": photo, "notes.png": notes}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]apiAnswer{
		"portrait.png": predictViaAPI(t, s, portrait),
		"pasted.png":   predictViaAPI(t, s, pasted),
		"camera.jpg":   predictViaAPI(t, s, photo),
	}
	body, ct := multipartFile(t, notes)
	status, _, refused := s.do(t, "POST", "/api/v1/predict", ct, body.Bytes())
	apiErr, _ := refused["error"].(map[string]any)
	apiMsg, _ := apiErr["message"].(string)
	if status != 415 || apiMsg == "" {
		t.Fatalf("POST /api/v1/predict of a text file: %d %v", status, refused)
	}
	// The page says the API's message once, as a sentence.
	wantErr := strings.ToUpper(apiMsg[:1]) + apiMsg[1:] + "."

	// The model the page names, and no placeholder warning for it.
	_, _, model := s.do(t, "GET", "/api/v1/model", "", nil)
	if w, _ := model["warning"].(string); w != "" {
		t.Errorf("/api/v1/model warns about the default model: %q", w)
	}

	// One deadline for the browser and everything it does.
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	browserOut := &lockedBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.NoSandbox, // root in CI containers
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("ignore-certificate-errors-spki-list", pin),
		// Scrolls and the gauge jump to where they end: the checks and
		// the screenshots see the final page, not a frame of an animation.
		chromedp.Flag("force-prefers-reduced-motion", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(browserOut),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	cdpLog := &lockedBuffer{}
	logf := func(format string, args ...any) { fmt.Fprintf(cdpLog, format+"\n", args...) }
	bctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(logf), chromedp.WithErrorf(logf))
	defer cancelBrowser()
	defer func() {
		if t.Failed() {
			var out []string
			for line := range strings.Lines(browserOut.String()) {
				if !strings.Contains(line, "dbus") { // no D-Bus in containers
					out = append(out, line)
				}
			}
			t.Logf("chromium output:\n%s\nchromedp log:\n%s", strings.Join(out, ""), cdpLog)
		}
	}()

	// Record the console: an exception or a CSP violation fails the test.
	// Console starts the browser, and must do so before anything else
	// runs on bctx (two first uses at once would start two browsers).
	messages := chromedp.Console(bctx)
	console := &lockedBuffer{}
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			// The 415 of the error case below is logged by the network
			// source; the rest must stay empty.
			if m.IsException() || m.Type == chromedp.ConsoleError && m.Source != "network" {
				fmt.Fprintf(console, "%s (source %q, %s:%d)\n", m, m.Source, m.URL, m.Line)
			}
		}
	}()

	text := func(t *testing.T, id string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID(id), chromedp.NodeReady))
		if err != nil {
			t.Fatalf("text of #%s: %v", id, err)
		}
		return strings.TrimSpace(s)
	}
	eval := func(t *testing.T, expr string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	poll := func(t *testing.T, what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			t.Fatalf("%s (waiting for %s): %v", what, expr, err)
		}
	}
	getLayout := func(t *testing.T) layout {
		t.Helper()
		var l layout
		if err := json.Unmarshal([]byte(eval(t, layoutJS)), &l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	screenshot := func(t *testing.T, paths ...string) {
		t.Helper()
		png, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		for _, p := range paths {
			if err := os.WriteFile(p, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("screenshot: %s", p)
		}
	}
	// stale marks the shown verdict, so that a new one can be told apart
	// from it even when its words are the same.
	stale := func(t *testing.T) {
		t.Helper()
		eval(t, `document.querySelector("#verdict").textContent = "stale"; document.querySelector("#score").textContent = "stale"; scrollTo(0, 0); "ok"`)
	}
	// checkVerdict waits for a new verdict and compares it with the API's
	// answer for the same image, then checks that it is in view.
	checkVerdict := func(t *testing.T, how string, w apiAnswer) layout {
		t.Helper()
		poll(t, how, `!document.querySelector("#result").hidden && document.querySelector("#verdict").textContent !== "stale"`)
		verdict, score := text(t, "verdict"), text(t, "score")
		if verdict != w.text {
			t.Errorf("%s: verdict on the page %q; the API says %q", how, verdict, w.text)
		}
		if !strings.HasPrefix(score, "Husky score: "+w.score+"%") || strings.Contains(score, "placeholder") {
			t.Errorf("%s: score on the page %q; the API says %s%%, and the default model is no placeholder", how, score, w.score)
		}
		width, err := strconv.ParseFloat(strings.TrimSuffix(eval(t, `document.querySelector("#gauge-bar").style.width`), "%"), 64)
		if err != nil || math.Abs(width-100*w.prob) > 1e-3 {
			t.Errorf("%s: gauge width %v%% (%v); probability %v", how, width, err, w.prob)
		}
		if got := eval(t, `[document.querySelector("#error").hidden, document.querySelector("#progress-box").hidden, document.querySelector("#preview-box").hidden].join()`); got != "true,true,false" {
			t.Errorf("%s: error, progress, preview hidden: %s; want true,true,false", how, got)
		}
		l := getLayout(t)
		if !l.inView(l.Result) || !l.inView(l.Score) {
			t.Errorf("%s: the verdict is not all in view: verdict box %+v, score %+v, viewport %vx%v scrolled to %v", how, l.Result, l.Score, l.ViewW, l.ViewH, l.ScrollY)
		}
		if l.ScrollW != l.ClientW {
			t.Errorf("%s: the page is %v px wide in a viewport of %v", how, l.ScrollW, l.ClientW)
		}
		return l
	}
	upload := func(t *testing.T, input, name string) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.SetUploadFiles(chromedp.ID(input), []string{filepath.Join(dir, name)}, chromedp.NodeReady)); err != nil {
			t.Fatalf("choosing %s in #%s: %v", name, input, err)
		}
	}

	for _, size := range []struct {
		width, height int64
		phone         bool
		// scrolls: the verdict is below the fold, and the page must
		// scroll to it.
		scrolls bool
		docs    []string // where the screenshot with a verdict goes
	}{
		{width: 1280, height: 900, docs: []string{"page-1280.png", "page.png"}},
		{width: 375, height: 812, phone: true, docs: []string{"page-375.png"}},
		// A smaller phone, or the 812 one less its browser's bars.
		{width: 375, height: 667, phone: true, scrolls: true},
	} {
		t.Run(fmt.Sprintf("%dx%d", size.width, size.height), func(t *testing.T) {
			viewport := chromedp.EmulateViewport(size.width, size.height)
			if size.phone {
				viewport = chromedp.EmulateViewport(size.width, size.height, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateScale(2), chromedp.EmulatePortrait)
			}
			if err := chromedp.Do(bctx, viewport, chromedp.Navigate(s.url)); err != nil {
				t.Fatalf("loading %s: %v", s.url, err)
			}
			if got := eval(t, `String(matchMedia("(prefers-reduced-motion: reduce)").matches)`); got != "true" {
				t.Errorf("prefers-reduced-motion not forced (%s): screenshots may catch an animation", got)
			}

			// The model information, loaded from /api/v1/model: the
			// model's name, and no placeholder warning.
			poll(t, "model information", `document.querySelector("#model").textContent !== ""`)
			if got := text(t, "model"); !strings.Contains(got, "Model: "+defaultmodel.Name+" (sha256 ") {
				t.Errorf("model footer %q, want the name %s", got, defaultmodel.Name)
			}
			if got := eval(t, `String(document.querySelector("#warning").hidden) + " " + JSON.stringify(document.querySelector("#warning").textContent)`); got != `true ""` {
				t.Errorf("placeholder warning hidden and its text: %s; want none for the default model", got)
			}
			// Accessibility: the warning is an alert, the file inputs have
			// their labels, and the verdict appears inside a live region
			// that is always there.
			if got := eval(t, `[document.querySelector("#warning").getAttribute("role"), document.querySelector("#file").labels.length, document.querySelector("#camera").labels.length, document.querySelector("#result").parentElement.getAttribute("aria-live")].join()`); got != "alert,1,1,polite" {
				t.Errorf("warning role, labels of the file and camera inputs, live region: %s; want alert,1,1,polite", got)
			}

			// The camera: a second input with capture, offered where the
			// pointer is a finger; the file input never has capture (it
			// would replace the file picker by the camera). Pasting is
			// offered where there is a keyboard.
			got := eval(t, `(() => {
				const cam = document.querySelector("#camera"), file = document.querySelector("#file");
				const shown = (id) => getComputedStyle(document.getElementById(id)).display !== "none";
				return [shown("camera-button"), cam.getAttribute("capture"), cam.accept, file.hasAttribute("capture"), file.accept, shown("paste-hint")].join(" ");
			})()`)
			wantCam := "false environment image/jpeg,image/png,image/gif false image/png,image/jpeg,image/gif true"
			if size.phone {
				wantCam = "true environment image/jpeg,image/png,image/gif false image/png,image/jpeg,image/gif false"
			}
			if got != wantCam {
				t.Errorf("camera button shown, its capture and accept, file input's capture and accept, paste hint shown: %q, want %q", got, wantCam)
			}

			// Keyboard: the first Tab focuses the file input, and its drop
			// zone shows the focus.
			if err := chromedp.Do(bctx, chromedp.KeyEvent("\t")); err != nil {
				t.Fatal(err)
			}
			if got := eval(t, `document.activeElement.id + " " + getComputedStyle(document.querySelector("#drop")).outlineStyle`); got != "file solid" {
				t.Errorf("after Tab: focus and drop-zone outline %q, want %q", got, "file solid")
			}

			// A portrait photo through the file input: the verdict and its
			// whole score in view.
			upload(t, "file", "portrait.png")
			l := checkVerdict(t, "portrait photo", want["portrait.png"])
			if size.phone {
				if l.Result.Top < l.Preview.Bottom {
					t.Errorf("phone: the verdict (top %v) is not below the photo (bottom %v)", l.Result.Top, l.Preview.Bottom)
				}
			} else {
				// Side by side, and the photo in view too.
				if l.Preview.Right > l.Result.Left || l.Result.Top >= l.Preview.Bottom || l.Preview.Top >= l.Result.Bottom {
					t.Errorf("desktop: photo %+v and verdict %+v are not side by side", l.Preview, l.Result)
				}
				if !l.inView(l.Preview) {
					t.Errorf("desktop: the photo %+v is not all in the %vx%v viewport", l.Preview, l.ViewW, l.ViewH)
				}
			}
			if size.scrolls && l.ScrollY <= 0 {
				t.Errorf("the verdict was below the fold, and the page did not scroll to it (scrollY %v)", l.ScrollY)
			}
			t.Logf("portrait photo: photo %+v, verdict %+v, scrolled to %v", l.Preview, l.Result, l.ScrollY)
			// The screenshot as a person sees the page after choosing a
			// photo with the mouse or a finger: no keyboard focus ring.
			eval(t, `document.activeElement.blur(); "ok"`)
			shots := []string{filepath.Join(t.ArtifactDir(), "page.png")}
			for _, name := range size.docs {
				shots = append(shots, filepath.Join("..", "..", "docs", name))
			}
			screenshot(t, shots...)

			// The same file again: the input was emptied after the first
			// pick, so choosing it again is a change and uploads it again.
			if got := eval(t, `document.querySelector("#file").value + "|" + document.querySelector("#file").files.length`); got != "|0" {
				t.Errorf("file input after an upload: value|files %q, want it empty", got)
			}
			stale(t)
			upload(t, "file", "portrait.png")
			checkVerdict(t, "the same photo again", want["portrait.png"])

			// Paste an image: a paste event on the page with an image file
			// on its clipboard, as the browser sends for Ctrl+V.
			stale(t)
			handled := eval(t, `(() => {
				const bytes = Uint8Array.from(atob("`+base64.StdEncoding.EncodeToString(pasted)+`"), (c) => c.charCodeAt(0));
				const dt = new DataTransfer();
				dt.items.add(new File([bytes], "image.png", {type: "image/png"}));
				const e = new ClipboardEvent("paste", {clipboardData: dt, bubbles: true, cancelable: true});
				document.body.dispatchEvent(e);
				return String(e.defaultPrevented);
			})()`)
			if handled != "true" {
				t.Errorf("the page did not take the pasted image (defaultPrevented %s)", handled)
			}
			checkVerdict(t, "pasted image", want["pasted.png"])

			// The camera, on the phone: what it gives goes the same way.
			if size.phone {
				stale(t)
				upload(t, "camera", "camera.jpg")
				checkVerdict(t, "camera photo", want["camera.jpg"])
				if got := eval(t, `document.querySelector("#camera").value`); got != "" {
					t.Errorf("camera input after an upload: %q, want it empty", got)
				}
			}

			// A text file named .png: the browser calls it image/png, the
			// server refuses it by its bytes (415), and the page says the
			// API's message once.
			eval(t, `scrollTo(0, 0); "ok"`)
			upload(t, "file", "notes.png")
			poll(t, "error for a text file", `!document.querySelector("#error").hidden`)
			if got := text(t, "error"); got != wantErr || strings.Count(strings.ToLower(got), "png, jpeg or gif") != 1 {
				t.Errorf("error on the page %q; want the API's message once: %q", got, wantErr)
			}
			if got := eval(t, `[document.querySelector("#result").hidden, document.querySelector("#preview-box").hidden].join()`); got != "true,true" {
				t.Errorf("verdict, preview hidden: %s; want true,true (no old verdict, no broken image next to the error)", got)
			}
			if l := getLayout(t); !l.inView(l.Error) {
				t.Errorf("the error %+v is not in the %vx%v viewport", l.Error, l.ViewW, l.ViewH)
			}
			screenshot(t, filepath.Join(t.ArtifactDir(), "error.png"))
		})
	}

	// "Why?": the heatmap of POST /api/v1/explain in place of the photo,
	// its summary in words (the text alternative) and the legend; pressed
	// again, the photo. Last, since an explanation counts as 65
	// predictions for the rate limit: the page waits the second it may be
	// asked to.
	t.Run("why", func(t *testing.T) {
		if err := chromedp.Do(bctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(s.url)); err != nil {
			t.Fatalf("loading %s: %v", s.url, err)
		}
		poll(t, "model information", `document.querySelector("#model").textContent !== ""`)
		stale(t)
		upload(t, "file", "portrait.png")
		checkVerdict(t, "portrait photo", want["portrait.png"])
		if got := eval(t, `[document.querySelector("#why").hidden, document.querySelector("#why").getAttribute("aria-pressed")].join()`); got != "false,false" {
			t.Fatalf("Why? button hidden, pressed: %s; want false,false", got)
		}
		if err := chromedp.Do(bctx, chromedp.Click(chromedp.ID("why"), chromedp.NodeVisible)); err != nil {
			t.Fatal(err)
		}
		poll(t, "explanation", `!document.querySelector("#why-image").hidden && document.querySelector("#why-image").complete && document.querySelector("#why-text").textContent !== ""`)
		summary := explainLocally(t, portrait)
		if got := text(t, "why-text"); got != summary {
			t.Errorf("the page's explanation %q; the engine's %q", got, summary)
		}
		if got := eval(t, `[document.querySelector("#why").getAttribute("aria-pressed"), document.querySelector("#preview").hidden, document.querySelector("#why-image").alt.includes(document.querySelector("#why-text").textContent), document.querySelector("#why-image").naturalWidth * 720 === document.querySelector("#why-image").naturalHeight * 480].join()`); got != "true,true,true,true" {
			t.Errorf("pressed, photo hidden, heatmap alt has the summary, heatmap of the photo's aspect: %s; want all true", got)
		}
		eval(t, `document.activeElement.blur(); "ok"`)
		screenshot(t, filepath.Join(t.ArtifactDir(), "why.png"), filepath.Join("..", "..", "docs", "page-why.png"))
		if err := chromedp.Do(bctx, chromedp.Click(chromedp.ID("why"), chromedp.NodeVisible)); err != nil {
			t.Fatal(err)
		}
		if got := eval(t, `[document.querySelector("#why").getAttribute("aria-pressed"), document.querySelector("#preview").hidden, document.querySelector("#why-image").hidden, document.querySelector("#why-box").hidden].join()`); got != "false,false,true,true" {
			t.Errorf("pressed again: pressed, photo hidden, heatmap hidden, legend hidden: %s; want false,false,true,true", got)
		}
	})

	if c := console.String(); c != "" {
		t.Errorf("console errors:\n%s", c)
	}
	t.Logf("browser test took %v", time.Since(start).Round(time.Millisecond))
}

// explainLocally is the summary of the embedded model's explanation of
// img, computed here with package explain as the server computes it.
func explainLocally(t *testing.T, img []byte) string {
	t.Helper()
	c, err := classifier.LoadDefault(classifier.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Prepare(img)
	if err != nil {
		t.Fatal(err)
	}
	m, err := explain.Explain(p.X, c.Info().Input, explain.ForClassifier(c, nil), explain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m.Summary()
}
