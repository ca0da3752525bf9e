package gcstest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The proxy's faults follow from the seed and the requests alone: the same
// requests through two proxies with one seed meet the same faults, another
// seed changes them, and no request fails more than MaxInARow times in a
// row. It also rewrites upload session URLs to itself.
func TestProxyFaults(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.URL.Query().Get("uploadType") == "resumable" {
			w.Header().Set("Location", "http://"+r.Host+"/upload/session?upload_id=abc")
		}
		fmt.Fprintf(w, `{"name":%q,"padding":"%s"}`, r.URL.Path, strings.Repeat("x", 100))
	}))
	defer upstream.Close()
	host := strings.TrimPrefix(upstream.URL, "http://")

	// outcomes sends the same 200 requests (each retried until it gets
	// through) and returns what happened to each attempt.
	outcomes := func(f Faults) (string, FaultStats) {
		p := StartProxy(t, host, f)
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		var got strings.Builder
		for i := range 200 {
			for attempt := 1; ; attempt++ {
				var body io.Reader
				method := http.MethodGet
				if i%2 == 1 {
					method, body = http.MethodPost, strings.NewReader(strings.Repeat("d", 1000))
				}
				req, _ := http.NewRequest(method, fmt.Sprintf("http://%s/b/o-%d", p.Host, i), body)
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				switch {
				case err != nil:
					got.WriteString("x")
				case resp.StatusCode != http.StatusOK:
					got.WriteString(fmt.Sprint(resp.StatusCode / 100))
				default:
					got.WriteString(".")
				}
				if err == nil && resp.StatusCode == http.StatusOK {
					break
				}
				if attempt > f.MaxInARow+1 {
					t.Fatalf("request %d failed %d times in a row, MaxInARow is %d", i, attempt, f.MaxInARow)
				}
			}
			got.WriteString(" ")
		}
		return got.String(), p.Stats()
	}
	f := Faults{Seed: 1, Throttle: 0.1, Unavailable: 0.1, ResetRequest: 0.1, ResetResponse: 0.1, Delay: 0.1, MaxDelay: 1, MaxInARow: 2}
	a, sa := outcomes(f)
	b, sb := outcomes(f)
	if a != b || sa != sb {
		t.Errorf("one seed, two runs:\n%s\n%s\n%v\n%v", a, b, sa, sb)
	}
	if sa.Throttled == 0 || sa.Unavailable == 0 || sa.ResetRequests == 0 || sa.ResetResponses == 0 || sa.Delayed == 0 {
		t.Errorf("not every fault was injected: %v", sa)
	}
	if sa.Requests != 200+sa.Failed() {
		t.Errorf("%v: want 200 requests plus one per failure", sa)
	}
	f.Seed = 2
	if c, _ := outcomes(f); c == a {
		t.Error("seeds 1 and 2 gave the same faults")
	}

	p := StartProxy(t, host, Faults{})
	resp, err := http.Post("http://"+p.Host+"/upload/b/o?uploadType=resumable", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "http://"+p.Host+"/") {
		t.Errorf("upload session URL %q does not go through the proxy %s", loc, p.Host)
	}

	refuse := StartProxy(t, host, Faults{Refuse: 1})
	req, _ := http.NewRequest(http.MethodGet, "http://"+refuse.Host+"/b/o?upload_id=s3cret", nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(msg), "upload_id=s3cret") || !strings.Contains(string(msg), "Bearer tok") || !refuse.SawHeader("Authorization", "tok") {
		t.Errorf("Refuse: %s %s, want a 403 echoing the request", resp.Status, msg)
	}
}
