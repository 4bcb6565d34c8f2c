package server

import "github.com/huskyai/huskyai"

// verdict is the verdict part of a prediction response: the fields of
// huskyai.Verdict, in the same order, where probability and score are
// left out when the server runs with Config.LabelOnly.
type verdict struct {
	Probability *float32 `json:"probability,omitempty"`
	Score       string   `json:"score,omitempty"`
	Label       string   `json:"label"`
	Text        string   `json:"text"`
	// TopClass is huskyai.Verdict.Top (a multi-class model's best class).
	TopClass *huskyai.Class `json:"top_class,omitempty"`
}

// verdict returns what the response says of v.
func (s *server) verdict(v huskyai.Verdict) verdict {
	if s.cfg.LabelOnly {
		return verdict{Label: v.Label, Text: v.Text}
	}
	return verdict{Probability: &v.Probability, Score: v.Score, Label: v.Label, Text: v.Text, TopClass: v.Top}
}
