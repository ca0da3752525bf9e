package gcstest

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// Log holds the "gcs: " lines that storage logs through slog: one for
// each retried request and each resumed download.
type Log struct {
	mu    sync.Mutex
	lines []string
}

// CaptureLog makes slog's default logger collect storage's "gcs: " lines
// into the Log it returns (and drop every other record) until the test
// ends, when it restores the logger it replaced.
func CaptureLog(t testing.TB) *Log {
	t.Helper()
	l := &Log{}
	old := slog.Default()
	slog.SetDefault(slog.New(logHandler{l}))
	t.Cleanup(func() { slog.SetDefault(old) })
	return l
}

// Lines returns the lines collected so far.
func (l *Log) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

type logHandler struct{ l *Log }

func (h logHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h logHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h logHandler) WithGroup(string) slog.Handler            { return h }
func (h logHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "gcs: ") {
		h.l.mu.Lock()
		h.l.lines = append(h.l.lines, r.Message)
		h.l.mu.Unlock()
	}
	return nil
}
