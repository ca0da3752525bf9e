package hdfs_test

import (
	"context"
	"os"
	"reflect"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"

	_ "github.com/lightbeam-ml/lightbeam/storage/hdfs" // registers hdfs://
	"github.com/lightbeam-ml/lightbeam/storage/hdfstest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	hdfstest.Stop()
	os.Exit(code)
}

// Beam's own IO reaches a real HDFS through Beam's filesystem registry:
// write, read, size, list, rename, remove.
func TestBeamRegistry(t *testing.T) {
	ctx := context.Background()
	root := hdfstest.Root(t)
	fs, err := filesystem.New(ctx, root)
	if err != nil {
		t.Fatalf("Beam has no filesystem for %s: %v", root, err)
	}
	defer fs.Close()
	p := root + "/in/x.csv"
	if err := filesystem.Write(ctx, fs, p, []byte("a,b\n1,2\n")); err != nil {
		t.Fatal(err)
	}
	if b, err := filesystem.Read(ctx, fs, p); err != nil || string(b) != "a,b\n1,2\n" {
		t.Fatalf("Read = %q, %v", b, err)
	}
	if n, err := fs.Size(ctx, p); err != nil || n != 8 {
		t.Errorf("Size = %d, %v; want 8", n, err)
	}
	q := root + "/in/y.csv"
	if err := filesystem.Rename(ctx, fs, p, q); err != nil {
		t.Fatal(err)
	}
	if got, err := fs.List(ctx, root+"/**/*.csv"); err != nil || !reflect.DeepEqual(got, []string{q}) {
		t.Errorf("List = %q, %v; want [%s]", got, err, q)
	}
	if err := fs.(filesystem.Remover).Remove(ctx, q); err != nil {
		t.Fatal(err)
	}
	if got, err := fs.List(ctx, root+"/in/*"); err != nil || len(got) != 0 {
		t.Errorf("List after Remove = %q, %v", got, err)
	}
}
