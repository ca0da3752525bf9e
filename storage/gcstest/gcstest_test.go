package gcstest

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lightbeam-ml/lightbeam/internal/svcscript"
)

func TestMain(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

func TestFindScript(t *testing.T) {
	script, err := svcscript.Find("gcs-emulator.sh")
	if err != nil {
		t.Fatal(err)
	}
	// This package is storage/gcstest: the module root is two up.
	wd, _ := os.Getwd()
	if want := filepath.Join(wd, "..", "..", "scripts", "gcs-emulator.sh"); filepath.Clean(want) != script {
		t.Errorf("svcscript.Find = %s, want %s", script, want)
	}
}

func TestRoot(t *testing.T) {
	a, b := Root(t), Root(t)
	prefix := "gs://" + Bucket + "/" + emu.run + "/TestRoot-"
	if a == b || !strings.HasPrefix(a, prefix) || !strings.HasPrefix(b, prefix) {
		t.Errorf("Root returned %s and %s, want two different prefixes starting with %s", a, b, prefix)
	}
	host := os.Getenv("STORAGE_EMULATOR_HOST")
	resp, err := http.Get("http://" + host + "/storage/v1/b/" + Bucket)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET bucket %s from %s: %s, want 200", Bucket, host, resp.Status)
	}
}

// TestHelperProcess is the child of TestEmulatorStops: it starts an
// emulator, prints its address, and exits with or without Stop.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("GCSTEST_HELPER")
	if mode == "" {
		t.Skip("run by TestEmulatorStops")
	}
	Root(t)
	host := os.Getenv("STORAGE_EMULATOR_HOST")
	if c, err := net.Dial("tcp", host); err == nil {
		c.Close()
		os.Stdout.WriteString("UP ")
	}
	os.Stdout.WriteString("HOST=" + host + "\n")
	if mode == "stop" {
		Stop()
	}
	os.Exit(0) // no TestMain epilogue: only the watchdog can stop the emulator
}

// The emulator a test process started does not outlive it: Stop stops it
// before returning, and without Stop the watchdog stops it when the process
// exits.
func TestEmulatorStops(t *testing.T) {
	Root(t) // skip or fail here, as the child would
	for _, mode := range []string{"stop", "exit"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
			var env []string
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "STORAGE_EMULATOR_HOST=") {
					env = append(env, kv)
				}
			}
			cmd.Env = append(env, "GCSTEST_HELPER="+mode)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("helper process: %v\n%s", err, out)
			}
			_, host, ok := strings.Cut(strings.TrimSpace(string(out)), "UP HOST=")
			if !ok || host == "" || host == os.Getenv("STORAGE_EMULATOR_HOST") {
				t.Fatalf("helper printed %q, want UP HOST= and the address of a running emulator of its own", out)
			}
			wait := 10 * time.Second
			if mode == "stop" {
				wait = 0 // Stop returned only once the emulator had stopped
			}
			deadline := time.Now().Add(wait)
			for {
				c, err := net.DialTimeout("tcp", host, time.Second)
				if err != nil {
					return
				}
				c.Close()
				if time.Now().After(deadline) {
					t.Fatalf("the emulator at %s still answers %v after its test process exited (%s)", host, wait, mode)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}
