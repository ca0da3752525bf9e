package gcstest

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Faults says how a Proxy misbehaves. The shares are of all requests and
// are tried in this order; what is left passes through untouched.
type Faults struct {
	Seed          uint64  // the same seed and requests give the same faults
	Throttle      float64 // answered 429 Too Many Requests
	Unavailable   float64 // answered 503 Service Unavailable
	ResetRequest  float64 // connection reset after reading half the request body (requests with a body)
	ResetResponse float64 // connection reset after sending half the body of a 2xx answer (2 bytes or more, not to DELETE)
	Delay         float64 // passed on after a pause of up to MaxDelay
	// Refuse is the share answered 403 Forbidden with a body that echoes
	// the request (its URL with the query, its Authorization header), as a
	// misconfigured gateway might: what a client puts in its error message
	// then holds the request's secrets. Tried after the others.
	Refuse   float64
	MaxDelay time.Duration // defaults to 100 ms
	// MaxInARow bounds the faults one request meets in a row (the same
	// method, object, query and range), so that a client which retries
	// always gets through. Defaults to 2.
	MaxInARow int
}

// Chaos is a mix of every fault, each at a few per cent.
func Chaos(seed uint64) Faults {
	return Faults{Seed: seed, Throttle: 0.05, Unavailable: 0.05, ResetRequest: 0.05, ResetResponse: 0.05, Delay: 0.1, MaxDelay: 50 * time.Millisecond}
}

// FaultStats counts what a Proxy did.
type FaultStats struct {
	Requests, Throttled, Unavailable, ResetRequests, ResetResponses, Delayed, Refused int64
}

// Failed returns the number of requests that failed transiently (not
// delays, not refusals): each is one retry for a client that recovers.
func (s FaultStats) Failed() int64 {
	return s.Throttled + s.Unavailable + s.ResetRequests + s.ResetResponses
}

func (s FaultStats) String() string {
	return fmt.Sprintf("%d requests: %d answered 429, %d answered 503, %d reset mid-request, %d reset mid-response, %d delayed, %d refused",
		s.Requests, s.Throttled, s.Unavailable, s.ResetRequests, s.ResetResponses, s.Delayed, s.Refused)
}

// Proxy is an HTTP proxy on loopback in front of a GCS server that
// injects Faults. It decides each request's fate from a hash of the seed,
// the request (method, path, query without upload session ids, range) and
// how many times it has seen that request, so a run meets the same faults
// whatever order concurrent requests arrive in. GCSTEST_DEBUG=1 prints
// each fault to stderr, GCSTEST_DEBUG=all each request.
type Proxy struct {
	Host     string // host:port to put in STORAGE_EMULATOR_HOST
	upstream string
	f        Faults
	root     string // the object prefix of WithFaults's root, left out of request keys
	srv      *http.Server
	fwd      *http.Transport

	mu      sync.Mutex
	seen    map[string]int // times each request key has arrived
	inARow  map[string]int // faults in a row per request key
	headers map[string]bool

	requests, throttled, unavailable, resetReq, resetResp, delayed, refused atomic.Int64
}

// StartProxy starts a Proxy in front of the GCS server at upstream
// (host:port) and stops it when the test ends.
func StartProxy(t testing.TB, upstream string, f Faults) *Proxy {
	t.Helper()
	if f.MaxDelay <= 0 {
		f.MaxDelay = 100 * time.Millisecond
	}
	if f.MaxInARow <= 0 {
		f.MaxInARow = 2
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("gcstest: proxy: %v", err)
	}
	p := &Proxy{
		Host:     ln.Addr().String(),
		upstream: upstream,
		f:        f,
		fwd:      &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 16},
		seen:     map[string]int{},
		inARow:   map[string]int{},
		headers:  map[string]bool{},
	}
	p.srv = &http.Server{Handler: p}
	go p.srv.Serve(ln)
	t.Cleanup(func() {
		p.srv.Close()
		p.fwd.CloseIdleConnections()
	})
	return p
}

// WithFaults puts a Proxy with f in front of the emulator that Root
// started (call Root first: root is what it returned) and points
// STORAGE_EMULATOR_HOST at the proxy until the test ends (t.Setenv: not
// for parallel tests).
func WithFaults(t *testing.T, root string, f Faults) *Proxy {
	t.Helper()
	p := StartProxy(t, os.Getenv("STORAGE_EMULATOR_HOST"), f)
	// Root's prefix differs between runs; the faults must not.
	p.root = strings.TrimPrefix(root, "gs://"+Bucket+"/")
	t.Setenv("STORAGE_EMULATOR_HOST", p.Host)
	return p
}

// Stats returns what the proxy has done so far.
func (p *Proxy) Stats() FaultStats {
	return FaultStats{
		Requests: p.requests.Load(), Throttled: p.throttled.Load(), Unavailable: p.unavailable.Load(),
		ResetRequests: p.resetReq.Load(), ResetResponses: p.resetResp.Load(), Delayed: p.delayed.Load(), Refused: p.refused.Load(),
	}
}

// SawHeader reports whether some request carried header name with a value
// containing substr (for example that a token was sent at all).
func (p *Proxy) SawHeader(name, substr string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for h := range p.headers {
		if k, v, _ := strings.Cut(h, ": "); strings.EqualFold(k, name) && strings.Contains(v, substr) {
			return true
		}
	}
	return false
}

type fault int

const (
	pass fault = iota
	throttle
	unavailable
	resetRequest
	resetResponse
	delay
	refuse
)

// randomID matches the random part of a temporary object's name.
var randomID = regexp.MustCompile(`[0-9a-f]{16,}`)

// requestKey names a request the same way each time a client sends it:
// the upload session id, generations, random ids in temporary names and
// the root prefix differ between runs, the rest does not.
func (p *Proxy) requestKey(r *http.Request) string {
	q := r.URL.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		if k != "upload_id" && !strings.Contains(strings.ToLower(k), "generation") {
			keys = append(keys, k) // generations are times: they differ too
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(r.Method + " " + r.URL.Path)
	for _, k := range keys {
		b.WriteString(" " + k + "=" + strings.Join(q[k], ","))
	}
	b.WriteString(" range=" + r.Header.Get("Range") + " content-range=" + r.Header.Get("Content-Range"))
	key := b.String()
	if p.root != "" {
		key = strings.ReplaceAll(key, p.root, "ROOT")
	}
	return randomID.ReplaceAllString(key, "ID")
}

// decide returns the fate of r and a number in [0, 1) for the delay.
func (p *Proxy) decide(r *http.Request) (fault, float64) {
	key := p.requestKey(r)
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, vs := range r.Header {
		for _, v := range vs {
			p.headers[k+": "+v] = true
		}
	}
	p.seen[key]++
	h := fnv.New64a()
	var seed [8]byte
	binary.LittleEndian.PutUint64(seed[:], p.f.Seed)
	h.Write(seed[:])
	fmt.Fprintf(h, "%s\x00%d", key, p.seen[key])
	sum := mix(h.Sum64())
	u := float64(sum>>11) / (1 << 53)
	v := float64(sum&(1<<11-1)) / (1 << 11)
	if p.inARow[key] >= p.f.MaxInARow {
		p.inARow[key] = 0
		return pass, v
	}
	f := pass
	for _, c := range []struct {
		share float64
		f     fault
	}{{p.f.Throttle, throttle}, {p.f.Unavailable, unavailable}, {p.f.ResetRequest, resetRequest}, {p.f.ResetResponse, resetResponse}, {p.f.Delay, delay}, {p.f.Refuse, refuse}} {
		if u < c.share {
			f = c.f
			break
		}
		u -= c.share
	}
	if f == resetRequest && r.ContentLength == 0 || f == resetResponse && r.Method == http.MethodDelete {
		f = pass // nothing to cut short; no client reads the answer to a delete
	}
	if f == pass || f == delay || f == refuse {
		p.inARow[key] = 0
	} else {
		p.inARow[key]++
	}
	return f, v
}

// mix is splitmix64's finalizer: FNV leaves the high bits, which decide
// the fault, nearly the same for keys that differ in their last bytes.
func mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	f, v := p.decide(r)
	if d := os.Getenv("GCSTEST_DEBUG"); d == "all" || d != "" && f != pass {
		fmt.Fprintf(os.Stderr, "gcstest: fault %d on %s\n", f, p.requestKey(r))
	}
	switch f {
	case throttle, unavailable:
		io.Copy(io.Discard, r.Body)
		code, counter := http.StatusTooManyRequests, &p.throttled
		if f == unavailable {
			code, counter = http.StatusServiceUnavailable, &p.unavailable
		}
		counter.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"error":{"code":%d,"message":"gcstest: injected %s"}}`, code, http.StatusText(code))
		return
	case resetRequest:
		n := r.ContentLength / 2
		if n <= 0 {
			n = 1 // chunked: cut it after its first byte
		}
		io.CopyN(io.Discard, r.Body, n)
		p.resetReq.Add(1)
		reset(w)
		return
	case refuse:
		io.Copy(io.Discard, r.Body)
		p.refused.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		msg := fmt.Sprintf("gcstest: refused %s http://%s%s with Authorization: %s", r.Method, r.Host, r.URL.RequestURI(), r.Header.Get("Authorization"))
		fmt.Fprintf(w, `{"error":{"code":403,"message":%q}}`, msg)
		return
	case delay:
		p.delayed.Add(1)
		time.Sleep(time.Duration(v * float64(p.f.MaxDelay)))
	}
	resp, err := p.forward(r)
	if err != nil {
		http.Error(w, "gcstest: proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	h := w.Header()
	for k, vs := range resp.Header {
		h[k] = vs
	}
	if loc := h.Get("Location"); loc != "" {
		h.Set("Location", strings.Replace(loc, p.upstream, p.Host, 1))
	}
	if f != resetResponse {
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
		return
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil || len(body) < 2 || resp.StatusCode/100 != 2 {
		// Clients read the body of an error answer only for its message:
		// cutting it short would go unnoticed.
		w.WriteHeader(resp.StatusCode)
		w.Write(body)
		return
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(resp.StatusCode)
	w.Write(body[:len(body)/2])
	http.NewResponseController(w).Flush()
	p.resetResp.Add(1)
	reset(w)
}

// forward sends r to the upstream server.
func (p *Proxy) forward(r *http.Request) (*http.Response, error) {
	u := &url.URL{Scheme: "http", Host: p.upstream, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), r.Body)
	if err != nil {
		return nil, err
	}
	if r.ContentLength == 0 {
		out.Body = nil
	}
	out.ContentLength = r.ContentLength
	for k, vs := range r.Header {
		switch http.CanonicalHeaderKey(k) {
		case "Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
			continue
		}
		out.Header[k] = vs
	}
	return p.fwd.RoundTrip(out)
}

// reset closes the connection under w with a TCP reset (linger 0), as a
// dropped connection looks to the client.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // the server drops the connection
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}
