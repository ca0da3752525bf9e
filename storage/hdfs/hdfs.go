// Package hdfs is the Beam filesystem of hdfs:// URLs, on the Go HDFS client
// github.com/colinmarc/hdfs/v2 (a native client of the NameNode's RPC and
// the DataNodes' transfer protocol: no JVM, no libhdfs). Importing it
// registers the "hdfs" scheme with Beam's filesystem registry, so Beam's
// textio reads and writes HDFS like local paths and gs://; lightbeam's
// storage package (which imports it) calls FS and the conditional
// operations directly, from its hdfs:// driver.
//
// # URLs and configuration
//
//	hdfs://namenode:8020/data/x.csv   the NameNode at namenode:8020
//	hdfs://namenode/data/x.csv        port 8020, or, if "namenode" is an HA nameservice of
//	                                  HADOOP_CONF_DIR's hdfs-site.xml, its NameNodes
//	hdfs:///data/x.csv                the NameNode of fs.defaultFS in HADOOP_CONF_DIR's
//	                                  core-site.xml (or HADOOP_HOME/conf)
//
// Requests act as the user HADOOP_USER_NAME, else the OS user (simple
// authentication, as Hadoop's own clients do without Kerberos). Kerberos is
// not supported: a configuration with hadoop.security.authentication=kerberos
// is refused with an error saying so. dfs.client.use.datanode.hostname is
// honoured. One client is kept per NameNode address list and user, for the
// life of the process, and reconnects by itself after a NameNode restart.
//
// # Guarantees
//
// A file is written under its final name only by a rename of a complete
// temporary file (the storage package's WriteFile, and the conditional
// operations of this package), and a rename that replaces a file is one
// NameNode operation, so readers see the old file or the new one, whole.
// Errors name the URL; a NameNode that does not answer and a permission
// refusal get their own messages (Unavailable, fs.ErrPermission), and a
// missing file wraps fs.ErrNotExist.
package hdfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"net"
	"os"
	"os/user"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"

	gohdfs "github.com/colinmarc/hdfs/v2"
	"github.com/colinmarc/hdfs/v2/hadoopconf"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
)

func init() {
	filesystem.Register("hdfs", func(context.Context) filesystem.Interface { return FS{} })
}

// DefaultPort is the NameNode RPC port of a URL that names none.
const DefaultPort = "8020"

// dialTimeout bounds connecting to a NameNode or DataNode, so that an
// address that drops packets fails instead of hanging.
const dialTimeout = 20 * time.Second

// Unavailable is the error of a request that the cluster did not answer: the
// NameNode (or a DataNode) refused or dropped the connection.
type Unavailable struct {
	Addrs []string // the NameNode addresses tried
	Err   error    // what the connection said
}

func (e *Unavailable) Error() string {
	return fmt.Sprintf("the HDFS namenode %s does not answer (is it running, and is this its RPC address?): %v",
		strings.Join(e.Addrs, ","), e.Err)
}

func (e *Unavailable) Unwrap() error { return e.Err }

// target is a parsed hdfs:// URL: whom to ask, as whom, and for what.
type target struct {
	prefix string   // "hdfs://AUTHORITY" exactly as the URL spells it
	addrs  []string // NameNode RPC addresses
	user   string   // HDFS user
	path   string   // absolute path on the cluster, cleaned ("/" at least)
	conf   hadoopconf.HadoopConf
}

// url returns the URL of the cluster path p in t's spelling.
func (t target) url(p string) string { return t.prefix + p }

// parse splits an hdfs:// URL into its target. It does not use net/url: a
// glob's '?' and '[' are not a query or an IPv6 literal.
func parse(raw string) (target, error) {
	rest, ok := strings.CutPrefix(raw, "hdfs://")
	if !ok {
		return target{}, fmt.Errorf("%q is not an hdfs:// URL", raw)
	}
	auth, p := rest, "/"
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		auth, p = rest[:i], rest[i:]
	}
	conf, err := loadConf()
	if err != nil {
		return target{}, err
	}
	t := target{prefix: "hdfs://" + auth, path: path.Clean(p), conf: conf}
	if t.addrs, err = namenodes(auth, conf); err != nil {
		return target{}, fmt.Errorf("%s: %w", raw, err)
	}
	if t.user, err = userName(); err != nil {
		return target{}, err
	}
	return t, nil
}

// namenodes returns the RPC addresses of the NameNodes that the URL
// authority auth names.
func namenodes(auth string, conf hadoopconf.HadoopConf) ([]string, error) {
	if auth == "" {
		def := conf["fs.defaultFS"]
		if def == "" {
			def = conf["fs.default.name"]
		}
		a, ok := strings.CutPrefix(def, "hdfs://")
		if !ok {
			if def == "" {
				return nil, errors.New("the URL names no namenode (hdfs:///...) and no fs.defaultFS is configured (set HADOOP_CONF_DIR to a directory with core-site.xml)")
			}
			return nil, fmt.Errorf("the URL names no namenode and fs.defaultFS is %q, not an hdfs:// URL", def)
		}
		a, _, _ = strings.Cut(a, "/")
		if a == "" {
			return nil, fmt.Errorf("fs.defaultFS %q names no namenode", def)
		}
		return namenodes(a, conf)
	}
	if _, _, err := net.SplitHostPort(auth); err == nil {
		return []string{auth}, nil
	}
	if ids := conf["dfs.ha.namenodes."+auth]; ids != "" {
		var addrs []string
		for _, id := range strings.Split(ids, ",") {
			key := "dfs.namenode.rpc-address." + auth + "." + strings.TrimSpace(id)
			a := conf[key]
			if a == "" {
				return nil, fmt.Errorf("nameservice %s: %s is not configured", auth, key)
			}
			addrs = append(addrs, a)
		}
		return addrs, nil
	}
	return []string{net.JoinHostPort(auth, DefaultPort)}, nil
}

// userName returns the HDFS user: HADOOP_USER_NAME, else the OS user.
func userName() (string, error) {
	if u := os.Getenv("HADOOP_USER_NAME"); u != "" {
		return u, nil
	}
	u, err := user.Current()
	if err != nil {
		return "", fmt.Errorf("hdfs: no HADOOP_USER_NAME and no OS user: %w", err)
	}
	return u.Username, nil
}

var confCache struct {
	mu   sync.Mutex
	key  string
	conf hadoopconf.HadoopConf
	err  error
}

// loadConf reads HADOOP_CONF_DIR's (else HADOOP_HOME/conf's) XML files,
// once per value of those variables.
func loadConf() (hadoopconf.HadoopConf, error) {
	key := os.Getenv("HADOOP_CONF_DIR") + "\x00" + os.Getenv("HADOOP_HOME")
	confCache.mu.Lock()
	defer confCache.mu.Unlock()
	if confCache.key != key || (confCache.conf == nil && confCache.err == nil) {
		conf, err := hadoopconf.LoadFromEnvironment()
		if err != nil {
			err = fmt.Errorf("hdfs: reading the Hadoop configuration (HADOOP_CONF_DIR=%q): %w", os.Getenv("HADOOP_CONF_DIR"), err)
		}
		if conf == nil {
			conf = hadoopconf.HadoopConf{}
		}
		confCache.key, confCache.conf, confCache.err = key, conf, err
	}
	return confCache.conf, confCache.err
}

var clients struct {
	mu sync.Mutex
	m  map[string]*gohdfs.Client
}

// client returns the cached client of t's NameNodes and user, connecting
// on first use.
func (t target) client() (*gohdfs.Client, error) {
	key := t.key()
	clients.mu.Lock()
	defer clients.mu.Unlock()
	if c := clients.m[key]; c != nil {
		return c, nil
	}
	opts := gohdfs.ClientOptionsFromConf(t.conf)
	if opts.KerberosClient != nil {
		return nil, errors.New("hdfs: the Hadoop configuration asks for Kerberos (hadoop.security.authentication=kerberos), which lightbeam does not support yet; only simple authentication (HADOOP_USER_NAME) works")
	}
	dial := (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	opts.Addresses, opts.User = t.addrs, t.user
	opts.NamenodeDialFunc, opts.DatanodeDialFunc = dial, dial
	c, err := gohdfs.NewClient(opts)
	if err != nil {
		return nil, &Unavailable{Addrs: t.addrs, Err: err}
	}
	if clients.m == nil {
		clients.m = map[string]*gohdfs.Client{}
	}
	clients.m[key] = c
	return c, nil
}

// explain turns an error of the client into one that says what happened,
// keeping fs.ErrNotExist, fs.ErrExist and fs.ErrPermission in its chain.
func (t target) explain(err error) error {
	if err == nil {
		return nil
	}
	var pe *iofs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var ua *Unavailable
	var remote gohdfs.Error
	switch {
	case errors.As(err, &ua):
		return err
	case errors.As(err, &remote):
		switch remote.Exception() {
		case "java.io.FileNotFoundException":
			return iofs.ErrNotExist
		case "org.apache.hadoop.security.AccessControlException":
			return t.denied(firstLine(remote.Message()))
		case "org.apache.hadoop.fs.FileAlreadyExistsException":
			return iofs.ErrExist
		}
		return fmt.Errorf("%s: %s", remote.Exception(), firstLine(remote.Message()))
	case errors.Is(err, iofs.ErrPermission):
		return t.denied("")
	case errors.Is(err, iofs.ErrNotExist), errors.Is(err, iofs.ErrExist):
		return err
	case unreachable(err):
		t.forget()
		return &Unavailable{Addrs: t.addrs, Err: err}
	}
	return err
}

// forget drops t's cached client after a connection failure, so that the
// next request connects anew at once (the client itself would wait 5 s
// before it dials a failed NameNode again, and report the old error
// meanwhile). The client is closed ten minutes later, when requests still
// using it have ended.
func (t target) forget() {
	key := t.key()
	clients.mu.Lock()
	defer clients.mu.Unlock()
	if c := clients.m[key]; c != nil {
		delete(clients.m, key)
		time.AfterFunc(10*time.Minute, func() { c.Close() })
	}
}

func (t target) key() string { return strings.Join(t.addrs, ",") + "\x00" + t.user }

func (t target) denied(detail string) error {
	if detail != "" {
		detail = " (" + detail + ")"
	}
	return fmt.Errorf("%w: HDFS refuses user %q%s; set HADOOP_USER_NAME to act as another user", iofs.ErrPermission, t.user, detail)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// unreachable reports whether err is a connection failure rather than an
// answer.
func unreachable(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "no available namenodes")
}

// pathErr is the error of op on the URL of t.
func (t target) pathErr(op string, err error) error {
	return &iofs.PathError{Op: op, Path: t.url(t.path), Err: t.explain(err)}
}

// open parses raw and returns its target and client.
func open(raw string) (target, *gohdfs.Client, error) {
	t, err := parse(raw)
	if err != nil {
		return target{}, nil, err
	}
	c, err := t.client()
	if err != nil {
		return target{}, nil, &iofs.PathError{Op: "connect", Path: raw, Err: err}
	}
	return t, c, nil
}

// FS implements Beam's filesystem.Interface, Remover, Renamer and
// LastModifiedGetter for hdfs:// URLs; storage's hdfs:// driver calls it
// directly. It holds nothing: clients are cached per NameNode and user.
type FS struct{}

func (FS) Close() error { return nil }

// OpenRead opens a file for reading. The reader is an io.Seeker: a seek
// starts the next read at that offset (storage.OpenRange uses it).
func (FS) OpenRead(_ context.Context, name string) (io.ReadCloser, error) {
	t, c, err := open(name)
	if err != nil {
		return nil, err
	}
	f, err := c.Open(t.path)
	if err != nil {
		return nil, t.pathErr("open", err)
	}
	if f.Stat().IsDir() {
		f.Close()
		return nil, t.pathErr("open", errors.New("is a directory"))
	}
	return &reader{f: f, t: t}, nil
}

type reader struct {
	f *gohdfs.FileReader
	t target
}

func (r *reader) Read(b []byte) (int, error) {
	n, err := r.f.Read(b)
	if err != nil && err != io.EOF {
		err = r.t.pathErr("read", err)
	}
	return n, err
}

func (r *reader) Seek(off int64, whence int) (int64, error) {
	n, err := r.f.Seek(off, whence)
	if err != nil {
		err = r.t.pathErr("seek", err)
	}
	return n, err
}

func (r *reader) Close() error { return r.f.Close() }

// OpenWrite creates the file name (and its missing parent directories),
// replacing a file that is there. The file is complete when Close returns
// nil; before, it is visible with a partial length, so final outputs are
// written to a temporary name and renamed (storage.WriteFile does).
func (FS) OpenWrite(_ context.Context, name string) (io.WriteCloser, error) {
	t, c, err := open(name)
	if err != nil {
		return nil, err
	}
	w, err := create(t, c, t.path, true)
	if err != nil {
		return nil, t.pathErr("create", err)
	}
	return &writer{w: w, t: t}, nil
}

// create creates the file p with the server's default replication and
// block size, after its parent directories; replace removes a file that is
// there first (HDFS creates only new files).
func create(t target, c *gohdfs.Client, p string, replace bool) (*gohdfs.FileWriter, error) {
	if err := c.MkdirAll(path.Dir(p), 0o755); err != nil {
		return nil, err
	}
	if replace {
		if err := c.Remove(p); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return nil, err
		}
	}
	d, err := c.ServerDefaults()
	if err != nil {
		return nil, err
	}
	return c.CreateFile(p, d.Replication, d.BlockSize, 0o644)
}

type writer struct {
	w *gohdfs.FileWriter
	t target
}

func (w *writer) Write(b []byte) (int, error) {
	n, err := w.w.Write(b)
	if err != nil {
		err = w.t.pathErr("write", err)
	}
	return n, err
}

// Close completes the file. The NameNode may answer that the last block is
// still being replicated; like Hadoop's Java client, it asks again with
// backoff, for up to a minute (Java's 12 s default was seen to run out
// on a loaded 2-core machine with the MiniDFSCluster beside the tests).
func (w *writer) Close() error {
	if err := closeFile(w.w); err != nil {
		return w.t.pathErr("close", err)
	}
	return nil
}

func closeFile(w *gohdfs.FileWriter) error {
	wait, deadline := 50*time.Millisecond, time.Now().Add(time.Minute)
	for {
		err := w.Close()
		if err == nil || !gohdfs.IsErrReplicating(err) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(wait)
		wait = min(2*wait, 2*time.Second)
	}
}

// Size returns the length of a file.
func (FS) Size(_ context.Context, name string) (int64, error) {
	t, c, err := open(name)
	if err != nil {
		return 0, err
	}
	fi, err := c.Stat(t.path)
	if err != nil {
		return 0, t.pathErr("stat", err)
	}
	return fi.Size(), nil
}

// LastModified returns a file's modification time (the NameNode's clock).
func (FS) LastModified(_ context.Context, name string) (time.Time, error) {
	t, c, err := open(name)
	if err != nil {
		return time.Time{}, err
	}
	fi, err := c.Stat(t.path)
	if err != nil {
		return time.Time{}, t.pathErr("stat", err)
	}
	return fi.ModTime(), nil
}

// Remove removes a file, or an empty directory.
func (FS) Remove(_ context.Context, name string) error {
	t, c, err := open(name)
	if err != nil {
		return err
	}
	if err := c.Remove(t.path); err != nil {
		return t.pathErr("remove", err)
	}
	return nil
}

// Rename moves oldpath to newpath (creating newpath's parent directories),
// replacing a file at newpath, in one NameNode operation (rename2 with
// OVERWRITE): a reader of newpath sees the old file or the new one.
func (FS) Rename(_ context.Context, oldpath, newpath string) error {
	from, c, err := open(oldpath)
	if err != nil {
		return err
	}
	to, err := parse(newpath)
	if err != nil {
		return err
	}
	if strings.Join(from.addrs, ",") != strings.Join(to.addrs, ",") || from.user != to.user {
		return fmt.Errorf("rename %s to %s: not on the same HDFS namenode", oldpath, newpath)
	}
	if err := c.MkdirAll(path.Dir(to.path), 0o755); err != nil {
		return to.pathErr("rename into", err)
	}
	if err := c.Rename(from.path, to.path); err != nil {
		return from.pathErr("rename to "+newpath+" from", err)
	}
	return nil
}

// MkdirAll creates the directory at the hdfs:// URL dir and its missing
// parents (mkdir -p); an existing directory is fine, a file there is not.
func MkdirAll(_ context.Context, dir string) error {
	t, c, err := open(dir)
	if err != nil {
		return err
	}
	if err := c.MkdirAll(t.path, 0o755); err != nil {
		return t.pathErr("mkdir", err)
	}
	return nil
}
