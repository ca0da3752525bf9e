package hdfs

import (
	"context"
	"errors"
	iofs "io/fs"
	"os"
	"path"
	"slices"
	"sort"
	"strings"

	gohdfs "github.com/colinmarc/hdfs/v2"
)

// List returns the files (never directories) that glob matches, sorted, as
// URLs spelled like glob. HDFS has directories, so a glob is matched one
// path element at a time, as filepath.Match does for local paths and
// Hadoop's globStatus does:
//
//   - '*' matches any run of characters but '/', '?' one character but '/',
//     '[abc]', '[a-z]', '[^a]' and '[!a]' one character of (not of) a class,
//     and '\' escapes the character after it;
//   - an element "**" matches any number of directories, none included
//     ("hdfs://nn/data/**/*.csv" is every .csv below /data);
//   - a glob without wildcards lists the file it names, if it exists.
//
// Only the directories a glob's wildcards need are listed. A missing
// directory matches nothing; a malformed pattern is path.ErrBadPattern.
func (fsys) List(_ context.Context, glob string) ([]string, error) {
	t, c, err := open(glob)
	if err != nil {
		return nil, err
	}
	elems := strings.Split(strings.TrimPrefix(t.path, "/"), "/")
	for i, e := range elems {
		elems[i] = strings.ReplaceAll(e, "[!", "[^")
		if _, err := path.Match(elems[i], ""); err != nil {
			return nil, t.pathErr("list", err)
		}
	}
	var files []string
	if err := walkGlob(c, "/", elems, &files); err != nil {
		return nil, t.pathErr("list", err)
	}
	sort.Strings(files)
	files = slices.Compact(files) // "a/**/**/b" reaches a file twice
	for i, f := range files {
		files[i] = t.url(f)
	}
	return files, nil
}

// walkGlob adds to files the files under dir that match the path elements
// elems.
func walkGlob(c *gohdfs.Client, dir string, elems []string, files *[]string) error {
	// Literal leading elements need no listing.
	i := 0
	for i < len(elems) && !hasMeta(elems[i]) {
		i++
	}
	if i > 0 {
		lit := make([]string, 0, i)
		for _, e := range elems[:i] {
			lit = append(lit, unescape(e))
		}
		dir = path.Join(append([]string{dir}, lit...)...)
		elems = elems[i:]
	}
	if len(elems) == 0 {
		fi, err := c.Stat(dir)
		if errors.Is(err, iofs.ErrNotExist) {
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
	entries, err := c.ReadDir(dir)
	if errors.Is(err, iofs.ErrNotExist) || (err != nil && strings.Contains(err.Error(), "not a directory")) {
		return nil
	}
	if err != nil {
		return err
	}
	if elems[0] == "**" {
		// Zero directories: the rest applies here.
		if err := matchEntries(c, dir, entries, elems[1:], files); err != nil {
			return err
		}
		// One or more: descend, keeping "**".
		for _, e := range entries {
			if e.IsDir() {
				if err := walkGlob(c, path.Join(dir, e.Name()), elems, files); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return matchEntries(c, dir, entries, elems, files)
}

// matchEntries applies elems to the already listed entries of dir (the
// zero-directory case of "**").
func matchEntries(c *gohdfs.Client, dir string, entries []os.FileInfo, elems []string, files *[]string) error {
	if len(elems) == 0 {
		// "**" last: every file below dir; the descent adds the deeper ones.
		for _, e := range entries {
			if !e.IsDir() {
				*files = append(*files, path.Join(dir, e.Name()))
			}
		}
		return nil
	}
	if elems[0] == "**" {
		return matchEntries(c, dir, entries, elems[1:], files)
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
			if err := walkGlob(c, p, elems[1:], files); err != nil {
				return err
			}
		}
	}
	return nil
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
