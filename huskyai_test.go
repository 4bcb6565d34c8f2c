package huskyai

import "testing"

func TestNewVerdict(t *testing.T) {
	tests := []struct {
		p         float32
		precision int
		score     string
		label     string
		text      string
	}{
		{0.8712, 2, "87.12", LabelHusky, TextHusky},
		{0.5, 2, "50.00", LabelNotHusky, TextNotHusky}, // > 0.5, as the original
		{0.50001, 2, "50.00", LabelHusky, TextHusky},
		{0, 2, "0.00", LabelNotHusky, TextNotHusky},
		{1, 2, "100.00", LabelHusky, TextHusky},
		{0.123456789, 8, "12.34567910", LabelNotHusky, TextNotHusky},
		{0.996, 0, "100", LabelHusky, TextHusky},
	}
	for _, tt := range tests {
		v := NewVerdict(tt.p, tt.precision)
		if v.Probability != tt.p || v.Score != tt.score || v.Label != tt.label || v.Text != tt.text {
			t.Errorf("NewVerdict(%v, %d) = %+v, want score %q label %q text %q", tt.p, tt.precision, v, tt.score, tt.label, tt.text)
		}
	}
}
