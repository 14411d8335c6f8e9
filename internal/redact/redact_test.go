package redact

import "testing"

func TestString(t *testing.T) {
	r := New("hunter2", "ab", "s3cret-token", "hunter2-long")
	r.Add("line-one-of-key\nline-two-of-key")
	tests := []struct{ in, want string }{
		{"password=hunter2", "password=" + Mask},
		{"hunter2-long and hunter2", Mask + " and " + Mask},
		{"ab is too short to redact", "ab is too short to redact"},
		{"tok s3cret-token!", "tok " + Mask + "!"},
		{"printed: line-two-of-key", "printed: " + Mask},
		{"nothing here", "nothing here"},
	}
	for _, tt := range tests {
		if got := r.String(tt.in); got != tt.want {
			t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	var zero *Redactor
	if got := zero.String("hunter2"); got != "hunter2" {
		t.Errorf("nil redactor changed text: %q", got)
	}
}
