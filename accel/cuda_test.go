package accel_test

import (
	"strings"
	"testing"
	"time"

	"github.com/lightbeam-ml/lightbeam/accel"
	"github.com/lightbeam-ml/lightbeam/accel/acceltest"
)

func TestCUDAConformance(t *testing.T) {
	b, err := accel.NewCUDA()
	if err != nil {
		t.Skipf("no usable NVIDIA GPU here, cuda backend not tested: %v", err)
	}
	defer func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	t.Logf("cuda: %s", accel.Describe(b))
	acceltest.Run(t, b)
	// A second backend in the same process reuses the compiled kernels.
	b2, err := accel.NewCUDA()
	if err != nil {
		t.Fatalf("second NewCUDA: %v", err)
	}
	if err := b2.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// Without a driver, asking for cuda fails at once with an error that says
// which library is missing, and auto falls back saying why.
func TestCUDAFailsFastWithoutDriver(t *testing.T) {
	start := time.Now()
	b, err := accel.Open("cuda")
	if err == nil {
		b.Close()
		t.Skip("a CUDA driver is present; nothing to check")
	}
	if !strings.Contains(err.Error(), "libcuda.so.1 not found: no NVIDIA driver") &&
		!strings.Contains(err.Error(), "not found (tried") && !strings.Contains(err.Error(), "cuInit") {
		t.Fatalf(`Open("cuda") error %q does not say what is missing`, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf(`Open("cuda") took %v to fail`, d)
	}
	t.Setenv(accel.AccelEnv, "")
	auto, reason, err := accel.Select("auto")
	if err != nil {
		t.Fatal(err)
	}
	defer auto.Close()
	if auto.Name() == "cuda" || !strings.Contains(reason, "skipped cuda: ") {
		t.Fatalf("auto chose %s, reason %q: want a fallback that says why cuda was skipped", auto.Name(), reason)
	}
}
