package server

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/huskyai/huskyai/modelstore"
)

// TestOpenAPI checks GET /openapi.json against the OpenAPI 3 schema, then
// sends real requests of every documented route and form to a server of
// the embedded model, and validates each request and answer against the
// document (kin-openapi's openapi3filter): the document cannot drift from
// what the server does.
func TestOpenAPI(t *testing.T) {
	c, err := v2Model()
	if err != nil {
		t.Fatal(err)
	}
	h := NewServer(nil, modelstore.Fixed(c), Config{MaxUpload: 1 << 20})
	get := httptest.NewRecorder()
	h.ServeHTTP(get, httptest.NewRequest("GET", "/openapi.json", nil))
	if get.Code != 200 || get.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi.json: %d %s", get.Code, get.Header().Get("Content-Type"))
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(get.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the document is not valid OpenAPI 3: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: "http://example.com"}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}

	img := v2Image(t, "png", 200, 100, 3)
	form := func(field string, data []byte) ([]byte, string) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		fw, _ := mw.CreateFormFile(field, "photo.png")
		fw.Write(data)
		mw.Close()
		return b.Bytes(), mw.FormDataContentType()
	}
	formBody, formType := form("file", img)
	noFile, noFileType := form("picture", img)
	type call struct {
		method, path, ctype string
		body                []byte
		status              int
	}
	calls := []call{
		{"POST", "/api/v1/predict", "image/png", img, 200},
		{"POST", "/api/v1/predict", formType, formBody, 200},
		{"POST", "/api/v1/predict?model=huskyai", "application/octet-stream", img, 200},
		{"POST", "/api/v1/predict?model=nope", "image/png", img, 404},
		{"POST", "/api/v1/predict", "image/png", []byte("not an image"), 415},
		{"POST", "/api/v1/predict", noFileType, noFile, 400},
		{"POST", "/api/v1/predict", "image/png", append(bytes.Clone(img[:40]), 0), 422},
		{"POST", "/huskyai/", formType, formBody, 200},
		{"POST", "/api/v1/explain", "image/png", img, 200},
		{"POST", "/api/v1/explain?grid=3&overlay=true", formType, formBody, 200},
		{"POST", "/api/v1/explain?grid=9", "image/png", img, 400},
		{"GET", "/api/v1/model", "", nil, 200},
		{"GET", "/api/v1/model?model=nope", "", nil, 404},
		{"GET", "/api/v1/models", "", nil, 200},
		{"GET", "/healthz", "", nil, 200},
		{"GET", "/readyz", "", nil, 200},
		{"GET", "/openapi.json", "", nil, 200},
	}
	for _, tc := range calls {
		name := tc.method + " " + tc.path
		req := httptest.NewRequest(tc.method, tc.path, bytes.NewReader(tc.body))
		if tc.ctype != "" {
			req.Header.Set("Content-Type", tc.ctype)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Errorf("%s (%s): %d %s, want %d", name, tc.ctype, rec.Code, rec.Body, tc.status)
			continue
		}
		// Validate against the document, as a client at its server sees it.
		vreq := httptest.NewRequest(tc.method, "http://example.com"+tc.path, bytes.NewReader(tc.body))
		if tc.ctype != "" {
			vreq.Header.Set("Content-Type", tc.ctype)
		}
		route, params, err := router.FindRoute(vreq)
		if err != nil {
			t.Errorf("%s: not in the document: %v", name, err)
			continue
		}
		in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route,
			Options: &openapi3filter.Options{ExcludeRequestBody: tc.status >= 400, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		if tc.status < 400 {
			if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
				t.Errorf("%s: the request does not match the document: %v", name, err)
			}
		}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: rec.Code, Header: rec.Header(),
			Options: &openapi3filter.Options{IncludeResponseStatus: true}}
		out.SetBodyBytes(rec.Body.Bytes())
		if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
			t.Errorf("%s: %d answer does not match the document: %v\n%s", name, rec.Code, err, strings.TrimSpace(rec.Body.String()))
		}
	}
}
