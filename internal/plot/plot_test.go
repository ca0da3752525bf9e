package plot

import "testing"

func TestNiceTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		n      int
		min    float64
		want   []string
	}{
		{0, 10, 5, 0, []string{"0", "2", "4", "6", "8", "10"}},
		{0.03, 0.97, 4, 0, []string{"0.25", "0.50", "0.75"}},
		{1, 5, 10, 0, []string{"1.0", "1.5", "2.0", "2.5", "3.0", "3.5", "4.0", "4.5", "5.0"}},
		{-0.2, 0.2, 4, 0, []string{"-0.2", "-0.1", "0.0", "0.1", "0.2"}},
		{90.1, 98.3, 6, 0, []string{"92", "94", "96", "98"}},
		{0.88, 5.12, 10, 1, []string{"1", "2", "3", "4", "5"}}, // epochs
		{-4, 304, 10, 1, []string{"0", "50", "100", "150", "200", "250", "300"}},
	} {
		ts := NiceTicks(c.lo, c.hi, c.n, c.min)
		var got []string
		for _, tk := range ts {
			got = append(got, tk.Label)
		}
		if len(got) != len(c.want) {
			t.Errorf("NiceTicks(%g, %g, %d, %g) = %q, want %q", c.lo, c.hi, c.n, c.min, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("NiceTicks(%g, %g, %d, %g) = %q, want %q", c.lo, c.hi, c.n, c.min, got, c.want)
				break
			}
		}
	}
}
