// Package deploy holds the files that schedule lightbeam nightly (a crontab, systemd units,
// Kubernetes manifests, a Dockerfile; docs/NIGHTLY.md) and, here, their tests: every
// Kubernetes document decodes strictly into its k8s.io/api type (a misspelt field is an
// error), the properties docs/NIGHTLY.md promises hold, systemd-analyze accepts the units,
// and the crontab line and the CronJob's wrapper are run, with a stand-in lightbeam for each
// exit code and with the real binary on empty local folders.
package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/intstr"
	kyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// ---- Kubernetes: strict decoding ------------------------------------------------------------

// manifestKinds are the only kinds the manifests may hold; the scheme knows no others, so any
// other apiVersion/kind is an error too.
var manifestKinds = map[schema.GroupVersionKind]runtime.Object{
	batchv1.SchemeGroupVersion.WithKind("CronJob"):       &batchv1.CronJob{},
	corev1.SchemeGroupVersion.WithKind("ServiceAccount"): &corev1.ServiceAccount{},
	corev1.SchemeGroupVersion.WithKind("Service"):        &corev1.Service{},
	appsv1.SchemeGroupVersion.WithKind("Deployment"):     &appsv1.Deployment{},
}

var strictYAML = func() *kjson.Serializer {
	scheme := runtime.NewScheme()
	for gvk, obj := range manifestKinds {
		scheme.AddKnownTypeWithName(gvk, obj.DeepCopyObject())
	}
	// Strict: unknown fields, fields in the wrong case and duplicate keys are errors (the
	// API server's own strict field validation, kubectl --validate=strict).
	return kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme, kjson.SerializerOptions{Yaml: true, Strict: true})
}()

// decodeManifest decodes one YAML document into the API type its apiVersion and kind name.
func decodeManifest(doc []byte) (runtime.Object, error) {
	obj, gvk, err := strictYAML.Decode(doc, nil, nil)
	if err != nil {
		return nil, err
	}
	if _, ok := manifestKinds[*gvk]; !ok {
		return nil, fmt.Errorf("unexpected kind %v", gvk)
	}
	return obj, nil
}

// splitYAML returns the documents of a multi-document YAML file, without those that hold
// only comments.
func splitYAML(data []byte) ([][]byte, error) {
	r := kyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if err == io.EOF {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(doc), "\n") {
			if l := strings.TrimSpace(line); l != "" && l != "---" && !strings.HasPrefix(l, "#") {
				docs = append(docs, doc)
				break
			}
		}
	}
}

// manifests holds every object of deploy/k8s, by kind, each with the file it came from.
type manifests struct {
	cronJobs        []*batchv1.CronJob
	serviceAccounts []*corev1.ServiceAccount
	deployments     []*appsv1.Deployment
	services        []*corev1.Service
	file            map[runtime.Object]string
}

func loadManifests(t *testing.T) *manifests {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("k8s", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in k8s/: %v", err)
	}
	m := &manifests{file: map[runtime.Object]string{}}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := splitYAML(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(docs) == 0 {
			t.Errorf("%s: no YAML documents", f)
		}
		for i, doc := range docs {
			obj, err := decodeManifest(doc)
			if err != nil {
				t.Errorf("%s: document %d: %v", f, i+1, err)
				continue
			}
			m.file[obj] = f
			switch o := obj.(type) {
			case *batchv1.CronJob:
				m.cronJobs = append(m.cronJobs, o)
			case *corev1.ServiceAccount:
				m.serviceAccounts = append(m.serviceAccounts, o)
			case *appsv1.Deployment:
				m.deployments = append(m.deployments, o)
			case *corev1.Service:
				m.services = append(m.services, o)
			}
		}
	}
	if len(m.cronJobs) != 1 || len(m.serviceAccounts) != 1 || len(m.deployments) != 1 || len(m.services) != 1 {
		t.Errorf("k8s/ holds %d CronJobs, %d ServiceAccounts, %d Deployments, %d Services; want one of each",
			len(m.cronJobs), len(m.serviceAccounts), len(m.deployments), len(m.services))
	}
	if t.Failed() {
		t.FailNow()
	}
	return m
}

func TestManifestsDecodeStrictly(t *testing.T) {
	m := loadManifests(t)
	for obj, f := range m.file {
		meta := obj.(interface {
			GetName() string
			GetNamespace() string
		})
		if meta.GetName() == "" || meta.GetNamespace() == "" {
			t.Errorf("%s: a %T without a name or namespace", f, obj)
		}
	}
}

// The decoder is strict: each of these is one mistake away from a valid CronJob, and each
// must fail (a lenient decoder drops the first three silently).
func TestStrictDecodingRejectsMistakes(t *testing.T) {
	const valid = `apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
  namespace: lightbeam
spec:
  schedule: "30 2 * * *"
  concurrencyPolicy: Forbid
  jobTemplate:
    spec:
      backoffLimit: 2
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: c
              image: i
`
	if _, err := decodeManifest([]byte(valid)); err != nil {
		t.Fatalf("the valid manifest: %v", err)
	}
	for _, tc := range []struct{ name, old, new string }{
		{"misspelt field", "concurrencyPolicy: Forbid", "concurencyPolicy: Forbid"},
		{"field in the wrong case", "concurrencyPolicy: Forbid", "ConcurrencyPolicy: Forbid"},
		{"field at the wrong level", "      backoffLimit: 2", "      backoffLimit: 2\n      schedule: x"},
		{"duplicate key", "  concurrencyPolicy: Forbid", "  concurrencyPolicy: Forbid\n  concurrencyPolicy: Allow"},
		{"wrong type", "backoffLimit: 2", "backoffLimit: two"},
		{"unknown kind", "kind: CronJob", "kind: CronJobs"},
		{"kind of another version", "apiVersion: batch/v1", "apiVersion: batch/v1beta1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := strings.Replace(valid, tc.old, tc.new, 1)
			if doc == valid {
				t.Fatalf("the edit %q did not apply", tc.old)
			}
			if obj, err := decodeManifest([]byte(doc)); err == nil {
				t.Errorf("decoded without error: %+v", obj)
			} else {
				t.Logf("rejected: %v", err)
			}
		})
	}
}

// ---- Kubernetes: what the manifests promise ------------------------------------------------

func TestCronJob(t *testing.T) {
	m := loadManifests(t)
	cj := m.cronJobs[0]
	spec := cj.Spec
	if err := parseCronSchedule(spec.Schedule); err != nil {
		t.Errorf("schedule %q: %v", spec.Schedule, err)
	}
	if spec.TimeZone != nil {
		if _, err := time.LoadLocation(*spec.TimeZone); err != nil {
			t.Errorf("timeZone: %v", err)
		}
	}
	if spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("concurrencyPolicy %q, want Forbid", spec.ConcurrencyPolicy)
	}
	if d := spec.StartingDeadlineSeconds; d == nil || *d <= 0 {
		t.Errorf("no startingDeadlineSeconds")
	}
	job := spec.JobTemplate.Spec
	if job.BackoffLimit == nil || *job.BackoffLimit < 0 {
		t.Errorf("no backoffLimit")
	}
	if job.ActiveDeadlineSeconds == nil || *job.ActiveDeadlineSeconds <= 0 {
		t.Fatalf("no activeDeadlineSeconds")
	}
	pod := job.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %q: podFailurePolicy requires Never", pod.RestartPolicy)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]

	// Exit codes: 4 fails the Job without retries; no rule may Ignore an exit code (the pod
	// would be replaced again and again), and the rules are what the API server accepts.
	pfp := job.PodFailurePolicy
	if pfp == nil {
		t.Fatal("no podFailurePolicy")
	}
	failsOn4 := false
	for i, r := range pfp.Rules {
		if (r.OnExitCodes == nil) == (len(r.OnPodConditions) == 0) {
			t.Errorf("podFailurePolicy rule %d: want exactly one of onExitCodes and onPodConditions", i)
		}
		switch r.Action {
		case batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore, batchv1.PodFailurePolicyActionCount:
		default:
			t.Errorf("podFailurePolicy rule %d: action %q (FailIndex needs an indexed Job)", i, r.Action)
		}
		e := r.OnExitCodes
		if e == nil {
			continue
		}
		if e.ContainerName != nil && *e.ContainerName != c.Name {
			t.Errorf("podFailurePolicy rule %d: container %q is not %q", i, *e.ContainerName, c.Name)
		}
		if len(e.Values) == 0 || !slices.IsSorted(e.Values) || len(slices.Compact(slices.Clone(e.Values))) != len(e.Values) ||
			e.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && slices.Contains(e.Values, 0) {
			t.Errorf("podFailurePolicy rule %d: values %v: want sorted, unique, no 0 with In", i, e.Values)
		}
		if r.Action == batchv1.PodFailurePolicyActionIgnore {
			t.Errorf("podFailurePolicy rule %d ignores exit codes %v: each would be retried until the deadline", i, e.Values)
		}
		if r.Action == batchv1.PodFailurePolicyActionFailJob && e.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && slices.Contains(e.Values, 4) {
			failsOn4 = true
		}
	}
	if !failsOn4 {
		t.Errorf("no podFailurePolicy rule fails the Job on exit 4 (a gate failed): a retry would exit 3 and hide it")
	}

	// Resources, sized for a node of 2 cores and 4 GiB (about 1.9 cores and 2.9 GiB
	// allocatable after the kubelet's reservations).
	nodeCPU, nodeMem := resource.MustParse("1900m"), resource.MustParse("2900Mi")
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[r]
		lim, okLim := c.Resources.Limits[r]
		if !okReq || !okLim {
			t.Errorf("container %s: %s request or limit missing", c.Name, r)
			continue
		}
		if req.Cmp(lim) > 0 {
			t.Errorf("container %s: %s request %s above its limit %s", c.Name, r, req.String(), lim.String())
		}
		if node := map[corev1.ResourceName]resource.Quantity{corev1.ResourceCPU: nodeCPU, corev1.ResourceMemory: nodeMem}[r]; req.Cmp(node) > 0 {
			t.Errorf("container %s: %s request %s does not fit a 2-core 4 GiB node (%s allocatable)", c.Name, r, req.String(), node.String())
		}
	}
	if lim := c.Resources.Limits[corev1.ResourceMemory]; lim.Cmp(resource.MustParse("4Gi")) > 0 {
		t.Errorf("memory limit %s above the node's 4 GiB", lim.String())
	}
	if v := envValue(c.Env, "GOMEMLIMIT"); v != "" {
		q, err := resource.ParseQuantity(strings.TrimSuffix(strings.Replace(v, "iB", "i", 1), "B"))
		lim := c.Resources.Limits[corev1.ResourceMemory]
		if err != nil || q.Cmp(lim) >= 0 {
			t.Errorf("GOMEMLIMIT=%s: want a size below the memory limit %s (%v)", v, lim.String(), err)
		}
	}

	// The service account: the one in serviceaccount.yaml, annotated for Workload Identity.
	sa := m.serviceAccounts[0]
	if pod.ServiceAccountName != sa.Name || cj.Namespace != sa.Namespace {
		t.Errorf("the job runs as %s/%s; the ServiceAccount is %s/%s", cj.Namespace, pod.ServiceAccountName, sa.Namespace, sa.Name)
	}
	gsa := sa.Annotations["iam.gke.io/gcp-service-account"]
	if !regexp.MustCompile(`^[a-z][-a-z0-9]{4,28}[a-z0-9]@[-A-Za-z0-9_]+\.iam\.gserviceaccount\.com$`).MatchString(gsa) {
		t.Errorf("ServiceAccount %s: iam.gke.io/gcp-service-account %q is not a Google service account's email", sa.Name, gsa)
	}

	// The command: lightbeam nightly with gs:// paths, run as the image's user.
	args := c.Args
	if len(args) == 0 || args[0] != "nightly" {
		t.Fatalf("args %q: want lightbeam nightly's", args)
	}
	for _, f := range []string{"--models=gs://", "--out=gs://", "--recipe="} {
		if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, f) }) {
			t.Errorf("args %q: no %s", args, f)
		}
	}
	if ttl, ok := flagValue(args, "lock-ttl"); ok {
		d, err := time.ParseDuration(ttl)
		if err != nil || d <= time.Duration(*job.ActiveDeadlineSeconds)*time.Second {
			t.Errorf("--lock-ttl=%s: want longer than activeDeadlineSeconds (%ds), so that a live run's lock never expires", ttl, *job.ActiveDeadlineSeconds)
		}
	}
	if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil {
		t.Errorf("the pod does not run as a fixed non-root user")
	} else if uid := dockerfileUser(t); uid != strconv.FormatInt(*sc.RunAsUser, 10) {
		t.Errorf("runAsUser %d, but the image's USER is %q", *sc.RunAsUser, uid)
	}
}

// The CronJob's wrapper turns exit 3 into 0 and keeps every other code, passing the args on
// unchanged.
func TestCronJobWrapperExitCodes(t *testing.T) {
	c := loadManifests(t).cronJobs[0].Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	if len(c.Command) < 3 || c.Command[1] != "-c" {
		t.Fatalf("command %q: want sh -c SCRIPT NAME", c.Command)
	}
	bin := fakeLightbeam(t)
	for _, tc := range []struct{ rc, want int }{{0, 0}, {3, 0}, {4, 4}, {1, 1}, {137, 137}} {
		argsFile := filepath.Join(t.TempDir(), "args")
		cmd := exec.Command("sh", slices.Concat(c.Command[1:], c.Args)...)
		cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
			"FAKE_RC="+strconv.Itoa(tc.rc), "FAKE_ARGS="+argsFile)
		out, err := cmd.CombinedOutput()
		if got := exitCode(err); got != tc.want {
			t.Errorf("lightbeam exit %d: the container exits %d, want %d (%s)", tc.rc, got, tc.want, out)
		}
		got, _ := os.ReadFile(argsFile)
		if want := strings.Join(c.Args, "\n") + "\n"; string(got) != want {
			t.Errorf("lightbeam got the args %q, want %q", got, want)
		}
	}
}

// The CronJob's command line, with local folders for its gs:// paths, runs the real binary:
// no models, so lightbeam exits 3 and the container 0.
func TestCronJobRunsLightbeam(t *testing.T) {
	c := loadManifests(t).cronJobs[0].Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	bin := buildLightbeam(t)
	dir := t.TempDir()
	recipe := filepath.Join(dir, "recipe.json")
	if err := os.WriteFile(recipe, []byte(`{"quant": "int8"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	local := map[string]string{"models": mkdir(t, dir, "models"), "out": filepath.Join(dir, "out"), "data": mkdir(t, dir, "prep"), "recipe": recipe}
	var args []string
	for _, a := range c.Args {
		if name, _, ok := strings.Cut(strings.TrimPrefix(a, "--"), "="); ok && local[name] != "" {
			a = "--" + name + "=" + local[name]
		}
		args = append(args, a)
	}
	cmd := exec.Command("sh", slices.Concat(c.Command[1:], args)...)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "nothing to do") {
		t.Fatalf("%v: %s", err, out)
	}
	checkRunsLine(t, local["out"])
}

func TestFlinkJobServer(t *testing.T) {
	m := loadManifests(t)
	dep, svc := m.deployments[0], m.services[0]
	tmpl := dep.Spec.Template
	if dep.Spec.Selector == nil || !labelsMatch(dep.Spec.Selector.MatchLabels, tmpl.Labels) {
		t.Errorf("Deployment %s: its selector does not select its own pods", dep.Name)
	}
	if len(svc.Spec.Selector) == 0 || !labelsMatch(svc.Spec.Selector, tmpl.Labels) || svc.Namespace != dep.Namespace {
		t.Errorf("Service %s does not select the pods of Deployment %s", svc.Name, dep.Name)
	}
	// Under EXTERNAL the Go workers run in this pod and touch gs:// themselves.
	if sa := m.serviceAccounts[0]; tmpl.Spec.ServiceAccountName != sa.Name || dep.Namespace != sa.Namespace {
		t.Errorf("Deployment %s runs as %q, not the ServiceAccount %s/%s with the bucket's credentials", dep.Name, tmpl.Spec.ServiceAccountName, sa.Namespace, sa.Name)
	}
	var js *corev1.Container
	ports := map[string]int32{} // container port name (and number) → number
	for i := range tmpl.Spec.Containers {
		c := &tmpl.Spec.Containers[i]
		if strings.Contains(c.Image, "_job_server:") {
			js = c
		}
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
			ports[strconv.Itoa(int(p.ContainerPort))] = p.ContainerPort
		}
	}
	if js == nil {
		t.Fatalf("Deployment %s: no container runs a Beam job server image", dep.Name)
	}
	// The job server listens where its flags say, and the container declares those ports.
	for flag, def := range map[string]int32{"job-port": 8099, "artifact-port": 8098, "expansion-port": 8097} {
		want := def
		if v, ok := flagValue(js.Args, flag); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Errorf("--%s=%s", flag, v)
			}
			want = int32(n)
		}
		if !slices.ContainsFunc(js.Ports, func(p corev1.ContainerPort) bool { return p.ContainerPort == want }) {
			t.Errorf("the job server listens on %d (--%s) but its container does not declare it", want, flag)
		}
	}
	if _, ok := flagValue(js.Args, "flink-master"); !ok {
		t.Errorf("job server args %q: no --flink-master", js.Args)
	}
	// Every Service port reaches a declared container port, and 8099 is the job port.
	for _, p := range svc.Spec.Ports {
		target := p.TargetPort
		if target.Type == intstr.Int && target.IntVal == 0 {
			target = intstr.FromInt32(p.Port)
		}
		n, ok := ports[target.String()]
		if !ok {
			t.Errorf("Service %s port %s (%d): target %s is no container port", svc.Name, p.Name, p.Port, target.String())
		} else if n != p.Port {
			t.Errorf("Service %s port %s: %d forwards to %d; keep them equal (the job server advertises its own port numbers)", svc.Name, p.Name, p.Port, n)
		}
	}
	// The CronJob's comment names this Service's job port as the endpoint.
	cron, err := os.ReadFile(m.file[m.cronJobs[0]])
	if err != nil {
		t.Fatal(err)
	}
	if ep := fmt.Sprintf("--endpoint=%s:%d", svc.Name, 8099); !bytes.Contains(cron, []byte(ep)) || !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == 8099 }) {
		t.Errorf("cronjob.yaml's Flink flags should name %s, a port of Service %s", ep, svc.Name)
	}
	// Beam promises no compatibility across releases: the images are go.mod's Beam version.
	beam := goModVersion(t, "github.com/apache/beam/sdks/v2")
	for _, c := range tmpl.Spec.Containers {
		if strings.HasPrefix(c.Image, "apache/beam_") && !strings.HasSuffix(c.Image, ":"+strings.TrimPrefix(beam, "v")) {
			t.Errorf("container %s: image %s, but go.mod has Beam %s", c.Name, c.Image, beam)
		}
	}
}

// ---- systemd ----------------------------------------------------------------------------

// unitFile is a systemd unit file: section → key → values, in order.
type unitFile map[string]map[string][]string

func readUnit(t *testing.T, path string) unitFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u, section := unitFile{}, ""
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.HasSuffix(line, `\`) {
				t.Fatalf("%s:%d: %q: want KEY=VALUE in a section, on one line", path, i+1, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

func (u unitFile) get(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// readEnvFile reads an EnvironmentFile: NAME=VALUE lines, # comments.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not NAME=VALUE", path, line)
		}
		env[k] = v
	}
	return env
}

var unitVar = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// execStartArgs expands an ExecStart= line as systemd does: ${NAME} within a word becomes the
// value (the word stays one argument); $NAME as a whole word splits the value at whitespace.
func execStartArgs(line string, env map[string]string) []string {
	var args []string
	for _, word := range strings.Fields(line) {
		if m := unitVar.FindStringSubmatch(word); m != nil && m[2] != "" && m[0] == word {
			args = append(args, strings.Fields(env[m[2]])...)
			continue
		}
		args = append(args, unitVar.ReplaceAllStringFunc(word, func(v string) string {
			return env[strings.Trim(v, "${}")]
		}))
	}
	return args
}

func TestSystemdUnits(t *testing.T) {
	svcPath := filepath.Join("systemd", "lightbeam-nightly.service")
	timerPath := filepath.Join("systemd", "lightbeam-nightly.timer")
	svc, timer := readUnit(t, svcPath), readUnit(t, timerPath)
	if svc.get("Service", "Type") != "oneshot" {
		t.Errorf("Type=%s, want oneshot", svc.get("Service", "Type"))
	}
	if !slices.Contains(strings.Fields(strings.Join(svc["Service"]["SuccessExitStatus"], " ")), "3") {
		t.Errorf("SuccessExitStatus does not hold 3: nothing to do would be a failed unit")
	}
	if u := svc.get("Service", "User"); u == "" || u == "root" {
		t.Errorf("User=%q: want a dedicated user", u)
	}
	if svc.get("Service", "ProtectSystem") != "strict" || svc.get("Service", "StateDirectory") == "" {
		t.Errorf("want ProtectSystem=strict with a StateDirectory= to write to")
	}
	exec0 := strings.Fields(svc.get("Service", "ExecStart"))
	if len(exec0) < 2 || exec0[0] != "/usr/local/bin/lightbeam" || exec0[1] != "nightly" {
		t.Errorf("ExecStart=%s: want /usr/local/bin/lightbeam nightly ...", svc.get("Service", "ExecStart"))
	}
	env := readEnvFile(t, filepath.Join("systemd", "lightbeam-nightly.env.example"))
	for _, m := range unitVar.FindAllStringSubmatch(svc.get("Service", "ExecStart"), -1) {
		if name := m[1] + m[2]; env[name] == "" {
			t.Errorf("ExecStart uses $%s, which lightbeam-nightly.env.example does not set", name)
		}
	}
	if timer.get("Timer", "OnCalendar") == "" || timer.get("Timer", "Persistent") != "true" || timer.get("Timer", "RandomizedDelaySec") == "" {
		t.Errorf("the timer wants OnCalendar=, Persistent=true and RandomizedDelaySec=")
	}
	if u := timer.get("Timer", "Unit"); u != "" && u != filepath.Base(svcPath) {
		t.Errorf("the timer starts %s, not %s", u, filepath.Base(svcPath))
	}
	if timer.get("Install", "WantedBy") != "timers.target" {
		t.Errorf("the timer is not WantedBy=timers.target")
	}

	t.Run("systemd-analyze", func(t *testing.T) {
		analyze, err := exec.LookPath("systemd-analyze")
		if err != nil {
			t.Skip("systemd-analyze is not installed here (Debian: apt-get install systemd), so the units were not verified")
		}
		// verify checks that ExecStart's binary exists and is executable: point it at one
		// that does (the units as installed name /usr/local/bin/lightbeam).
		stand, err := exec.LookPath("true")
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		for _, p := range []string{svcPath, timerPath} {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			data = bytes.ReplaceAll(data, []byte("ExecStart=/usr/local/bin/lightbeam "), []byte("ExecStart="+stand+" "))
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		units := []string{filepath.Join(dir, filepath.Base(svcPath)), filepath.Join(dir, filepath.Base(timerPath))}
		out, err := exec.Command(analyze, append([]string{"verify", "--man=no"}, units...)...).CombinedOutput()
		// verify exits 0 on some complaints (an unknown key is "ignoring"): any line about
		// our units fails the test.
		if err != nil || bytes.Contains(out, []byte("lightbeam-nightly")) {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
		// The hardening: systemd's own exposure score (0 best, 10 worst), offline.
		out, err = exec.Command(analyze, "security", "--offline=yes", "--threshold=20", units[0]).CombinedOutput()
		if err != nil {
			t.Skipf("systemd-analyze security --offline (systemd 250 or later) is not usable here: %v", err)
		}
		score := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
		if score == nil {
			t.Fatalf("no exposure level in:\n%s", out)
		}
		if v, _ := strconv.ParseFloat(string(score[1]), 64); v > 2.0 {
			t.Errorf("systemd-analyze security: exposure %s, want at most 2.0 (OK)", score[1])
		} else {
			t.Logf("systemd-analyze security: exposure %s", score[1])
		}
	})

	// ExecStart with the example environment, paths moved into a temporary folder, runs the
	// real binary: no models, exit 3, which SuccessExitStatus=3 takes as success.
	t.Run("ExecStart", func(t *testing.T) {
		bin := buildLightbeam(t)
		dir := t.TempDir()
		for k, v := range env {
			for _, prefix := range []string{"/srv/", "/var/lib/", "/etc/"} {
				if strings.HasPrefix(v, prefix) {
					env[k] = filepath.Join(dir, v)
				}
			}
		}
		if err := os.MkdirAll(env["LIGHTBEAM_MODELS"], 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, env["LIGHTBEAM_RECIPE"], `{"quant": "int8"}`)
		args := execStartArgs(svc.get("Service", "ExecStart"), env)
		cmd := exec.Command(bin, args[1:]...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if exitCode(err) != 3 {
			t.Fatalf("%q: exit %d, want 3 (nothing to do): %s", args, exitCode(err), out)
		}
		checkRunsLine(t, env["LIGHTBEAM_OUT"])
	})
}

// ---- cron -------------------------------------------------------------------------------

// crontab is a user crontab: variable assignments and one job.
type crontab struct {
	env      map[string]string
	schedule string // the five time fields
	command  string
}

func readCrontab(t *testing.T) crontab {
	t.Helper()
	data, err := os.ReadFile("crontab")
	if err != nil {
		t.Fatal(err)
	}
	ct := crontab{env: map[string]string{}}
	assign := regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$`)
	jobs := 0
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if m := assign.FindStringSubmatch(line); m != nil {
			ct.env[m[1]] = strings.Trim(m[2], `"'`)
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 6 {
			t.Fatalf("crontab:%d: %q: want five time fields and a command", i+1, line)
		}
		ct.schedule = strings.Join(fields[:5], " ")
		// The command is the rest of the line, as cron takes it.
		rest := line
		for range 5 {
			rest = strings.TrimLeft(rest, " \t")
			rest = rest[strings.IndexAny(rest, " \t"):]
		}
		ct.command = strings.TrimSpace(rest)
		jobs++
	}
	if jobs != 1 {
		t.Fatalf("crontab: %d jobs, want 1", jobs)
	}
	return ct
}

func TestCrontab(t *testing.T) {
	ct := readCrontab(t)
	if err := parseCronSchedule(ct.schedule); err != nil {
		t.Errorf("crontab schedule %q: %v", ct.schedule, err)
	}
	// cron turns an unescaped % into a newline (the rest becomes standard input).
	if regexp.MustCompile(`(^|[^\\])%`).MatchString(ct.command) {
		t.Errorf("the command holds a %%, which cron would cut it at")
	}
	if !strings.HasPrefix(ct.command, "lightbeam nightly ") && !strings.HasPrefix(ct.command, "/usr/local/bin/lightbeam nightly ") {
		t.Errorf("the command %q does not start lightbeam nightly", ct.command)
	}
	if ct.env["MAILTO"] == "" || ct.env["LIGHTBEAM_NIGHTLY_LOG"] == "" {
		t.Errorf("the crontab sets no MAILTO or LIGHTBEAM_NIGHTLY_LOG")
	}
	shell := ct.env["SHELL"]
	if shell == "" {
		shell = "/bin/sh"
	}
	run := func(t *testing.T, command string, bin string, extra ...string) (stdout string, code int, log string) {
		logFile := filepath.Join(t.TempDir(), "nightly.log")
		cmd := exec.Command(shell, "-c", command)
		cmd.Env = []string{"HOME=" + t.TempDir(), "LOGNAME=lightbeam"}
		for k, v := range ct.env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.Env = append(cmd.Env, "PATH="+bin+string(os.PathListSeparator)+ct.env["PATH"]+string(os.PathListSeparator)+os.Getenv("PATH"),
			"LIGHTBEAM_NIGHTLY_LOG="+logFile)
		cmd.Env = append(cmd.Env, extra...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		l, _ := os.ReadFile(logFile)
		return out.String(), exitCode(err), string(l)
	}

	// What cron mails is what the job prints: nothing for 0 and 3, a note for 1 and 4.
	t.Run("mail", func(t *testing.T) {
		bin := fakeLightbeam(t)
		for _, tc := range []struct {
			rc   int
			mail bool
		}{{0, false}, {3, false}, {4, true}, {1, true}} {
			out, code, log := run(t, ct.command, bin, "FAKE_RC="+strconv.Itoa(tc.rc), "FAKE_ARGS="+filepath.Join(t.TempDir(), "args"))
			if mailed := out != ""; mailed != tc.mail {
				t.Errorf("exit %d: mail %v (%q), want %v", tc.rc, mailed, out, tc.mail)
			}
			want := tc.rc
			if tc.rc == 3 {
				want = 0
			}
			if code != want {
				t.Errorf("exit %d: the job exits %d, want %d", tc.rc, code, want)
			}
			if tc.mail && (!strings.Contains(out, fmt.Sprintf("exited %d", tc.rc)) || !strings.Contains(out, "fake lightbeam output")) {
				t.Errorf("exit %d: the mail %q should give the code and the end of the log", tc.rc, out)
			}
			if !strings.Contains(log, "fake lightbeam output") {
				t.Errorf("exit %d: lightbeam's output is not in the log (%q)", tc.rc, log)
			}
		}
	})

	// The line itself, its paths moved into a temporary folder, runs the real binary: no
	// models, exit 3, no mail.
	t.Run("lightbeam", func(t *testing.T) {
		bin := buildLightbeam(t)
		dir := t.TempDir()
		command := ct.command
		for _, prefix := range []string{"/srv/", "/var/lib/", "/etc/"} {
			command = strings.ReplaceAll(command, "="+prefix, "="+filepath.Join(dir, prefix)+"/")
		}
		recipe, _ := flagValue(strings.Fields(command), "recipe")
		models, _ := flagValue(strings.Fields(command), "models")
		out, _ := flagValue(strings.Fields(command), "out")
		if !strings.HasPrefix(recipe, dir) || !strings.HasPrefix(models, dir) || !strings.HasPrefix(out, dir) {
			t.Fatalf("the paths of %q are not under /srv, /var/lib or /etc: move this test's rewrite along", ct.command)
		}
		writeFile(t, recipe, `{"quant": "int8"}`)
		if err := os.MkdirAll(models, 0o755); err != nil {
			t.Fatal(err)
		}
		mail, code, log := run(t, command, filepath.Dir(bin))
		if mail != "" || code != 0 || !strings.Contains(log, "nothing to do") {
			t.Fatalf("exit %d, mail %q, log %q: want exit 0, no mail, nothing to do in the log", code, mail, log)
		}
		checkRunsLine(t, out)
	})
}

// cronFields are the five fields' ranges and names.
var cronFields = []struct {
	name     string
	min, max int
	names    []string
}{
	{"minute", 0, 59, nil},
	{"hour", 0, 23, nil},
	{"day of month", 1, 31, nil},
	{"month", 1, 12, []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	{"day of week", 0, 7, []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}

// parseCronSchedule checks five cron time fields (lists, ranges, steps, names; no @macros).
func parseCronSchedule(s string) error {
	fields := strings.Fields(s)
	if len(fields) != 5 {
		return fmt.Errorf("%d fields, want 5", len(fields))
	}
	for i, f := range fields {
		spec := cronFields[i]
		value := func(v string) (int, error) {
			if j := slices.Index(spec.names, strings.ToLower(v)); j >= 0 {
				return j + spec.min, nil
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < spec.min || n > spec.max {
				return 0, fmt.Errorf("%s: %q is not in %d-%d", spec.name, v, spec.min, spec.max)
			}
			return n, nil
		}
		for _, item := range strings.Split(f, ",") {
			rng, step, hasStep := strings.Cut(item, "/")
			if hasStep {
				if n, err := strconv.Atoi(step); err != nil || n < 1 || n > spec.max {
					return fmt.Errorf("%s: step %q", spec.name, step)
				}
			}
			if rng == "*" {
				continue
			}
			lo, hi, isRange := strings.Cut(rng, "-")
			a, err := value(lo)
			if err != nil {
				return err
			}
			if !isRange {
				if hasStep {
					return fmt.Errorf("%s: %q: a step wants a range or *", spec.name, item)
				}
				continue
			}
			b, err := value(hi)
			if err != nil {
				return err
			}
			if a > b {
				return fmt.Errorf("%s: range %q runs backwards", spec.name, rng)
			}
		}
	}
	return nil
}

func TestParseCronSchedule(t *testing.T) {
	for _, s := range []string{"30 2 * * *", "*/15 0-6 1,15 jan-jun mon-fri", "0 0 * * 7"} {
		if err := parseCronSchedule(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"30 2 * *", "60 2 * * *", "30 24 * * *", "30 2 0 * *", "30 2 * 13 *", "30 2 * * 8", "5-1 * * * *", "*/0 * * * *", "@daily", "30 2 * * * *"} {
		if err := parseCronSchedule(s); err == nil {
			t.Errorf("%q: accepted", s)
		}
	}
}

// ---- Dockerfile -------------------------------------------------------------------------

// dockerStages returns the Dockerfile's instructions by stage (continuation lines joined).
func dockerStages(t *testing.T) [][]string {
	t.Helper()
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]string
	var cur strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		ins := cur.String()
		cur.Reset()
		if strings.EqualFold(strings.Fields(ins)[0], "FROM") {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("Dockerfile: %q before the first FROM", ins)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], ins)
	}
	return stages
}

func dockerfileUser(t *testing.T) string {
	stages := dockerStages(t)
	user := ""
	for _, ins := range stages[len(stages)-1] {
		if f := strings.Fields(ins); strings.EqualFold(f[0], "USER") {
			user, _, _ = strings.Cut(f[1], ":")
		}
	}
	return user
}

func TestDockerfile(t *testing.T) {
	stages := dockerStages(t)
	if len(stages) < 2 {
		t.Fatalf("%d FROM stages, want a build stage and a runtime stage", len(stages))
	}
	build, final := strings.Join(stages[0], "\n"), strings.Join(stages[len(stages)-1], "\n")
	from := strings.Fields(stages[0][0])
	if len(from) != 4 || !strings.EqualFold(from[2], "AS") || !strings.HasPrefix(from[1], "golang:") {
		t.Fatalf("first stage %q: want FROM golang:VERSION AS NAME", stages[0][0])
	}
	// The builder's Go is go.mod's (major.minor).
	if goVer := goModVersion(t, "go"); !strings.HasPrefix(goVer, strings.TrimPrefix(from[1], "golang:")+".") {
		t.Errorf("builder %s, but go.mod says go %s", from[1], goVer)
	}
	for _, want := range []string{"CGO_ENABLED=0", "go build", "-trimpath", `-ldflags="-s -w"`, "-o /lightbeam"} {
		if !strings.Contains(build, want) {
			t.Errorf("the build stage does not hold %q", want)
		}
	}
	for _, want := range []string{"COPY --from=" + from[3] + " /lightbeam /usr/local/bin/lightbeam", "ca-certificates", "libblis4-pthread", `ENTRYPOINT ["/usr/local/bin/lightbeam"]`} {
		if !strings.Contains(final, want) {
			t.Errorf("the runtime stage does not hold %q", want)
		}
	}
	if uid, err := strconv.Atoi(dockerfileUser(t)); err != nil || uid == 0 {
		t.Errorf("the runtime stage's USER %q: want a numeric non-root id (Kubernetes' runAsNonRoot checks it)", dockerfileUser(t))
	}
	// COPY sources are relative to the build context, the repository root.
	for _, stage := range stages {
		for _, ins := range stage {
			f := strings.Fields(ins)
			if !strings.EqualFold(f[0], "COPY") || strings.HasPrefix(f[1], "--from=") {
				continue
			}
			for _, src := range f[1 : len(f)-1] {
				if _, err := os.Stat(filepath.Join("..", src)); err != nil {
					t.Errorf("%q: %v (the build context is the repository root)", ins, err)
				}
			}
		}
	}
}

// ---- helpers ----------------------------------------------------------------------------

var built struct {
	once sync.Once
	path string
	err  error
	dir  string
}

// buildLightbeam builds the repository's binary once per test run (skipped with -short).
func buildLightbeam(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: not building lightbeam")
	}
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "lightbeam-deploy-test-*")
		if built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "lightbeam")
		out, err := exec.Command("go", "build", "-o", built.path, "..").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// fakeLightbeam returns a folder with a lightbeam that prints a line, writes its args to
// $FAKE_ARGS and exits $FAKE_RC.
func fakeLightbeam(t *testing.T) string {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "lightbeam"), "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$FAKE_ARGS\"\necho 'fake lightbeam output'\nexit \"$FAKE_RC\"\n")
	if err := os.Chmod(filepath.Join(dir, "lightbeam"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkRunsLine checks that a run with nothing to do logged its line in OUT/runs.jsonl.
func checkRunsLine(t *testing.T, out string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(out, "runs.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var line struct {
		Seen  *int   `json:"seen"`
		Done  int    `json:"done"`
		Start string `json:"start"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(data), &line); err != nil || line.Seen == nil || *line.Seen != 0 || line.Start == "" {
		t.Errorf("runs.jsonl %q: want one line with seen 0 (%v)", data, err)
	}
	if _, err := os.Stat(filepath.Join(out, "LOCK")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OUT/LOCK after the run: %v", err)
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}

// flagValue returns the value of --name=VALUE (or -name=VALUE) in args.
func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(strings.TrimLeft(a, "-"), name+"="); ok && strings.HasPrefix(a, "-") {
			return v, true
		}
	}
	return "", false
}

func envValue(env []corev1.EnvVar, name string) string {
	for _, e := range env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func labelsMatch(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// goModVersion returns the version go.mod requires of module (or, for "go", its go line).
func goModVersion(t *testing.T, module string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(f) >= 2 && f[0] == module {
			return f[1]
		}
	}
	t.Fatalf("go.mod names no %s", module)
	return ""
}

func mkdir(t *testing.T, parts ...string) string {
	p := filepath.Join(parts...)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
