package server

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"log/slog"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/imageprep"
	"github.com/huskyai/huskyai/modelstore"
)

// The end-to-end fuzz target of the upload path: bytes from the fuzzer
// become a request (a raw body, a multipart form built around them, or a
// multipart body taken verbatim) sent through the real handler and the
// real embedded model.

// Limits of the fuzzed server: small, so that the fuzzer reaches 413 and
// the pixel limit, and a hostile header cannot make one execution
// allocate hundreds of megabytes.
const (
	fuzzMaxUpload = 64 << 10
	fuzzMaxPixels = 1 << 20
)

// Ways of sending the fuzz input, the "how" argument of FuzzUpload (taken
// modulo fuzzHows).
const (
	fuzzRaw           = iota // POST /api/v1/predict, body = data, Content-Type = ct
	fuzzForm                 // POST /api/v1/predict, multipart form with data in "file"
	fuzzFormOriginal         // POST /huskyai/, the same form
	fuzzMultipartBody        // POST /huskyai/, body = data verbatim, Content-Type = ct
	fuzzHows
)

// fuzzTarget is the handler under test and the classifier behind it, built
// once per process.
var fuzzTarget = sync.OnceValues(func() (*classifier.Classifier, error) {
	opt := classifier.DefaultOptions()
	opt.MaxPixels = fuzzMaxPixels
	return classifier.LoadDefault(opt)
})

var fuzzHandler = sync.OnceValue(func() http.Handler {
	c, err := fuzzTarget()
	if err != nil {
		return nil
	}
	return NewServer(slog.New(slog.DiscardHandler), modelstore.Fixed(c), Config{
		MaxUpload:   fuzzMaxUpload,
		MaxInflight: 1,
	})
})

// fuzzRequest builds the request of one input.
func fuzzRequest(t testing.TB, how uint8, ct string, data []byte) *http.Request {
	t.Helper()
	path, body := "/api/v1/predict", data
	switch how % fuzzHows {
	case fuzzForm, fuzzFormOriginal:
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, err := mw.CreateFormFile("file", "upload.bin")
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(data)
		mw.Close()
		body, ct = buf.Bytes(), mw.FormDataContentType()
		if how%fuzzHows == fuzzFormOriginal {
			path = "/huskyai/"
		}
	case fuzzMultipartBody:
		path = "/huskyai/"
	}
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	r.RemoteAddr = "192.0.2.1:1234"
	if ct != "" {
		r.Header["Content-Type"] = []string{ct} // as sent, unchecked
	}
	return r
}

// codesOf are the error codes each status may carry.
var codesOf = map[int][]string{
	http.StatusBadRequest:            {codeBadRequest, codeMissingFile},
	http.StatusRequestEntityTooLarge: {codeTooLarge},
	http.StatusUnsupportedMediaType:  {codeUnsupportedMedia},
	http.StatusUnprocessableEntity:   {codeImageTooLarge, codeUndecodable},
	http.StatusServiceUnavailable:    {codeBusy, codeNotReady},
}

// fuzzResponse is the union of the success and error bodies.
type fuzzResponse struct {
	Probability *float64 `json:"probability"`
	Score       string   `json:"score"`
	Label       string   `json:"label"`
	Image       struct {
		Format        string `json:"format"`
		Width, Height int
	} `json:"image"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// checkUpload sends one input and checks the invariants of every answer:
// a status of the allowed set, a JSON body of the right shape, and, when
// the image bytes are known (the raw and form ways with an image media
// type), exactly the status and probability that calling the classifier
// directly gives. It returns the status and error code.
func checkUpload(t testing.TB, how uint8, ct string, data []byte) (int, string) {
	t.Helper()
	h := fuzzHandler()
	c, err := fuzzTarget()
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, fuzzRequest(t, how, ct, data))
	status, body := rec.Code, rec.Body.Bytes()
	if _, ok := codesOf[status]; !ok && status != http.StatusOK {
		t.Fatalf("status %d, not in {200,400,413,415,422,503}; body %.300q", status, body)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/json; charset=utf-8" {
		t.Fatalf("status %d: Content-Type %q", status, got)
	}
	var res fuzzResponse
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&res); err != nil || dec.More() {
		t.Fatalf("status %d: body %.300q is not one JSON object: %v", status, body, err)
	}
	code := ""
	if status == http.StatusOK {
		p := res.Probability
		if p == nil || !(*p >= 0 && *p <= 1) || res.Error != nil {
			t.Fatalf("200 with probability %v, error %v", p, res.Error)
		}
		if s, err := strconv.ParseFloat(res.Score, 64); err != nil || math.Abs(s-100**p) > 0.01 {
			t.Fatalf("200: score %q for probability %v", res.Score, *p)
		}
		if res.Label != "husky" && res.Label != "not husky" {
			t.Fatalf("200: label %q", res.Label)
		}
		if f := res.Image.Format; (f != "png" && f != "jpeg" && f != "gif") || res.Image.Width <= 0 || res.Image.Height <= 0 ||
			int64(res.Image.Width)*int64(res.Image.Height) > fuzzMaxPixels {
			t.Fatalf("200: image %+v", res.Image)
		}
	} else {
		if res.Error == nil || res.Error.Message == "" || res.Probability != nil {
			t.Fatalf("status %d: body %.300q is not {\"error\":{\"code\",\"message\"}}", status, body)
		}
		code = res.Error.Code
		if !slices.Contains(codesOf[status], code) {
			t.Fatalf("status %d with error code %q; want one of %v", status, code, codesOf[status])
		}
		if status == http.StatusServiceUnavailable && rec.Header().Get("Retry-After") == "" {
			t.Fatal("503 without Retry-After")
		}
	}

	// The oracle: the same bytes given to the classifier directly.
	if !imageBytesKnown(how, ct) {
		return status, code
	}
	wantStatus, wantCode := http.StatusOK, ""
	var want classifier.Result
	switch _, sniffed := imageprep.Sniff(data); {
	case len(data) > fuzzMaxUpload:
		wantStatus, wantCode = http.StatusRequestEntityTooLarge, codeTooLarge
	case !sniffed:
		wantStatus, wantCode = http.StatusUnsupportedMediaType, codeUnsupportedMedia
	default:
		want, err = c.Classify(data)
		if ie, ok := errors.AsType[*imageprep.Error](err); ok {
			wantStatus, wantCode = http.StatusUnprocessableEntity, codeUndecodable
			if ie.Kind == imageprep.TooLarge {
				wantCode = codeImageTooLarge
			}
		} else if err != nil {
			t.Fatalf("Classify: %v", err)
		}
	}
	if status != wantStatus || code != wantCode {
		t.Fatalf("status %d %q; the classifier says %d %q", status, code, wantStatus, wantCode)
	}
	if status == http.StatusOK && float32(*res.Probability) != want.Probability {
		t.Fatalf("probability %v; the classifier says %v", *res.Probability, want.Probability)
	}
	return status, code
}

// imageBytesKnown reports whether the request carries data itself as the
// image: a form built around it, or a raw body with an image media type.
func imageBytesKnown(how uint8, ct string) bool {
	switch how % fuzzHows {
	case fuzzForm, fuzzFormOriginal:
		return true
	case fuzzRaw:
		mt, _, err := mime.ParseMediaType(ct)
		return err == nil && (mt == "image/png" || mt == "image/jpeg" || mt == "image/gif" || mt == "application/octet-stream")
	}
	return false
}

// hugePNGHeader is a PNG signature and IHDR declaring w x h, nothing more.
func hugePNGHeader(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32([]byte("IHDR"), w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0)
	b := append([]byte("\x89PNG\r\n\x1a\n"), 0, 0, 0, 13)
	b = append(b, ihdr...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(ihdr))
}

// multipartPart is one part of a hand-written multipart body with boundary B.
func multipartPart(headers, body string) string {
	return "--B\r\n" + headers + "\r\n\r\n" + body + "\r\n"
}

const fileDisposition = `Content-Disposition: form-data; name="file"; filename="a.png"`

// uploadCase is one named input with its exact expected answer: the seeds
// of FuzzUpload and the table of TestUploadCases.
type uploadCase struct {
	name   string
	how    uint8
	ct     string
	data   []byte
	status int
	code   string
}

func uploadCases(t testing.TB) []uploadCase {
	png16 := encodeImage(t, "png", 16, 12)
	jpg := encodeImage(t, "jpeg", 40, 30)
	gf := encodeImage(t, "gif", 20, 20)
	mp := "multipart/form-data; boundary=B"
	cases := []uploadCase{
		{"raw png", fuzzRaw, "image/png", png16, 200, ""},
		{"raw jpeg", fuzzRaw, "image/jpeg", jpg, 200, ""},
		{"raw gif", fuzzRaw, "image/gif", gf, 200, ""},
		{"raw png labelled jpeg", fuzzRaw, "image/jpeg", png16, 200, ""},
		{"raw octet-stream", fuzzRaw, "application/octet-stream", jpg, 200, ""},
		{"raw with parameters", fuzzRaw, "image/png; charset=binary", png16, 200, ""},
		{"raw empty", fuzzRaw, "image/png", nil, 415, codeUnsupportedMedia},
		{"raw text", fuzzRaw, "image/png", []byte("<?php system($_GET['c']); ?>"), 415, codeUnsupportedMedia},
		{"raw no content type", fuzzRaw, "", png16, 415, codeUnsupportedMedia},
		{"raw bad content type", fuzzRaw, "image/", png16, 415, codeUnsupportedMedia},
		{"raw json", fuzzRaw, "application/json", []byte(`{"file":"x"}`), 415, codeUnsupportedMedia},
		{"raw too many pixels", fuzzRaw, "image/png", hugePNGHeader(50000, 50000), 422, codeImageTooLarge},
		{"raw just over the pixel limit", fuzzRaw, "image/png", hugePNGHeader(1025, 1024), 422, codeImageTooLarge},
		{"raw truncated png", fuzzRaw, "image/png", png16[:len(png16)/2], 422, codeUndecodable},
		{"raw truncated jpeg", fuzzRaw, "image/jpeg", jpg[:len(jpg)-10], 422, codeUndecodable},
		{"raw truncated gif", fuzzRaw, "image/gif", gf[:30], 422, codeUndecodable},
		{"raw png + html polyglot", fuzzRaw, "image/png", append(bytes.Clone(png16), "<script>alert(1)</script>"...), 200, ""},
		{"raw over the upload limit", fuzzRaw, "image/png", append(bytes.Clone(png16), make([]byte, fuzzMaxUpload)...), 413, codeTooLarge},
		{"form png", fuzzForm, "", png16, 200, ""},
		{"form jpeg, original route", fuzzFormOriginal, "", jpg, 200, ""},
		{"form gif without its trailer", fuzzForm, "", gf[:len(gf)-1], 200, ""}, // the first frame is whole
		{"form gif cut in its pixels", fuzzForm, "", gf[:len(gf)-5], 422, codeUndecodable},
		{"form empty file", fuzzForm, "", nil, 415, codeUnsupportedMedia},
		{"form magic only", fuzzFormOriginal, "", []byte("GIF89a"), 422, codeUndecodable},

		{"multipart file", fuzzMultipartBody, mp, []byte(multipartPart(fileDisposition, string(png16)) + "--B--\r\n"), 200, ""},
		{"multipart other fields first", fuzzMultipartBody, mp,
			[]byte(multipartPart(`Content-Disposition: form-data; name="a"`, "1") + multipartPart(fileDisposition, string(gf)) + "--B--\r\n"), 200, ""},
		{"multipart file twice: the first counts", fuzzMultipartBody, mp,
			[]byte(multipartPart(fileDisposition, "not an image") + multipartPart(fileDisposition, string(png16)) + "--B--\r\n"), 415, codeUnsupportedMedia},
		{"multipart preamble and epilogue", fuzzMultipartBody, mp,
			[]byte("preamble\r\n" + multipartPart(fileDisposition, string(png16)) + "--B--\r\nepilogue"), 200, ""},
		{"multipart quoted boundary", fuzzMultipartBody, `multipart/form-data; boundary="B"`,
			[]byte(multipartPart(fileDisposition, string(png16)) + "--B--\r\n"), 200, ""},
		{"multipart LF line endings", fuzzMultipartBody, mp,
			[]byte("--B\n" + fileDisposition + "\n\n" + string(png16) + "\n--B--\n"), 200, ""},
		{"multipart no closing boundary", fuzzMultipartBody, mp, []byte("--B\r\n" + fileDisposition + "\r\n\r\n" + string(png16)), 400, codeBadRequest},
		{"multipart no file field", fuzzMultipartBody, mp, []byte(multipartPart(`Content-Disposition: form-data; name="x"`, "1") + "--B--\r\n"), 400, codeMissingFile},
		{"multipart no parts", fuzzMultipartBody, mp, []byte("--B--\r\n"), 400, codeMissingFile},
		{"multipart empty body", fuzzMultipartBody, mp, nil, 400, codeBadRequest},
		{"multipart no boundary", fuzzMultipartBody, "multipart/form-data", []byte(multipartPart(fileDisposition, string(png16))), 400, codeBadRequest},
		{"multipart wrong boundary", fuzzMultipartBody, mp, []byte(strings.ReplaceAll(multipartPart(fileDisposition, string(png16)), "--B", "--C")), 400, codeBadRequest},
		{"multipart part without disposition", fuzzMultipartBody, mp, []byte(multipartPart("Content-Type: image/png", string(png16)) + "--B--\r\n"), 400, codeMissingFile},
		{"multipart 17 parts before the file", fuzzMultipartBody, mp,
			[]byte(strings.Repeat(multipartPart(`Content-Disposition: form-data; name="a"`, "1"), 17) + multipartPart(fileDisposition, string(png16)) + "--B--\r\n"), 400, codeMissingFile},
		{"multipart header line too long", fuzzMultipartBody, mp,
			[]byte(multipartPart(fileDisposition+"\r\nX-Pad: "+strings.Repeat("a", 20000), string(png16)) + "--B--\r\n"), 200, ""},
		{"multipart nested", fuzzMultipartBody, mp,
			[]byte(multipartPart(`Content-Disposition: form-data; name="file"`+"\r\nContent-Type: multipart/mixed; boundary=C", "--C\r\n\r\nx\r\n--C--") + "--B--\r\n"), 415, codeUnsupportedMedia},
		{"multipart/mixed", fuzzMultipartBody, "multipart/mixed; boundary=B", []byte(multipartPart(fileDisposition, string(png16)) + "--B--\r\n"), 415, codeUnsupportedMedia},
		{"multipart file too large", fuzzMultipartBody, mp,
			[]byte(multipartPart(fileDisposition, string(png16)+strings.Repeat("x", fuzzMaxUpload)) + "--B--\r\n"), 413, codeTooLarge},
	}
	// The Pillow fixtures of package imageprep: every PNG mode and GIF
	// layout, baseline, progressive, grayscale and CMYK JPEG.
	files, _ := filepath.Glob("../imageprep/testdata/pillow/*")
	for _, f := range files {
		base := filepath.Base(f)
		if strings.Count(base, ".") != 1 || strings.HasPrefix(base, "rgb_1000x17") {
			continue // Pillow's outputs, and one image wider than needed
		}
		b, err := os.ReadFile(f)
		if err != nil || len(b) > 16<<10 {
			continue
		}
		cases = append(cases, uploadCase{"fixture " + base, fuzzRaw, "application/octet-stream", b, 200, ""})
	}
	return cases
}

// TestUploadCases sends each named case through the real handler and
// model and checks its exact status and error code, besides the
// invariants of checkUpload.
func TestUploadCases(t *testing.T) {
	if _, err := fuzzTarget(); err != nil {
		t.Fatal(err)
	}
	fixtures := 0
	for _, tc := range uploadCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			status, code := checkUpload(t, tc.how, tc.ct, tc.data)
			if status != tc.status || code != tc.code {
				t.Errorf("%d %q, want %d %q", status, code, tc.status, tc.code)
			}
		})
		if strings.HasPrefix(tc.name, "fixture ") {
			fixtures++
		}
	}
	if fixtures < 10 {
		t.Errorf("only %d imageprep fixtures found", fixtures)
	}
}

// FuzzUpload sends fuzzed uploads through the server's handler with the
// embedded model: no panic (it would be a 500), a status in
// {200,400,413,415,422,503}, a JSON error body for every refusal, a
// probability in [0,1] for every answer, and the classifier's own verdict
// whenever the image bytes are known.
//
//	go test -run '^$' -fuzz FuzzUpload -fuzztime 60s -parallel 1 ./server/
func FuzzUpload(f *testing.F) {
	if _, err := fuzzTarget(); err != nil {
		f.Fatal(err)
	}
	for _, tc := range uploadCases(f) {
		if len(tc.data) <= fuzzMaxUpload+1024 {
			f.Add(tc.how, tc.ct, tc.data)
		}
	}
	f.Fuzz(func(t *testing.T, how uint8, ct string, data []byte) {
		checkUpload(t, how, ct, data)
	})
}
