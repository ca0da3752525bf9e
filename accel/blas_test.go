package accel_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/accel"
	"github.com/lightbeam-ml/lightbeam/accel/acceltest"
)

// openBLAS opens the blas backend. Where it cannot load, the test fails on
// CI (which installs BLIS) and skips elsewhere, saying why.
func openBLAS(t testing.TB) accel.Backend {
	t.Helper()
	b, err := accel.NewBLAS()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but the blas backend does not load (scripts/install-deps.sh installs libblis4-pthread): %v", err)
		}
		t.Skipf("no CBLAS library here: %v", err)
	}
	return b
}

func TestBLASConformance(t *testing.T) {
	b := openBLAS(t)
	t.Logf("blas: %s", accel.Describe(b))
	acceltest.Run(t, b)
}

// Every CBLAS library installed here passes, not only the first one found:
// each of the backend's candidates installed at its path, or, when none
// is, the one it loads by name. With none at all it fails on CI and skips
// elsewhere (openBLAS), rather than pass without running anything.
func TestBLASLibrariesConformance(t *testing.T) {
	var libs []string
	for _, path := range accel.BLASCandidates {
		if !filepath.IsAbs(path) {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			t.Logf("%s not installed", path)
			continue
		}
		libs = append(libs, path)
	}
	if len(libs) == 0 {
		if path, err := accel.FindBLAS(); err == nil {
			libs = append(libs, path)
		}
	}
	if len(libs) == 0 {
		openBLAS(t) // fails on CI, skips elsewhere
		t.Fatal("no CBLAS library found, yet the blas backend loads")
	}
	for _, path := range libs {
		t.Run(path, func(t *testing.T) {
			t.Setenv(accel.BLASLibEnv, path)
			b, err := accel.NewBLAS()
			if err != nil {
				t.Fatal(err)
			}
			if d := accel.Describe(b); !strings.HasPrefix(d, path) {
				t.Fatalf("%s=%s loaded %q", accel.BLASLibEnv, path, d)
			}
			acceltest.Run(t, b)
		})
	}
}

func TestBLASLibEnvNamesMissingLibrary(t *testing.T) {
	t.Setenv(accel.BLASLibEnv, "/nonexistent/libcblas.so")
	_, err := accel.NewBLAS()
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/libcblas.so") {
		t.Fatalf("NewBLAS with %s=/nonexistent/libcblas.so: error %v, want one naming the path", accel.BLASLibEnv, err)
	}
	if _, err := accel.Open("blas"); err == nil {
		t.Fatal(`Open("blas") with a missing library succeeded`)
	}
}

func TestBLASSetThreads(t *testing.T) {
	c, ok := openBLAS(t).(accel.Concurrent)
	if !ok {
		t.Fatal("the blas backend is not Concurrent")
	}
	prev := c.SetThreads(1)
	if prev < 1 {
		t.Fatalf("SetThreads returned %d threads before, want ≥ 1 (BLIS and OpenBLAS count them)", prev)
	}
	if got := c.SetThreads(prev); got != 1 {
		t.Errorf("after SetThreads(1) the library reports %d threads", got)
	}
	if got := c.SetThreads(0); got != prev {
		t.Errorf("restored %d threads, the library reports %d", prev, got)
	}
}
