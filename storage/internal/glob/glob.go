// Package glob is the one glob syntax of storage.List, whatever the scheme:
// a pattern is matched one '/'-separated element at a time.
//
//   - '*' matches any run of characters but '/', '?' one character but '/',
//     '[abc]', '[a-z]', '[^a]' and '[!a]' one character of (not of) a class,
//     and '\' makes the character after it literal;
//   - an element that is exactly "**" matches any number of directories,
//     none included ("data/**/*.csv" is every .csv below data), and a last
//     element "**" every file below ("data/**"); "**" inside an element is
//     two '*'s;
//   - only files match, never directories.
//
// Stores with directories (local paths, hdfs://) are walked with Walk,
// listing only the directories that the pattern's wildcards need; object
// stores (gs://) list a name prefix (Prefix) and Match each name.
package glob

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"syscall"
)

// Pattern is a checked glob.
type Pattern struct{ elems []string }

// Compile checks glob; a malformed element is an error wrapping
// path.ErrBadPattern.
func Compile(glob string) (Pattern, error) {
	elems := strings.Split(glob, "/")
	for i, e := range elems {
		e = strings.ReplaceAll(e, "[!", "[^") // path.Match spells negation '^' only
		if _, err := path.Match(e, ""); err != nil {
			return Pattern{}, fmt.Errorf("glob %q: %w", glob, err)
		}
		elems[i] = e
	}
	return Pattern{elems}, nil
}

// Match reports whether the '/'-separated name (an object name) matches.
func (p Pattern) Match(name string) bool {
	return match(p.elems, strings.Split(name, "/"))
}

func match(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			rest := pat[1:]
			first := 0
			if len(rest) == 0 {
				first = 1 // a last "**" matches files below, at least one element
			}
			for i := first; i <= len(name); i++ {
				if match(rest, name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// Prefix returns the text of glob before its first wildcard or escape:
// every name that matches starts with it.
func Prefix(glob string) string {
	if i := strings.IndexAny(glob, `*?[\`); i >= 0 {
		return glob[:i]
	}
	return glob
}

// FS is a store with directories. *hdfs.Client has these methods.
type FS interface {
	ReadDir(dir string) ([]fs.FileInfo, error)
	Stat(name string) (fs.FileInfo, error)
}

// Walk returns the files of fsys that p matches, sorted, spelled as p is
// (relative when p is). A missing directory matches nothing. An entry
// whose mode has fs.ModeSymlink is followed by the elements that name it,
// never by "**" (no loops).
func (p Pattern) Walk(fsys FS) ([]string, error) {
	elems, dir := p.elems, ""
	if len(elems) > 1 && elems[0] == "" {
		elems, dir = elems[1:], "/"
	}
	var files []string
	if err := walk(fsys, dir, elems, &files); err != nil {
		return nil, err
	}
	slices.Sort(files)
	return slices.Compact(files), nil // "a/**/**/b" reaches a file twice
}

// walk adds to files the files under dir that match elems.
func walk(fsys FS, dir string, elems []string, files *[]string) error {
	// Literal leading elements need no listing.
	i := 0
	for i < len(elems) && !hasMeta(elems[i]) {
		i++
	}
	if i > 0 {
		lit := []string{dir}
		for _, e := range elems[:i] {
			lit = append(lit, unescape(e))
		}
		dir, elems = path.Join(lit...), elems[i:]
	}
	if len(elems) == 0 {
		fi, err := fsys.Stat(dir)
		if missing(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			*files = append(*files, dir)
		}
		return nil
	}
	listed := dir
	if listed == "" {
		listed = "."
	}
	entries, err := fsys.ReadDir(listed)
	if missing(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if elems[0] != "**" {
		return matchEntries(fsys, dir, entries, elems, files)
	}
	// Zero directories: the rest applies here.
	if err := matchEntries(fsys, dir, entries, elems[1:], files); err != nil {
		return err
	}
	// One or more: descend, keeping "**".
	for _, e := range entries {
		if e.IsDir() && e.Mode()&fs.ModeSymlink == 0 {
			if err := walk(fsys, path.Join(dir, e.Name()), elems, files); err != nil {
				return err
			}
		}
	}
	return nil
}

// matchEntries applies elems to the listed entries of dir.
func matchEntries(fsys FS, dir string, entries []fs.FileInfo, elems []string, files *[]string) error {
	if len(elems) == 0 {
		// "**" last: every file of dir; the descent adds the deeper ones.
		for _, e := range entries {
			if !e.IsDir() {
				*files = append(*files, path.Join(dir, e.Name()))
			}
		}
		return nil
	}
	if elems[0] == "**" {
		return matchEntries(fsys, dir, entries, elems[1:], files)
	}
	last := len(elems) == 1
	for _, e := range entries {
		if ok, _ := path.Match(elems[0], e.Name()); !ok {
			continue
		}
		p := path.Join(dir, e.Name())
		switch {
		case last && !e.IsDir():
			*files = append(*files, p)
		case !last && e.IsDir():
			if err := walk(fsys, p, elems[1:], files); err != nil {
				return err
			}
		}
	}
	return nil
}

// missing reports whether err says there is no such directory or file.
func missing(err error) bool {
	return err != nil && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) ||
		strings.Contains(err.Error(), "not a directory"))
}

func hasMeta(elem string) bool { return strings.ContainsAny(elem, "*?[") }

// unescape drops the '\' escapes of a literal path element.
func unescape(elem string) string {
	if !strings.Contains(elem, `\`) {
		return elem
	}
	var b strings.Builder
	for i := 0; i < len(elem); i++ {
		if elem[i] == '\\' && i+1 < len(elem) {
			i++
		}
		b.WriteByte(elem[i])
	}
	return b.String()
}
