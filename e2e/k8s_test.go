package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// k8sManifests are the objects of deploy/k8s, decoded strictly with the Kubernetes API types.
type k8sManifests struct {
	configMaps  map[string]*corev1.ConfigMap
	services    map[string]*corev1.Service
	deployments map[string]*appsv1.Deployment
	pvcs        map[string]*corev1.PersistentVolumeClaim
	jobs        map[string]*batchv1.Job
	files       []string // the manifest files, as kustomization.yaml lists them
}

// kustomization is the part of kustomize's file the manifests use (kustomize's own types are not
// needed for that; unknown fields are still an error).
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
	Labels     []struct {
		Pairs map[string]string `json:"pairs"`
	} `json:"labels"`
}

func loadK8s(t *testing.T) *k8sManifests {
	t.Helper()
	dir := filepath.Join(root, "deploy", "k8s")
	var k kustomization
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	onDisk := []string{"scripts.yaml"} // made by make k8s
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".yaml") && e.Name() != "kustomization.yaml" && e.Name() != "scripts.yaml" {
			onDisk = append(onDisk, e.Name())
		}
	}
	listed := append([]string(nil), k.Resources...)
	sort.Strings(listed)
	sort.Strings(onDisk)
	if strings.Join(listed, " ") != strings.Join(onDisk, " ") {
		t.Fatalf("kustomization.yaml lists %v but deploy/k8s holds %v", listed, onDisk)
	}
	m := &k8sManifests{configMaps: map[string]*corev1.ConfigMap{}, services: map[string]*corev1.Service{},
		deployments: map[string]*appsv1.Deployment{}, pvcs: map[string]*corev1.PersistentVolumeClaim{},
		jobs: map[string]*batchv1.Job{}, files: k.Resources}
	for _, name := range k.Resources {
		var b []byte
		if name == "scripts.yaml" {
			// Made by make k8s from the scripts (not in git): made here the same way.
			b, err = exec.Command("bash", filepath.Join(root, "scripts", "k8s-configmap.sh")).Output()
		} else {
			b, err = os.ReadFile(filepath.Join(dir, name))
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			where := fmt.Sprintf("%s (document %d)", name, i+1)
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			var obj interface{ GetName() string }
			switch tm.APIVersion + " " + tm.Kind {
			case "v1 ConfigMap":
				o := &corev1.ConfigMap{}
				strict(t, where, doc, o)
				m.configMaps[o.Name], obj = o, o
			case "v1 Service":
				o := &corev1.Service{}
				strict(t, where, doc, o)
				m.services[o.Name], obj = o, o
			case "v1 PersistentVolumeClaim":
				o := &corev1.PersistentVolumeClaim{}
				strict(t, where, doc, o)
				m.pvcs[o.Name], obj = o, o
			case "apps/v1 Deployment":
				o := &appsv1.Deployment{}
				strict(t, where, doc, o)
				m.deployments[o.Name], obj = o, o
			case "batch/v1 Job":
				o := &batchv1.Job{}
				strict(t, where, doc, o)
				m.jobs[o.Name], obj = o, o
			default:
				t.Fatalf("%s: unexpected kind %s %s", where, tm.APIVersion, tm.Kind)
			}
			if obj.GetName() == "" {
				t.Fatalf("%s: no metadata.name", where)
			}
		}
	}
	return m
}

func stripComments(doc string) string {
	var out []string
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func strict(t *testing.T, where, doc string, into any) {
	t.Helper()
	if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
		t.Fatalf("%s does not decode strictly as %T: %v", where, into, err)
	}
}

// scriptFiles are the files the scripts ConfigMap ships, by key ("scripts__lib__config.js").
func scriptFiles(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, pattern := range []string{"scripts/*.js", "scripts/lib/*.js", "thresholds/*.json"} {
		matches, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range matches {
			rel, _ := filepath.Rel(root, p)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			out[strings.ReplaceAll(filepath.ToSlash(rel), "/", "__")] = string(b)
		}
	}
	return out
}

// TestK8sManifests decodes deploy/k8s strictly, checks that its parts agree (segments and completions,
// the scripts ConfigMap and the repository's scripts, the volume items, the creditd Service), and
// simulates the run on this machine (scripts.yaml made by scripts/k8s-configmap.sh, as make k8s does): one tally process per completion index with the command, args and
// environment the manifest gives that pod (the index substituted, the volumes' paths mapped to temporary
// directories, the Service's address to a local creditd, PROFILE=smoke to keep it short), then the merge
// Job's command, whose exit code and merged counts are checked against a single-instance run of the same
// test started at the same time. Init containers (a wait for the service) are not run.
func TestK8sManifests(t *testing.T) {
	skipShort(t)
	m := loadK8s(t)
	files := scriptFiles(t)
	scripts := m.configMaps["tally-scripts"]
	if scripts == nil {
		t.Fatal("no ConfigMap tally-scripts")
	}
	for k, v := range files {
		if scripts.Data[k] != v {
			t.Fatalf("scripts/k8s-configmap.sh does not reproduce %s exactly", k)
		}
	}
	if len(scripts.Data) != len(files) {
		t.Fatalf("scripts/k8s-configmap.sh gives %d files, the repository has %d", len(scripts.Data), len(files))
	}

	race, merge := m.jobs["tally-race"], m.jobs["tally-merge"]
	if race == nil || merge == nil {
		t.Fatal("the Jobs tally-race and tally-merge are needed")
	}
	if race.Spec.CompletionMode == nil || *race.Spec.CompletionMode != batchv1.IndexedCompletion {
		t.Fatal("tally-race must be an Indexed Job")
	}
	n := int(*race.Spec.Completions)
	run := m.configMaps["tally-run"]
	if run == nil {
		t.Fatal("no ConfigMap tally-run")
	}
	if segs := strings.Count(run.Data["SEGMENTS"], ","); segs != n {
		t.Fatalf("SEGMENTS %q has %d segments but tally-race has %d completions", run.Data["SEGMENTS"], segs, n)
	}
	var states []string
	for _, a := range merge.Spec.Template.Spec.Containers[0].Args {
		if strings.HasSuffix(a, ".json") && !strings.HasPrefix(a, "--") {
			states = append(states, a)
		}
	}
	for i := range n {
		if i >= len(states) || !strings.HasSuffix(states[i], fmt.Sprintf("state-%d.json", i)) {
			t.Fatalf("tally-merge must list state-0.json ... state-%d.json, one per completion; it lists %v", n-1, states)
		}
	}
	if len(states) != n {
		t.Fatalf("tally-merge lists %d states for %d completions", len(states), n)
	}
	checkItems(t, race, scripts)
	svc := m.services["creditd"]
	if svc == nil || len(svc.Spec.Ports) == 0 || m.deployments["creditd"] == nil {
		t.Fatal("creditd needs a Deployment and a Service")
	}
	serviceURL := fmt.Sprintf("http://%s:%d", svc.Name, svc.Spec.Ports[0].Port)
	if run.Data["BASE_URL"] != serviceURL {
		t.Fatalf("BASE_URL %q is not the creditd Service (%s)", run.Data["BASE_URL"], serviceURL)
	}
	sel := svc.Spec.Selector
	for k, v := range sel {
		if m.deployments["creditd"].Spec.Template.Labels[k] != v {
			t.Fatalf("the creditd Service selects %s=%s, which the Deployment's pods do not carry", k, v)
		}
	}

	// The simulation.
	c := startCreditd(t)
	sim := &podSim{t: t, m: m, tmp: t.TempDir(), overrides: map[string]string{"PROFILE": "smoke"},
		urls: map[string]string{serviceURL: c.URL}}
	type out struct {
		name string
		res  result
	}
	results := make([]out, n+1)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = out{fmt.Sprintf("index %d", i), sim.run(race, i, nil)}
		}()
	}
	// The single instance: the same pod without its segment flags, under another run id.
	wg.Add(1)
	go func() {
		defer wg.Done()
		results[n] = out{"single", sim.run(race, 0, map[string]string{"RUN_ID": "single"})}
	}()
	wg.Wait()
	for _, r := range results {
		if r.res.code != 0 {
			t.Fatalf("%s: %s", r.name, r.res)
		}
	}
	mr := sim.run(merge, 0, nil)
	if mr.code != 0 || !strings.Contains(mr.stdout, "ledger: PASS") {
		t.Fatalf("merge Job: %s", mr)
	}
	merged := readSummary(t, filepath.Join(sim.results(run.Data["RUN_ID"]), "summary.json"))
	single := readSummary(t, filepath.Join(sim.results("single"), "summary-0.json"))
	if a, b := merged["vus_max"]["max"], single["vus_max"]["max"]; a != b {
		t.Errorf("vus_max: merged %v, single %v", a, b)
	}
	for _, name := range []string{"http_reqs", "iterations", "ledger_ops"} {
		a, b := merged[name]["count"], single[name]["count"]
		if b == 0 || math.Abs(a-b)/b > 0.3 {
			t.Errorf("%s: merged %v, single %v (more than 30 %% apart)", name, a, b)
		}
	}
	for _, name := range []string{"ledger_discrepancies"} {
		if merged[name]["count"] != 0 || single[name]["count"] != 0 {
			t.Errorf("%s: merged %v, single %v", name, merged[name]["count"], single[name]["count"])
		}
	}
	t.Logf("merged %v requests, %v iterations; single %v requests, %v iterations",
		merged["http_reqs"]["count"], merged["iterations"]["count"], single["http_reqs"]["count"], single["iterations"]["count"])
}

// checkItems checks that every item of job's scripts volume names a file of the ConfigMap and puts it at
// its repository path. (That race.js finds every file it needs is what the simulation shows.)
func checkItems(t *testing.T, job *batchv1.Job, cm *corev1.ConfigMap) {
	t.Helper()
	for _, v := range job.Spec.Template.Spec.Volumes {
		if v.ConfigMap == nil || v.ConfigMap.Name != cm.Name {
			continue
		}
		for _, it := range v.ConfigMap.Items {
			if _, ok := cm.Data[it.Key]; !ok {
				t.Fatalf("the scripts volume of %s maps %s, which %s does not hold", job.Name, it.Key, cm.Name)
			}
			if it.Path != strings.ReplaceAll(it.Key, "__", "/") {
				t.Fatalf("the scripts volume of %s puts %s at %s, not at its repository path", job.Name, it.Key, it.Path)
			}
		}
		return
	}
	t.Fatalf("%s mounts no volume of the ConfigMap %s", job.Name, cm.Name)
}

func readSummary(t *testing.T, path string) map[string]map[string]float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Metrics map[string]map[string]any `json:"metrics"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]float64{}
	for name, vals := range doc.Metrics {
		out[name] = map[string]float64{}
		for k, v := range vals {
			if f, ok := v.(float64); ok {
				out[name][k] = f
			}
		}
	}
	return out
}

// podSim runs the containers of the manifests' pods as local processes.
type podSim struct {
	t         *testing.T
	m         *k8sManifests
	tmp       string
	overrides map[string]string // environment values replaced in every pod
	urls      map[string]string // in-cluster URLs and their local equivalents
	mu        sync.Mutex
}

func (s *podSim) results(runID string) string {
	return filepath.Join(s.tmp, "volumes", "results", runID)
}

var k8sVarRef = regexp.MustCompile(`\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)`)

// expand substitutes $(VAR) as the kubelet does ($$ is a literal $, unknown references stay).
func expand(s string, env map[string]string) string {
	return k8sVarRef.ReplaceAllStringFunc(s, func(ref string) string {
		if ref == "$$" {
			return "$"
		}
		if v, ok := env[ref[2:len(ref)-1]]; ok {
			return v
		}
		return ref
	})
}

// run runs the first container of job's pod of completion index idx and returns its result; extra
// replaces environment values (and, for a single-instance run, drops the segment flags).
func (s *podSim) run(job *batchv1.Job, idx int, extra map[string]string) result {
	t := s.t
	spec := job.Spec.Template.Spec
	ctr := spec.Containers[0]
	env := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := env[k]; !ok {
			order = append(order, k)
		}
		env[k] = v
	}
	for _, from := range ctr.EnvFrom {
		if from.ConfigMapRef == nil {
			t.Fatalf("%s: envFrom other than a ConfigMap", job.Name)
		}
		cm := s.m.configMaps[from.ConfigMapRef.Name]
		if cm == nil {
			t.Fatalf("%s: envFrom names the unknown ConfigMap %s", job.Name, from.ConfigMapRef.Name)
		}
		for k, v := range cm.Data {
			set(from.Prefix+k, v)
		}
	}
	for _, e := range ctr.Env {
		switch {
		case e.ValueFrom == nil:
			set(e.Name, expand(e.Value, env))
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.annotations['batch.kubernetes.io/job-completion-index']":
			set(e.Name, strconv.Itoa(idx))
		case e.ValueFrom.ConfigMapKeyRef != nil:
			cm := s.m.configMaps[e.ValueFrom.ConfigMapKeyRef.Name]
			if cm == nil {
				t.Fatalf("%s: env %s names an unknown ConfigMap", job.Name, e.Name)
			}
			set(e.Name, cm.Data[e.ValueFrom.ConfigMapKeyRef.Key])
		default:
			t.Fatalf("%s: env %s: this simulation does not know its valueFrom", job.Name, e.Name)
		}
	}
	if job.Spec.CompletionMode != nil && *job.Spec.CompletionMode == batchv1.IndexedCompletion {
		set("JOB_COMPLETION_INDEX", strconv.Itoa(idx)) // the Job controller sets it in every pod
	}
	for k, v := range s.overrides {
		set(k, v)
	}
	for k, v := range extra {
		set(k, v)
	}
	for k, v := range env {
		for from, to := range s.urls {
			v = strings.ReplaceAll(v, from, to)
		}
		env[k] = v
	}

	// Volumes: ConfigMaps are laid out by their items, claims become directories (subPathExpr expanded).
	mounts := map[string]string{}
	for _, vm := range ctr.VolumeMounts {
		var vol *corev1.Volume
		for i := range spec.Volumes {
			if spec.Volumes[i].Name == vm.Name {
				vol = &spec.Volumes[i]
			}
		}
		if vol == nil {
			t.Fatalf("%s: volumeMount %s names no volume", job.Name, vm.Name)
		}
		local := filepath.Join(s.tmp, "volumes", vm.Name)
		switch {
		case vol.ConfigMap != nil:
			cm := s.m.configMaps[vol.ConfigMap.Name]
			if cm == nil {
				t.Fatalf("%s: volume %s names an unknown ConfigMap", job.Name, vm.Name)
			}
			// Pods of one Job share the volume and start while others lay it out again: each file is
			// replaced by a rename, so a tally reading it never sees it truncated.
			s.mu.Lock()
			for _, it := range vol.ConfigMap.Items {
				p := filepath.Join(local, filepath.FromSlash(it.Path))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p+".new", []byte(cm.Data[it.Key]), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(p+".new", p); err != nil {
					t.Fatal(err)
				}
			}
			s.mu.Unlock()
		case vol.PersistentVolumeClaim != nil:
			if s.m.pvcs[vol.PersistentVolumeClaim.ClaimName] == nil {
				t.Fatalf("%s: volume %s names an unknown claim", job.Name, vm.Name)
			}
			if vm.SubPathExpr != "" {
				local = filepath.Join(local, expand(vm.SubPathExpr, env))
			}
			if err := os.MkdirAll(local, 0o755); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("%s: volume %s: this simulation knows ConfigMaps and claims", job.Name, vm.Name)
		}
		mounts[vm.MountPath] = local
	}
	remap := func(v string) string {
		for from, to := range mounts {
			v = strings.ReplaceAll(v, from+"/", to+"/")
		}
		return v
	}
	var args []string
	for _, a := range ctr.Args {
		a = remap(expand(a, env))
		if extra != nil && strings.HasPrefix(a, "--execution-segment") {
			continue
		}
		args = append(args, a)
	}
	var environ []string
	for _, k := range order {
		environ = append(environ, k+"="+remap(env[k]))
	}
	if len(ctr.Command) != 1 || ctr.Command[0] != "tally" {
		t.Fatalf("%s: the command must be [tally], is %v", job.Name, ctr.Command)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bins, "tally"), args...)
	cmd.Env = environ
	cmd.Dir = t.TempDir()
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s index %d: %v", job.Name, idx, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s index %d did not finish within 3 minutes: %s", job.Name, idx, r)
	}
	return r
}
