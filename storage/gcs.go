package storage

// gs:// objects, through one client per process that lightbeam configures
// itself (Beam's gcs filesystem makes a client per call with the library's
// defaults and cannot be given a transport):
//
//   - Retries. cloud.google.com/go/storage retries idempotent requests
//     (reads, listings, and writes or deletes that carry a generation
//     precondition) on 408, 429, 5xx and dropped connections, with
//     exponential backoff (GCSRetry). A plain upload is not idempotent and
//     is never retried, so every write here carries a precondition (see
//     writeGCSIf): that makes it safe to retry, and keeps a retried or
//     duplicated write from replacing a newer object.
//   - Logs. Every retried request is logged once, at warn, as
//     "gcs: retry N of METHOD gs://bucket/object" (the library numbers its
//     attempts in the x-goog-api-client header), and every download that
//     loses its connection mid-body, after which the library resumes it
//     with a ranged request, as "gcs: connection lost reading ...".
//   - Secrets. Log lines and errors carry no query strings (upload session
//     ids, signatures), bearer tokens or access tokens (redact).
//   - Reads are pinned to the generation of their first response, so an
//     object replaced while it is read fails the read with ErrChanged
//     instead of mixing two versions.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	iofs "io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gcs "cloud.google.com/go/storage"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/util/gcsx"
	gax "github.com/googleapis/gax-go/v2"
	"github.com/lightbeam-ml/lightbeam/storage/internal/glob"
	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	htransport "google.golang.org/api/transport/http"
)

// TokenEnv names the environment variable that may hold an OAuth 2 access
// token for gs:// (for example from `gcloud auth print-access-token` or a
// workload identity broker). When it is set it is sent as is, even to an
// emulator; otherwise Application Default Credentials are used, or no
// credentials with STORAGE_EMULATOR_HOST or when none are found.
const TokenEnv = "GOOGLE_OAUTH_ACCESS_TOKEN"

// RetryPolicy says how often and how patiently gs:// requests are retried.
type RetryPolicy struct {
	MaxAttempts int           // attempts per request, the first included
	Initial     time.Duration // the first backoff; it doubles up to Max
	Max         time.Duration
}

// GCSRetry is the retry policy of gs:// requests. The defaults follow
// Google's advice (exponential backoff from about a second); tests lower
// the backoff. It is read when the process's client is made, so set it
// before the first gs:// call (a changed value makes a new client).
var GCSRetry = RetryPolicy{MaxAttempts: 10, Initial: time.Second, Max: 30 * time.Second}

// gcsRetries counts the retries logged so far (GCSRetries).
var gcsRetries atomic.Int64

// GCSRetries returns how many gs:// retries this process has logged.
func GCSRetries() int64 { return gcsRetries.Load() }

// noteRetry logs one retry line and counts it.
func noteRetry(ctx context.Context, msg string) {
	gcsRetries.Add(1)
	slog.Default().WarnContext(ctx, redact(msg))
}

var clients struct {
	sync.Mutex
	key    string
	client *gcs.Client
}

// gcsClient returns the process's client for gs:// objects, made on first
// use (and again when STORAGE_EMULATOR_HOST, the token or GCSRetry has
// changed, as tests do). It is shared and never closed; the scope is
// read-write whatever the caller asks for.
func gcsClient(ctx context.Context, _ string) (*gcs.Client, error) {
	key := fmt.Sprintf("%s\x00%s\x00%+v", os.Getenv("STORAGE_EMULATOR_HOST"), os.Getenv(TokenEnv), GCSRetry)
	clients.Lock()
	defer clients.Unlock()
	if clients.client != nil && clients.key == key {
		return clients.client, nil
	}
	c, err := newGCSClient(context.WithoutCancel(ctx))
	if err != nil {
		return nil, redactErr(err)
	}
	// The previous client may still serve readers: it is left to the
	// garbage collector rather than closed under them.
	clients.key, clients.client = key, c
	return c, nil
}

func newGCSClient(ctx context.Context) (*gcs.Client, error) {
	base := http.DefaultTransport.(*http.Transport).Clone()
	var rt http.RoundTripper = &gcsTransport{base: base}
	switch tok := os.Getenv(TokenEnv); {
	case tok != "":
		rt = &oauth2.Transport{Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, TokenType: "Bearer"}), Base: rt}
	case os.Getenv("STORAGE_EMULATOR_HOST") != "":
		// The emulator takes no credentials.
	default:
		// Application Default Credentials; like Beam, fall back to
		// unauthenticated access (public buckets) when there are none.
		if authed, err := htransport.NewTransport(ctx, rt, option.WithScopes(gcs.ScopeReadWrite)); err == nil {
			rt = authed
		} else {
			slog.Default().WarnContext(ctx, redact("gcs: no credentials found, using unauthenticated access: "+err.Error()))
		}
	}
	c, err := gcs.NewClient(ctx, option.WithHTTPClient(&http.Client{Transport: rt}), option.WithUserAgent("lightbeam (GPN:Beam)"))
	if err != nil {
		return nil, err
	}
	c.SetRetry(
		gcs.WithPolicy(gcs.RetryIdempotent),
		gcs.WithMaxAttempts(GCSRetry.MaxAttempts),
		gcs.WithBackoff(gax.Backoff{Initial: GCSRetry.Initial, Max: GCSRetry.Max, Multiplier: 2}),
	)
	return c, nil
}

// gcsTransport logs retried requests and downloads cut short.
type gcsTransport struct{ base http.RoundTripper }

var attemptRe = regexp.MustCompile(`gccl-attempt-count/(\d+)`)

func (t *gcsTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if m := attemptRe.FindStringSubmatch(req.Header.Get("X-Goog-Api-Client")); m != nil {
		if n, _ := strconv.Atoi(m[1]); n > 1 {
			noteRetry(req.Context(), fmt.Sprintf("gcs: retry %d of %s %s", n-1, req.Method, describe(req.URL)))
		}
	}
	resp, err := t.base.RoundTrip(req)
	if err == nil && req.Method == http.MethodGet && isMedia(req.URL) && resp.StatusCode/100 == 2 {
		resp.Body = &watchedBody{ReadCloser: resp.Body, req: req}
	}
	return resp, err
}

// isMedia reports whether u downloads an object's contents (the XML API,
// or the JSON API with alt=media) rather than metadata: the library
// resumes such a download itself when it breaks, with a new request that
// is its first attempt.
func isMedia(u *url.URL) bool {
	return !strings.HasPrefix(u.Path, "/storage/v1/") && !strings.HasPrefix(u.Path, "/upload/") || u.Query().Get("alt") == "media"
}

// watchedBody logs a download that breaks before its end.
type watchedBody struct {
	io.ReadCloser
	req    *http.Request
	n      int64
	logged bool
}

func (b *watchedBody) Read(p []byte) (int, error) {
	k, err := b.ReadCloser.Read(p)
	b.n += int64(k)
	if err != nil && err != io.EOF && !b.logged && b.req.Context().Err() == nil {
		b.logged = true
		noteRetry(b.req.Context(), fmt.Sprintf("gcs: connection lost reading %s after %d bytes (%v); resuming", describe(b.req.URL), b.n, err))
	}
	return k, err
}

// describe names the object a request is about, as gs://bucket/object
// where the URL says, and never with the query (which may hold an upload
// session id or a signature).
func describe(u *url.URL) string {
	p := u.Path
	p = strings.TrimPrefix(p, "/upload")
	if rest, ok := strings.CutPrefix(p, "/storage/v1/b/"); ok {
		bucket, obj, _ := strings.Cut(rest, "/o")
		obj = strings.TrimPrefix(obj, "/")
		if obj == "" {
			obj = u.Query().Get("name")
		}
		if obj == "" && u.Query().Has("prefix") {
			return "gs://" + bucket + "/" + u.Query().Get("prefix") + "* (listing)"
		}
		return "gs://" + bucket + "/" + obj
	}
	if p != "" && p != "/" {
		return "gs:/" + p // the XML API: /bucket/object
	}
	return u.Scheme + "://" + u.Host
}

var (
	queryRe  = regexp.MustCompile(`(https?://[^\s"'?]*)\?[^\s"']*`)
	bearerRe = regexp.MustCompile(`(?i)(bearer\s+)[^\s"',]+`)
	tokenRe  = regexp.MustCompile(`ya29\.[A-Za-z0-9_\-.]+|(?i)(access_token|x-goog-signature|signature|upload_id)=[^\s&"']+`)
)

// redact removes from s what must never reach a log or an error message:
// URL query strings (upload session ids, signed-URL signatures), bearer
// and OAuth access tokens, and the token of TokenEnv itself.
func redact(s string) string {
	s = queryRe.ReplaceAllString(s, "$1?REDACTED")
	s = bearerRe.ReplaceAllString(s, "${1}REDACTED")
	s = tokenRe.ReplaceAllString(s, "REDACTED")
	if tok := os.Getenv(TokenEnv); len(tok) >= 8 {
		s = strings.ReplaceAll(s, tok, "REDACTED")
	}
	return s
}

// redactedError is err with a redacted message; errors.Is and As still
// see err.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func redactErr(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if r := redact(msg); r != msg {
		return &redactedError{msg: r, err: err}
	}
	return err
}

func init() { Register("gs", gcsDriver{}) }

// gcsDriver serves gs:// objects through the process's client.
type gcsDriver struct{}

func (gcsDriver) Capabilities() Capabilities {
	return Capabilities{PinnedReads: true, ConditionalWrites: true, Preconditions: true}
}

// gcsHandle returns the handle of the gs:// object p.
func gcsHandle(ctx context.Context, p string) (*gcs.ObjectHandle, error) {
	bucket, object, err := gcsx.ParseObject(p)
	if err != nil {
		return nil, err
	}
	client, err := gcsClient(ctx, gcs.ScopeReadWrite)
	if err != nil {
		return nil, err
	}
	return client.Bucket(bucket).Object(object), nil
}

// gcsNotExist turns the library's "object does not exist" into an error
// that IsNotExist accepts and that reads like a local one.
func gcsNotExist(err error) error {
	if errors.Is(err, gcs.ErrObjectNotExist) {
		return fmt.Errorf("%w (%w)", iofs.ErrNotExist, err)
	}
	return err
}

// isPrecondition reports whether err is GCS's 412 Precondition Failed.
func isPrecondition(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusPreconditionFailed
}

func (gcsDriver) Stat(ctx context.Context, p string) (FileInfo, error) {
	obj, err := gcsHandle(ctx, p)
	if err != nil {
		return FileInfo{}, wrapErr("stat", p, err)
	}
	attrs, err := obj.Attrs(ctx)
	if err != nil {
		return FileInfo{}, wrapErr("stat", p, gcsNotExist(err))
	}
	return FileInfo{Size: attrs.Size, Generation: attrs.Generation}, nil
}

// OpenRange opens n bytes of p from off (n < 0: to the end). Every request
// of the read (the library resumes a broken download with another) names
// the generation of the first, or gen when it is not 0, so a replaced
// object fails the read with ErrChanged.
func (gcsDriver) OpenRange(ctx context.Context, p string, gen, off, n int64) (io.ReadCloser, error) {
	obj, err := gcsHandle(ctx, p)
	if err != nil {
		return nil, wrapErr("open", p, err)
	}
	if gen == 0 {
		r, err := obj.NewRangeReader(ctx, off, n)
		if err != nil {
			return nil, wrapErr("open", p, gcsNotExist(err))
		}
		return &gcsReader{r: r, p: p}, nil
	}
	changed := func(now string) error {
		return wrapErr("open", p, fmt.Errorf("%w since it was planned: generation %d %s", ErrChanged, gen, now))
	}
	r, err := obj.Generation(gen).NewRangeReader(ctx, off, n)
	if errors.Is(err, gcs.ErrObjectNotExist) {
		if attrs, aerr := obj.Attrs(ctx); aerr == nil {
			return nil, changed(fmt.Sprintf("was replaced by generation %d", attrs.Generation))
		}
		return nil, changed("was removed")
	}
	if err != nil {
		return nil, wrapErr("open", p, err)
	}
	return &gcsReader{r: r, p: p}, nil
}

// gcsReader reports an object that changed while it was read.
type gcsReader struct {
	r *gcs.Reader
	p string
}

func (g *gcsReader) Read(b []byte) (int, error) {
	k, err := g.r.Read(b)
	if err != nil && err != io.EOF {
		if errors.Is(err, gcs.ErrObjectNotExist) {
			err = fmt.Errorf("%w while it was being read: generation %d was replaced or removed", ErrChanged, g.r.Attrs.Generation)
		}
		err = wrapErr("read", g.p, err)
	}
	return k, err
}

func (g *gcsReader) Close() error { return g.r.Close() }

// Remove deletes p: its generation is read first and the delete names it
// (with ifGenerationMatch), which makes the delete idempotent, so it is
// retried; a retry that finds the generation gone finds it deleted.
func (gcsDriver) Remove(ctx context.Context, p string) error {
	obj, err := gcsHandle(ctx, p)
	if err != nil {
		return wrapErr("remove", p, err)
	}
	attrs, err := obj.Attrs(ctx)
	if err != nil {
		return wrapErr("remove", p, gcsNotExist(err))
	}
	err = obj.Generation(attrs.Generation).If(gcs.Conditions{GenerationMatch: attrs.Generation}).Delete(ctx)
	if err != nil && !errors.Is(err, gcs.ErrObjectNotExist) {
		return wrapErr("remove", p, err)
	}
	return nil
}

// List lists the objects whose names start with the glob's text before
// its first wildcard, and matches each name (storage/internal/glob).
func (gcsDriver) List(ctx context.Context, pattern string) ([]string, error) {
	files, err := gcsList(ctx, pattern)
	if err != nil {
		return nil, wrapErr("list", pattern, err)
	}
	return files, nil
}

func gcsList(ctx context.Context, pattern string) ([]string, error) {
	// Not gcsx.ParseObject: it parses a URL, where '?' starts the query.
	bucket, name, ok := strings.Cut(strings.TrimPrefix(pattern, "gs://"), "/")
	if !ok || bucket == "" {
		return nil, fmt.Errorf("%q is not gs://BUCKET/GLOB", pattern)
	}
	g, err := glob.Compile(name)
	if err != nil {
		return nil, err
	}
	client, err := gcsClient(ctx, gcs.ScopeReadOnly)
	if err != nil {
		return nil, err
	}
	q := &gcs.Query{Prefix: glob.Prefix(name)}
	if err := q.SetAttrSelection([]string{"Name"}); err != nil {
		return nil, err
	}
	var files []string
	it := client.Bucket(bucket).Objects(ctx, q)
	for {
		a, err := it.Next()
		if err == iterator.Done {
			return files, nil
		}
		if err != nil {
			return nil, err
		}
		if !strings.HasSuffix(a.Name, "/") && g.Match(a.Name) {
			files = append(files, "gs://"+bucket+"/"+a.Name)
		}
	}
}

// MkdirAll does nothing: objects need no directories.
func (gcsDriver) MkdirAll(context.Context, string) error { return nil }

// WriteFile writes the object p with what write writes, on condition that
// p is still what it was when the write began: absent (ifGenerationMatch=0)
// or the generation read then. The condition makes the upload idempotent,
// so the library retries it, and keeps it from replacing an object that
// another writer put there meanwhile (ErrChanged).
func (gcsDriver) WriteFile(ctx context.Context, p string, write func(io.Writer) error) error {
	obj, err := gcsHandle(ctx, p)
	if err != nil {
		return wrapErr("write", p, err)
	}
	var gen int64
	attrs, err := obj.Attrs(ctx)
	switch {
	case err == nil:
		gen = attrs.Generation
	case !errors.Is(err, gcs.ErrObjectNotExist):
		return wrapErr("write", p, err)
	}
	return writeGCSIf(ctx, p, obj, gen, write, ErrChanged)
}

// CreateExclusive writes p on condition ifGenerationMatch=0.
func (gcsDriver) CreateExclusive(ctx context.Context, p string, data []byte) error {
	obj, err := gcsHandle(ctx, p)
	if err != nil {
		return wrapErr("create", p, err)
	}
	return writeGCSIf(ctx, p, obj, 0, writeData(data), ErrExist)
}

// WriteIfGeneration is one conditional upload.
func (gcsDriver) WriteIfGeneration(ctx context.Context, p string, data []byte, gen int64) error {
	obj, err := gcsHandle(ctx, p)
	if err != nil {
		return wrapErr("write", p, err)
	}
	return writeGCSIf(ctx, p, obj, gen, writeData(data), ErrChanged)
}

// ReadGeneration reads the generation first, then that generation.
func (gcsDriver) ReadGeneration(ctx context.Context, p string) ([]byte, int64, error) {
	obj, err := gcsHandle(ctx, p)
	if err != nil {
		return nil, 0, wrapErr("read", p, err)
	}
	attrs, err := obj.Attrs(ctx)
	if err != nil {
		return nil, 0, wrapErr("read", p, gcsNotExist(err))
	}
	r, err := obj.Generation(attrs.Generation).NewReader(ctx)
	if err != nil {
		return nil, 0, wrapErr("read", p, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, 0, wrapErr("read", p, err)
	}
	return b, attrs.Generation, nil
}

// RemoveIfGeneration is one delete that names the generation and carries
// ifGenerationMatch.
func (gcsDriver) RemoveIfGeneration(ctx context.Context, p string, gen int64) error {
	obj, err := gcsHandle(ctx, p)
	if err != nil {
		return wrapErr("remove", p, err)
	}
	if err := obj.Generation(gen).If(gcs.Conditions{GenerationMatch: gen}).Delete(ctx); err != nil {
		if isPrecondition(err) || errors.Is(err, gcs.ErrObjectNotExist) {
			return wrapErr("remove", p, ErrChanged)
		}
		return wrapErr("remove", p, err)
	}
	return nil
}

func (d gcsDriver) AppendLine(ctx context.Context, p string, line []byte) error {
	return appendByRewrite(ctx, d, p, line)
}

// writeGCSIf writes the object p only if it is generation gen (0: only if
// it does not exist); otherwise it returns an error wrapping refused. A
// precondition failure after a retry may be this very write having landed
// before its answer was lost: when the object now holds exactly the bytes
// written (size and CRC32C), the write succeeded.
func writeGCSIf(ctx context.Context, p string, obj *gcs.ObjectHandle, gen int64, write func(io.Writer) error, refused error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cond := gcs.Conditions{GenerationMatch: gen}
	if gen == 0 {
		cond = gcs.Conditions{DoesNotExist: true}
	}
	w := obj.If(cond).NewWriter(ctx)
	sum := &crcWriter{w: w, h: crc32.New(crc32.MakeTable(crc32.Castagnoli))}
	bw := bufio.NewWriterSize(sum, 1<<16)
	err := write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		cancel() // abandons the upload: no object is created
		w.Close()
		return wrapErr("write", p, err)
	}
	if err := w.Close(); err != nil {
		precondition := isPrecondition(err)
		if !precondition && !gcs.ShouldRetry(err) {
			return wrapErr("close", p, err)
		}
		// The library retries an upload's requests, but not the reading of
		// the answer to its last one: a connection lost there may follow an
		// upload that landed. So may a precondition failure after a retry.
		landed := func() bool {
			a, aerr := obj.Attrs(context.WithoutCancel(ctx))
			return aerr == nil && a.Size == sum.n && a.CRC32C == sum.h.Sum32() && (gen == 0 || a.Generation != gen)
		}
		if landed() {
			if !precondition {
				noteRetry(ctx, fmt.Sprintf("gcs: lost the answer to the upload of %s (%v); the object holds the bytes written, so the upload landed", p, err))
			}
			return nil
		}
		if !precondition {
			return wrapErr("close", p, err)
		}
		if gen == 0 {
			return wrapErr("write", p, fmt.Errorf("%w: another writer created it meanwhile", refused))
		}
		return wrapErr("write", p, fmt.Errorf("%w: generation %d, which this write was to replace, is no longer the current one", refused, gen))
	}
	return nil
}

// crcWriter passes writes to w and sums them (CRC32C, as GCS does).
type crcWriter struct {
	w io.Writer
	h hash.Hash32
	n int64
}

func (c *crcWriter) Write(b []byte) (int, error) {
	k, err := c.w.Write(b)
	c.h.Write(b[:k])
	c.n += int64(k)
	return k, err
}
