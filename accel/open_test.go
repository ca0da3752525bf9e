package accel_test

import (
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/accel"
)

func TestSelect(t *testing.T) {
	t.Setenv(accel.AccelEnv, "go")
	b, reason, err := accel.Select("auto")
	if err != nil || b.Name() != "go" || !strings.Contains(reason, accel.AccelEnv+"=go") {
		t.Fatalf(`Select("auto") with %s=go: %v, %q, %v`, accel.AccelEnv, b, reason, err)
	}
	// An explicit name beats the environment.
	b, _, err = accel.Select("go")
	if err != nil || b.Name() != "go" {
		t.Fatalf(`Select("go"): %v, %v`, b, err)
	}
	t.Setenv(accel.AccelEnv, "tpu")
	if _, _, err := accel.Select(""); err == nil || !strings.Contains(err.Error(), "tpu") {
		t.Fatalf(`Select("") with %s=tpu: error %v, want one naming tpu`, accel.AccelEnv, err)
	}
	if _, err := accel.Open("gpu"); err == nil || !strings.Contains(err.Error(), `"gpu"`) {
		t.Fatalf(`Open("gpu"): error %v, want unknown backend`, err)
	}
}

func TestAvailable(t *testing.T) {
	infos := accel.Available()
	if len(infos) != len(accel.Names) {
		t.Fatalf("Available() = %d entries, want %d", len(infos), len(accel.Names))
	}
	for i, in := range infos {
		if in.Name != accel.Names[i] {
			t.Errorf("Available()[%d].Name = %q, want %q", i, in.Name, accel.Names[i])
		}
		if in.Detail == "" {
			t.Errorf("%s: empty detail", in.Name)
		}
		if in.Name == "go" && !in.Loaded {
			t.Errorf("go backend not loaded: %s", in.Detail)
		}
		t.Logf("%s loaded=%v: %s", in.Name, in.Loaded, in.Detail)
	}
}

func TestBanner(t *testing.T) {
	g := accel.NewGo()
	defer g.Close()
	if b := accel.Banner(g); !strings.Contains(b, "install BLIS") || strings.Contains(b, "\n") {
		t.Errorf("the go banner does not say what BLIS gains, in one line: %q", b)
	}
	if b, err := accel.NewBLAS(); err == nil {
		defer b.Close()
		if s := accel.Banner(b); strings.Contains(s, "install BLIS") || !strings.HasPrefix(s, "accel: blas (") {
			t.Errorf("blas banner %q", s)
		}
	}
}
