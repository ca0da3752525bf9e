package plot

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

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

func TestLogTicks(t *testing.T) {
	label := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for _, c := range []struct {
		lo, hi float64
		want   []string
	}{
		{math.Log10(3000), math.Log10(260000), []string{"5000", "10000", "20000", "50000", "100000", "200000"}},
		{0, 6, []string{"1", "10", "100", "1000", "10000", "100000", "1e+06"}},
		{2, 2, nil},
	} {
		var got []string
		for _, tk := range LogTicks(c.lo, c.hi, label) {
			got = append(got, tk.Label)
			if v, _ := strconv.ParseFloat(tk.Label, 64); math.Abs(math.Log10(v)-tk.V) > 1e-9 {
				t.Errorf("tick %q at %g, want log10 %g", tk.Label, tk.V, math.Log10(v))
			}
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("LogTicks(%g, %g) = %q, want %q", c.lo, c.hi, got, c.want)
		}
	}
}

func TestByteLabel(t *testing.T) {
	for v, want := range map[float64]string{500: "500 B", 20e3: "20 KB", 1e6: "1 MB", 2.5e9: "2.5 GB"} {
		if got := ByteLabel(v); got != want {
			t.Errorf("ByteLabel(%g) = %q, want %q", v, got, want)
		}
	}
}
