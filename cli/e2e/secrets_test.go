package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/cli/clitest"
	"github.com/lightbeam-ml/lightbeam/storage"
	"github.com/lightbeam-ml/lightbeam/storage/gcstest"
)

// No credential reaches a log line or an error: preprocess and train run
// on gs:// through a proxy that fails some requests (so retries are
// logged), with a fake OAuth access token that every request carries and
// a fake credentials file in the environment, at info level; then a
// command fails on a missing object, and one on a server whose refusals
// echo the request, token and all. No output holds the token, the
// credentials' secrets, an upload session id or a bearer header.
func TestGCSNoSecretsInOutput(t *testing.T) {
	ctx := context.Background()
	root := gcstest.Root(t)
	px := gcstest.StartProxy(t, os.Getenv("STORAGE_EMULATOR_HOST"), gcstest.Faults{Seed: 11, Throttle: 0.02, ResetRequest: 0.1, ResetResponse: 0.02})

	rng := rand.New(rand.NewPCG(1, 2))
	var csv strings.Builder
	csv.WriteString("a,b,label\n")
	for i := 0; i < 600; i++ {
		c := rng.IntN(2)
		fmt.Fprintf(&csv, "%.3f,%.3f,%d\n", float64(c)+rng.NormFloat64(), rng.NormFloat64(), c)
	}
	in := storage.Join(root, "in.csv")
	if err := storage.WriteBytes(ctx, in, []byte(csv.String())); err != nil {
		t.Fatal(err)
	}

	token := fmt.Sprintf("ya29.a0FAKE-lightbeam-token-%016x", rng.Uint64())
	secrets := []string{token, "FAKE-refresh-token-7f3a9c", "FAKE-client-secret-91d2e0"}
	creds := filepath.Join(t.TempDir(), "credentials.json")
	if err := os.WriteFile(creds, []byte(fmt.Sprintf(`{"type":"authorized_user","client_id":"fake.apps.googleusercontent.com","client_secret":%q,"refresh_token":%q}`, secrets[2], secrets[1])), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(host string, args ...string) (string, error) {
		cmd := clitest.Command(t, args...)
		cmd.Env = append(cmd.Env, "STORAGE_EMULATOR_HOST="+host, storage.TokenEnv+"="+token,
			"GOOGLE_APPLICATION_CREDENTIALS="+creds, "LIGHTBEAM_LOG_LEVEL=info")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	prep, model := storage.Join(root, "prep"), storage.Join(root, "train")
	var all strings.Builder
	for _, args := range [][]string{
		{"preprocess", "--format=csv", "--input=" + in, "--out=" + prep, "--shards=2", "--label=label"},
		{"train", "--data=" + prep, "--out=" + model, "--model=softmax", "--epochs=1", "--accel=go"},
	} {
		out, err := run(px.Host, args...)
		all.WriteString(out)
		if err != nil {
			t.Fatalf("lightbeam %s: %v\n%s", args[0], err, out)
		}
	}
	missing := storage.Join(root, "no-such-input.csv")
	out, err := run(px.Host, "preprocess", "--format=csv", "--input="+missing, "--out="+storage.Join(root, "prep2"), "--label=label")
	all.WriteString(out)
	if err == nil || !strings.Contains(out, "no-such-input.csv") {
		t.Fatalf("preprocess of a missing gs:// input: %v, want a failure naming it:\n%s", err, out)
	}
	// A server whose refusals echo the request, token included.
	echo := gcstest.StartProxy(t, os.Getenv("STORAGE_EMULATOR_HOST"), gcstest.Faults{Refuse: 1})
	out, err = run(echo.Host, "train", "--data="+prep, "--out="+storage.Join(root, "train2"), "--model=softmax", "--epochs=1", "--accel=go")
	all.WriteString(out)
	if err == nil || !strings.Contains(out, "403") {
		t.Fatalf("train against a server that refuses everything: %v, want a 403 error:\n%s", err, out)
	}
	if !px.SawHeader("Authorization", "Bearer "+token) {
		t.Fatal("no request carried the fake token: the test proves nothing")
	}
	if st := px.Stats(); st.Failed() == 0 || !strings.Contains(all.String(), "gcs: retry") {
		t.Fatalf("no retry was logged (proxy: %v): the error paths were not exercised", st)
	}
	if !strings.Contains(all.String(), "Bearer REDACTED") {
		t.Error("the refusal that echoes the token is not in the output: the test proves less than it says")
	}
	text := strings.ReplaceAll(all.String(), "Bearer REDACTED", "")
	for _, s := range append(secrets, "upload_id=", "Bearer ", "ya29.") {
		if i := strings.Index(text, s); i >= 0 {
			line := text[strings.LastIndex(text[:i], "\n")+1:]
			line, _, _ = strings.Cut(line, "\n")
			t.Errorf("the output shows %q: %s", s, line)
		}
	}
}
