package hdfs

// Tests without a cluster: URLs, the Hadoop configuration, and error
// messages. The filesystem itself is tested against a real HDFS by the
// storage package's conformance suite (storage/storagetest) and
// beam_test.go.

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
)

func writeConf(t *testing.T, props map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	var core, hdfs strings.Builder
	for k, v := range props {
		b := &core
		if strings.HasPrefix(k, "dfs.") {
			b = &hdfs
		}
		fmt.Fprintf(b, "<property><name>%s</name><value>%s</value></property>\n", k, v)
	}
	for name, body := range map[string]string{"core-site.xml": core.String(), "hdfs-site.xml": hdfs.String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("<configuration>\n"+body+"</configuration>\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestParse(t *testing.T) {
	t.Setenv("HADOOP_CONF_DIR", writeConf(t, map[string]string{
		"fs.defaultFS":                      "hdfs://prod",
		"dfs.nameservices":                  "prod",
		"dfs.ha.namenodes.prod":             "nn1, nn2",
		"dfs.namenode.rpc-address.prod.nn1": "nn1.example:8020",
		"dfs.namenode.rpc-address.prod.nn2": "nn2.example:8020",
	}))
	t.Setenv("HADOOP_USER_NAME", "etl")
	for _, tc := range []struct {
		url, prefix, path string
		addrs             []string
	}{
		{"hdfs://nn:9000/data/x.csv", "hdfs://nn:9000", "/data/x.csv", []string{"nn:9000"}},
		{"hdfs://nn/data/", "hdfs://nn", "/data", []string{"nn:8020"}},
		{"hdfs://nn", "hdfs://nn", "/", []string{"nn:8020"}},
		{"hdfs://[::1]:9000/a", "hdfs://[::1]:9000", "/a", []string{"[::1]:9000"}},
		{"hdfs://prod/a/b", "hdfs://prod", "/a/b", []string{"nn1.example:8020", "nn2.example:8020"}},
		{"hdfs:///a/part-?[0-9].csv", "hdfs://", "/a/part-?[0-9].csv", []string{"nn1.example:8020", "nn2.example:8020"}},
	} {
		got, err := parse(tc.url)
		if err != nil {
			t.Errorf("parse(%s): %v", tc.url, err)
			continue
		}
		if got.prefix != tc.prefix || got.path != tc.path || !reflect.DeepEqual(got.addrs, tc.addrs) || got.user != "etl" {
			t.Errorf("parse(%s) = prefix %q path %q addrs %q user %q; want %q %q %q etl", tc.url, got.prefix, got.path, got.addrs, got.user, tc.prefix, tc.path, tc.addrs)
		}
		if u := got.url(got.path); tc.url != "hdfs://nn/data/" && tc.url != "hdfs://nn" && u != tc.url {
			t.Errorf("url(path) of %s = %s", tc.url, u)
		}
	}
}

func TestParseErrors(t *testing.T) {
	t.Setenv("HADOOP_CONF_DIR", t.TempDir()) // no files
	t.Setenv("HADOOP_HOME", "")
	if _, err := parse("hdfs:///x"); err == nil || !strings.Contains(err.Error(), "fs.defaultFS") || !strings.Contains(err.Error(), "HADOOP_CONF_DIR") {
		t.Errorf("hdfs:/// without a configuration: %v, want an error naming fs.defaultFS and HADOOP_CONF_DIR", err)
	}
	t.Setenv("HADOOP_CONF_DIR", writeConf(t, map[string]string{"fs.defaultFS": "file:///"}))
	if _, err := parse("hdfs:///x"); err == nil || !strings.Contains(err.Error(), `"file:///"`) {
		t.Errorf("hdfs:/// with a non-HDFS fs.defaultFS: %v", err)
	}
	t.Setenv("HADOOP_CONF_DIR", writeConf(t, map[string]string{"dfs.ha.namenodes.prod": "nn1,nn2", "dfs.namenode.rpc-address.prod.nn1": "a:1"}))
	if _, err := parse("hdfs://prod/x"); err == nil || !strings.Contains(err.Error(), "dfs.namenode.rpc-address.prod.nn2") {
		t.Errorf("a nameservice missing an address: %v", err)
	}
	if _, err := parse("gs://b/x"); err == nil {
		t.Error("parse accepted gs://")
	}
}

// Kerberos is out of scope: a configuration that asks for it is refused
// with a message that says so, before any connection.
func TestKerberosRefused(t *testing.T) {
	t.Setenv("HADOOP_CONF_DIR", writeConf(t, map[string]string{"hadoop.security.authentication": "kerberos"}))
	_, err := filesystem.Read(context.Background(), FS{}, "hdfs://127.0.0.1:1/x")
	if err == nil || !strings.Contains(err.Error(), "Kerberos") || !strings.Contains(err.Error(), "hdfs://127.0.0.1:1/x") {
		t.Errorf("a Kerberos configuration: %v, want a refusal naming Kerberos and the URL", err)
	}
}

// A port where nothing listens: Unavailable, naming the address and the
// URL, at once.
func TestNothingListens(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	t.Setenv("HADOOP_CONF_DIR", t.TempDir())
	url := "hdfs://" + addr + "/data/x.csv"
	_, err = FS{}.Size(context.Background(), url)
	var ua *Unavailable
	if !errors.As(err, &ua) || !strings.Contains(err.Error(), url) || !strings.Contains(err.Error(), addr+" does not answer") {
		t.Errorf("Size on a closed port: %v, want Unavailable naming %s and %s", err, url, addr)
	}
	if errors.Is(err, iofs.ErrNotExist) {
		t.Error("a namenode that does not answer reads as a missing file")
	}
}

func TestExplain(t *testing.T) {
	tg := target{prefix: "hdfs://nn:1", addrs: []string{"nn:1"}, user: "bob", path: "/x"}
	for _, tc := range []struct {
		err  error
		is   error
		text string
	}{
		{&os.PathError{Op: "open", Path: "/x", Err: os.ErrNotExist}, iofs.ErrNotExist, "not exist"},
		{&os.PathError{Op: "create", Path: "/x", Err: os.ErrPermission}, iofs.ErrPermission, `HDFS refuses user "bob"`},
		{&os.PathError{Op: "create", Path: "/x", Err: os.ErrExist}, iofs.ErrExist, "exists"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, nil, "namenode nn:1 does not answer"},
		{errors.New("no available namenodes: EOF"), nil, "does not answer"},
	} {
		got := tg.explain(tc.err)
		if (tc.is != nil && !errors.Is(got, tc.is)) || !strings.Contains(got.Error(), tc.text) {
			t.Errorf("explain(%v) = %v, want %v containing %q", tc.err, got, tc.is, tc.text)
		}
	}
}
