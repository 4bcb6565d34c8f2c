package server

// Explanations: POST /api/v1/explain and KServe's :explain verb
// (tfserving.go) run an upload through the one prediction pipeline
// (pipeline.go) with the model's work replaced by an occlusion map
// (package explain). They cost as many predictions as the model runs,
// for the rate limiter and the probing detector, and are off with
// Config.NoExplain or Config.LabelOnly.

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/explain"
	"github.com/huskyai/huskyai/imageprep"
)

// codeExplainOff answers explanation requests to a server that gives
// none.
const codeExplainOff = "explanations_disabled"

// overlaySide is the longer side, in pixels, of the heatmap overlay an
// explanation returns on request.
const overlaySide = 384

// explanation is the saliency map part of an explanation response.
type explanation struct {
	Method string `json:"method"`
	Rows   int    `json:"rows"`
	Cols   int    `json:"cols"`
	// Grid holds Rows rows of Cols values: how much covering each cell
	// lowered the husky probability (negative: raised it).
	Grid [][]float32 `json:"grid"`
	// Summary says in words which region raised the score most and which
	// lowered it most: the text alternative of the heatmap.
	Summary    string `json:"summary"`
	Inferences int    `json:"inferences"`
	// OverlayPNG is a PNG of the heatmap over the picture the model saw,
	// base64, when the request asked for it (overlay=true).
	OverlayPNG string `json:"overlay_png,omitempty"`
}

// explainResponse is the answer of POST /api/v1/explain: the prediction's
// fields and the explanation.
type explainResponse struct {
	verdict
	Model       modelRef       `json:"model"`
	Image       imageprep.Info `json:"image"`
	Explanation explanation    `json:"explanation"`
	ElapsedMS   float64        `json:"elapsed_ms"`
	Warning     string         `json:"warning,omitempty"`
}

// explainRequest is what an explanation request asks for, from its query
// parameters grid (cells per side) and overlay (true for the PNG).
type explainRequest struct {
	opt     explain.Options
	overlay bool
}

// parseExplainQuery reads grid and overlay from q.
func parseExplainQuery(q url.Values) (explainRequest, *uploadError) {
	var req explainRequest
	if g := q.Get("grid"); g != "" {
		n, err := strconv.Atoi(g)
		if err != nil {
			return req, badRequest("grid %q: want a number of cells per side, %d to %d", g, explain.MinGrid, explain.MaxGrid)
		}
		req.opt.Grid = n
	}
	if req.opt.Inferences() == 0 {
		return req, badRequest("grid %d: want %d to %d cells per side", req.opt.Grid, explain.MinGrid, explain.MaxGrid)
	}
	if o := q.Get("overlay"); o != "" {
		b, err := strconv.ParseBool(o)
		if err != nil {
			return req, badRequest("overlay %q: want true or false", o)
		}
		req.overlay = b
	}
	return req, nil
}

// explainsOff reports whether the server gives no explanations, and
// answers 403 if so.
func (s *server) explainsOff(w http.ResponseWriter) bool {
	if s.explains() {
		return false
	}
	msg := "explanations are turned off on this server"
	if s.cfg.LabelOnly {
		msg += " (it answers with labels only)"
	}
	errorJSON(w, http.StatusForbidden, codeExplainOff, msg, "")
	return true
}

// explainRequest reads what an explanation request asks for; it answers
// and returns false when explanations are off or the query is invalid.
func (s *server) explainRequest(w http.ResponseWriter, r *http.Request) (explainRequest, bool) {
	if s.explainsOff(w) {
		return explainRequest{}, false
	}
	req, ue := parseExplainQuery(r.URL.Query())
	if ue != nil {
		errorJSON(w, ue.status, ue.code, ue.message, "")
		return req, false
	}
	return req, true
}

// explains reports whether the server gives explanations.
func (s *server) explains() bool { return !s.cfg.NoExplain && !s.cfg.LabelOnly }

// handleExplain explains the verdict on an uploaded image (the forms of
// POST /api/v1/predict): the verdict, and an occlusion map of which parts
// of the picture raised or lowered the husky probability.
func handleExplain(s *server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		req, ok := s.explainRequest(w, r)
		if !ok {
			return
		}
		m, ok := s.pick(w, r)
		if !ok {
			return
		}
		info := m.c.Info()
		status := http.StatusInternalServerError // what a panic leaves
		defer func() { s.metrics.countInference(s.modelLabel(m), status) }()
		fail := func(ue *uploadError) {
			status = ue.status
			errorJSON(w, ue.status, ue.code, ue.message, info.Warning)
		}
		img, release, st, ok := s.admitUpload(w, r, start, info, req.opt.Inferences(), true)
		if !ok {
			status = st
			return
		}
		defer release()
		res, ex, ue := s.explainItem(r.Context(), w.Header(), start, m, inferItem{img: img}, req)
		if ue != nil {
			fail(ue)
			return
		}
		status = http.StatusOK
		encode(w, http.StatusOK, explainResponse{
			verdict:     s.verdict(res.Verdict),
			Model:       m.ref(),
			Image:       res.Image,
			Explanation: ex,
			ElapsedMS:   float64(time.Since(start).Microseconds()) / 1000,
			Warning:     info.Warning,
		})
	})
}

// explainItem runs an explanation of one item through the prediction
// pipeline: its verdict, and its map (with the overlay if req asks).
func (s *server) explainItem(ctx context.Context, hdr http.Header, start time.Time, m servedModel,
	it inferItem, req explainRequest) (classifier.Result, explanation, *uploadError) {
	payload, sum := digest(it)
	addLogAttrs(ctx, "image_bytes", len(payload), "explain_grid", req.opt.Grid)
	var ex explanation
	res, ue := s.pipeline(ctx, hdr, start, m, it, payload, sum, req.opt.Inferences(), func(release func(), g *decodeGrant) (classifier.Result, error) {
		defer release()
		p := classifier.Prepared{X: it.tensor}
		if it.tensor == nil {
			var err error
			if p, err = prepare(m.c, it, g); err != nil {
				return classifier.Result{Image: p.Image, Timings: p.Timings}, err
			}
		} else {
			p.PHash = tensorDHash(it.tensor, m.c.Info().Input)
		}
		var first classifier.Result
		t := time.Now()
		mp, err := explain.Explain(p.X, m.c.Info().Input, explain.ForClassifier(m.c, &first), req.opt)
		res := classifier.Result{Verdict: first.Verdict, Image: p.Image, PHash: p.PHash, Timings: p.Timings}
		res.Timings.Inference = time.Since(t)
		if err != nil {
			return res, errors.Join(classifier.ErrModel, err)
		}
		ex = explanation{Method: mp.Method, Rows: mp.Rows, Cols: mp.Cols, Grid: mp.Grid(),
			Summary: mp.Summary(), Inferences: mp.Inferences}
		if req.overlay {
			ow, oh := explain.OverlaySize(p.Image.Width, p.Image.Height, overlaySide)
			b, err := mp.OverlayPNG(p.X, m.c.Info().Input, ow, oh)
			if err != nil {
				return res, errors.Join(classifier.ErrModel, err)
			}
			ex.OverlayPNG = base64.StdEncoding.EncodeToString(b)
		}
		return res, nil
	})
	if res.Image.Format != "" {
		addLogAttrs(ctx, "image_format", res.Image.Format, "image_width", res.Image.Width, "image_height", res.Image.Height)
	}
	return res, ex, ue
}
