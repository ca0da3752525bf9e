package storage

// hdfs:// specifics against a real HDFS: Hadoop's MiniDFSCluster, run as a
// separate process by hdfstest (scripts/hdfs.sh). Without java, javac and
// mvn they skip, except under CI=true, where they fail. What every store
// does is in the conformance suite (conformance_test.go).

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lightbeam-ml/lightbeam/storage/hdfs"
	"github.com/lightbeam-ml/lightbeam/storage/hdfstest"
)

// The reader seeks: a range does not read what is before it.
func TestHDFSOpenRangeSeeks(t *testing.T) {
	ctx := context.Background()
	p := Join(hdfstest.Root(t), "range", "f.bin")
	if err := WriteBytes(ctx, p, randomBytes(1000, 3)); err != nil {
		t.Fatal(err)
	}
	r, err := hdfs.FS{}.OpenRead(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, ok := r.(io.Seeker); !ok {
		t.Errorf("the hdfs:// reader is a %T, not an io.Seeker: OpenRange would read and discard", r)
	}
}

// Another HDFS user may read the superuser's files but not write beside
// them: the refusal names the URL and the user.
func TestHDFSPermissionRefused(t *testing.T) {
	ctx := context.Background()
	root := hdfstest.Root(t)
	p := Join(root, "private", "model.safetensors")
	if err := WriteBytes(ctx, p, []byte("weights")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HADOOP_USER_NAME", "intruder")
	if b, err := ReadFile(ctx, p); err != nil || string(b) != "weights" {
		t.Errorf("reading a 0644 file as another user: %q, %v", b, err)
	}
	q := Join(root, "private", "mine.json")
	for what, err := range map[string]error{
		"WriteBytes": WriteBytes(ctx, q, []byte("{}")),
		"Remove":     Remove(ctx, p),
		"MkdirAll":   MkdirAll(ctx, Join(root, "private", "sub")),
	} {
		if !errors.Is(err, iofs.ErrPermission) || !strings.Contains(err.Error(), `"intruder"`) ||
			!strings.Contains(err.Error(), root) || !strings.Contains(err.Error(), "HADOOP_USER_NAME") {
			t.Errorf("%s as another user: error %v, want a permission error naming the path, the user and HADOOP_USER_NAME", what, err)
		}
	}
	if ok, _ := Exists(ctx, q); ok {
		t.Errorf("the refused write left %s", q)
	}
}

// hdfs:/// URLs take the NameNode from HADOOP_CONF_DIR's fs.defaultFS.
func TestHDFSDefaultFS(t *testing.T) {
	ctx := context.Background()
	root := hdfstest.Root(t)
	authority, rest, _ := strings.Cut(strings.TrimPrefix(root, "hdfs://"), "/")
	conf := t.TempDir()
	site := fmt.Sprintf(`<configuration><property><name>fs.defaultFS</name><value>hdfs://%s</value></property></configuration>`, authority)
	if err := os.WriteFile(filepath.Join(conf, "core-site.xml"), []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HADOOP_CONF_DIR", conf)
	short := "hdfs:///" + rest + "/x.txt"
	if err := WriteBytes(ctx, short, []byte("via fs.defaultFS")); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile(ctx, Join(root, "x.txt")); err != nil || string(b) != "via fs.defaultFS" {
		t.Errorf("the file written as %s reads %q, %v at %s", short, b, err, Join(root, "x.txt"))
	}
	if got, err := List(ctx, "hdfs:///"+rest+"/*"); err != nil || !reflect.DeepEqual(got, []string{short}) {
		t.Errorf("List(hdfs:///.../*) = %q, %v; want %q (spelled as the glob)", got, err, short)
	}
	t.Setenv("HADOOP_CONF_DIR", t.TempDir()) // no core-site.xml
	if _, err := ReadFile(ctx, short); err == nil || !strings.Contains(err.Error(), "fs.defaultFS") {
		t.Errorf("hdfs:/// without fs.defaultFS: error %v, want one saying so", err)
	}
}

// A NameNode that does not answer is an error naming the URL and the
// address; once it is back, the same process goes on.
func TestHDFSNamenodeDown(t *testing.T) {
	ctx := context.Background()
	c := hdfstest.Start(t)
	p := c.URL + "/down/report.json"
	if err := WriteBytes(ctx, p, []byte("kept")); err != nil {
		t.Fatal(err)
	}
	c.Stop(t)
	addr := strings.TrimPrefix(c.URL, "hdfs://")
	for what, err := range map[string]error{
		"ReadFile":   func() error { _, err := ReadFile(ctx, p); return err }(),
		"WriteBytes": WriteBytes(ctx, c.URL+"/down/new.json", []byte("x")),
		"List":       func() error { _, err := List(ctx, c.URL+"/down/*"); return err }(),
	} {
		if err == nil || !strings.Contains(err.Error(), "does not answer") || !strings.Contains(err.Error(), addr) ||
			!strings.Contains(err.Error(), c.URL+"/down/") {
			t.Errorf("%s with the namenode down: error %v, want \"does not answer\" naming %s and the URL", what, err, addr)
		}
	}
	if _, err := Exists(ctx, p); err == nil {
		t.Errorf("Exists with the namenode down: no error (a missing namenode is not a missing file)")
	}
	c.Restart(t)
	if b, err := ReadFile(ctx, p); err != nil || string(b) != "kept" {
		t.Errorf("after the restart: %q, %v; want the file written before", b, err)
	}
	if ok, err := Exists(ctx, c.URL+"/down/new.json"); err != nil || ok {
		t.Errorf("the write refused while the namenode was down left a file: %v, %v", ok, err)
	}
}
