package glob

import (
	"errors"
	"io/fs"
	"path"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		glob, name string
		want       bool
	}{
		{"a/*.lbs", "a/x.lbs", true},
		{"a/*.lbs", "a/s/x.lbs", false},
		{"a/**.lbs", "a/s/x.lbs", false}, // "**" inside an element is "*"
		{"a/**.lbs", "a/x.lbs", true},
		{"a/**/x.lbs", "a/x.lbs", true},
		{"a/**/x.lbs", "a/s/t/x.lbs", true},
		{"a/**", "a/s/t/x.lbs", true},
		{"a/**", "a", false}, // files below a, not a
		{"**", "x", true},
		{"a/?-[01].lbs", "a/b-1.lbs", true},
		{"a/?-[!01].lbs", "a/b-1.lbs", false},
		{"a/?-[^01].lbs", "a/b-2.lbs", true},
		{"a/x+(1).lbs", "a/x+(1).lbs", true},
		{`a/x\*`, "a/x*", true},
		{`a/x\*`, "a/xy", false},
		{"a/*", "a/.hidden", true},
		{"*", "a/b", false},
	} {
		g, err := Compile(tc.glob)
		if err != nil {
			t.Fatal(err)
		}
		if got := g.Match(tc.name); got != tc.want {
			t.Errorf("glob %q on %q: %v, want %v", tc.glob, tc.name, got, tc.want)
		}
	}
	if _, err := Compile("a/[bc"); !errors.Is(err, path.ErrBadPattern) {
		t.Errorf("a glob with an unclosed '[': %v, want path.ErrBadPattern", err)
	}
}

func TestPrefix(t *testing.T) {
	for glob, want := range map[string]string{
		"a/b/*.lbs": "a/b/", "a/x?": "a/x", "a/[bc]": "a/", `a/x\*`: "a/x", "a/b": "a/b",
	} {
		if got := Prefix(glob); got != want {
			t.Errorf("Prefix(%q) = %q, want %q", glob, got, want)
		}
	}
}

// memFS is a directory tree in memory: its files' paths.
type memFS []string

type info struct {
	name string
	dir  bool
}

func (i info) Name() string       { return i.name }
func (i info) Size() int64        { return 0 }
func (i info) Mode() fs.FileMode  { return map[bool]fs.FileMode{true: fs.ModeDir}[i.dir] }
func (i info) ModTime() time.Time { return time.Time{} }
func (i info) IsDir() bool        { return i.dir }
func (i info) Sys() any           { return nil }

func (m memFS) Stat(name string) (fs.FileInfo, error) {
	for _, f := range m {
		if f == name {
			return info{path.Base(name), false}, nil
		}
		if strings.HasPrefix(f, name+"/") {
			return info{path.Base(name), true}, nil
		}
	}
	return nil, fs.ErrNotExist
}

func (m memFS) ReadDir(dir string) ([]fs.FileInfo, error) {
	if fi, err := m.Stat(dir); err != nil || !fi.IsDir() {
		if err == nil {
			err = errors.New("not a directory")
		}
		return nil, err
	}
	seen := map[string]bool{}
	var out []fs.FileInfo
	for _, f := range m {
		rest, ok := strings.CutPrefix(f, strings.TrimSuffix(dir, "/")+"/")
		if !ok {
			continue
		}
		name, _, deeper := strings.Cut(rest, "/")
		if !seen[name] {
			seen[name] = true
			out = append(out, info{name, deeper})
		}
	}
	return out, nil
}

// Walk lists what Match accepts, from an absolute root, and only files.
func TestWalk(t *testing.T) {
	tree := memFS{"/d/shards/a.lbs", "/d/shards/b.lbs", "/d/shards/sub/c.lbs", "/d/shards/sub/deep/d.lbs", "/d/x/a.lbs", "/d/r.jsonl"}
	for _, tc := range []struct {
		glob string
		want []string
	}{
		{"/d/shards/*", []string{"/d/shards/a.lbs", "/d/shards/b.lbs"}},
		{"/d/*/a.lbs", []string{"/d/shards/a.lbs", "/d/x/a.lbs"}},
		{"/d/**/*.lbs", []string{"/d/shards/a.lbs", "/d/shards/b.lbs", "/d/shards/sub/c.lbs", "/d/shards/sub/deep/d.lbs", "/d/x/a.lbs"}},
		{"/d/**/**/d.lbs", []string{"/d/shards/sub/deep/d.lbs"}},
		{"/d/shards/sub/**", []string{"/d/shards/sub/c.lbs", "/d/shards/sub/deep/d.lbs"}},
		{"/d/r.jsonl", []string{"/d/r.jsonl"}},
		{"/d/r.jsonl/*", nil},
		{"/d/shards", nil},
		{"/nothing/**", nil},
	} {
		g, err := Compile(tc.glob)
		if err != nil {
			t.Fatal(err)
		}
		got, err := g.Walk(tree)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Walk(%s) = %q, %v; want %q", tc.glob, got, err, tc.want)
		}
		var matched []string
		for _, f := range tree {
			if g.Match(f) {
				matched = append(matched, f)
			}
		}
		sort.Strings(matched)
		if !reflect.DeepEqual(matched, tc.want) {
			t.Errorf("Match(%s) accepts %q, Walk lists %q", tc.glob, matched, tc.want)
		}
	}
}

func TestUnescape(t *testing.T) {
	if got := unescape(`a\b\\c`); got != `ab\c` {
		t.Errorf("unescape = %q", got)
	}
}
