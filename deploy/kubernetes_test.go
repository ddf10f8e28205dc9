package deploy_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/refbot/refbot/config"
)

const (
	k8sDir           = "kubernetes"
	k8sKustomization = "kustomization.yaml"
	// k8sImage is where make image publishes refbot.
	k8sImage = "ghcr.io/refbot/refbot"
	// k8sUser is the image's user, refbot (uid and gid).
	k8sUser = 65532
	// k8sPort is the port refbot listens on in its image.
	k8sPort = 8080
)

// k8sKinds are the kinds deploy/kubernetes may hold, by apiVersion and kind,
// each with the Kubernetes API type its documents are decoded into.
var k8sKinds = map[string]func() any{
	"apps/v1 StatefulSet":                func() any { return new(appsv1.StatefulSet) },
	"v1 Service":                         func() any { return new(corev1.Service) },
	"v1 ConfigMap":                       func() any { return new(corev1.ConfigMap) },
	"v1 Secret":                          func() any { return new(corev1.Secret) },
	"policy/v1 PodDisruptionBudget":      func() any { return new(policyv1.PodDisruptionBudget) },
	"networking.k8s.io/v1 NetworkPolicy": func() any { return new(networkingv1.NetworkPolicy) },
	"kustomize.config.k8s.io/v1beta1 Kustomization": func() any { return new(kustomization) },
}

// kustomization is the part of kustomize's Kustomization that
// kustomization.yaml uses; decoding is strict, so a key beyond it fails
// the test until it is added here.
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors"`
	} `json:"labels"`
	Resources []string `json:"resources"`
	Images    []struct {
		Name   string `json:"name"`
		NewTag string `json:"newTag"`
	} `json:"images"`
}

// k8sManifests are the documents of deploy/kubernetes, one of each kind.
type k8sManifests struct {
	files         map[string][]any // every file's documents, decoded
	kustomization *kustomization
	statefulSet   *appsv1.StatefulSet
	service       *corev1.Service
	configMap     *corev1.ConfigMap
	secret        *corev1.Secret
	pdb           *policyv1.PodDisruptionBudget
	networkPolicy *networkingv1.NetworkPolicy
}

// decodeK8sDocument decodes one YAML document strictly into the API type
// of its kind: duplicate keys, unknown fields and values of the wrong type
// are errors.
func decodeK8sDocument(doc []byte) (any, error) {
	js, err := sigsyaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, err
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		return nil, err
	}
	newObject, ok := k8sKinds[tm.APIVersion+" "+tm.Kind]
	if !ok {
		return nil, fmt.Errorf("apiVersion %q kind %q is not one the test knows (%s)", tm.APIVersion, tm.Kind, strings.Join(slices.Sorted(maps.Keys(k8sKinds)), ", "))
	}
	obj := newObject()
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return nil, fmt.Errorf("%s %s: %w", tm.APIVersion, tm.Kind, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s %s: data after the object", tm.APIVersion, tm.Kind)
	}
	return obj, nil
}

// readK8sManifests decodes every YAML file of deploy/kubernetes.
func readK8sManifests(t *testing.T) *k8sManifests {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatalf("no YAML files in %s", k8sDir)
	}
	m := &k8sManifests{files: map[string][]any{}}
	count := map[string]int{}
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(f))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if len(bytes.TrimSpace(stripYAMLComments(doc))) == 0 {
				continue
			}
			obj, err := decodeK8sDocument(doc)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			base := filepath.Base(name)
			m.files[base] = append(m.files[base], obj)
			kind := fmt.Sprintf("%T", obj)
			count[kind]++
			switch o := obj.(type) {
			case *kustomization:
				m.kustomization = o
			case *appsv1.StatefulSet:
				m.statefulSet = o
			case *corev1.Service:
				m.service = o
			case *corev1.ConfigMap:
				m.configMap = o
			case *corev1.Secret:
				m.secret = o
			case *policyv1.PodDisruptionBudget:
				m.pdb = o
			case *networkingv1.NetworkPolicy:
				m.networkPolicy = o
			}
		}
		f.Close()
	}
	for _, newObject := range k8sKinds {
		if kind := fmt.Sprintf("%T", newObject()); count[kind] != 1 {
			t.Fatalf("%s holds %d documents of type %s; want one", k8sDir, count[kind], kind)
		}
	}
	return m
}

// stripYAMLComments drops the lines that are only a comment, so that a
// document of comments alone counts as empty.
func stripYAMLComments(doc []byte) []byte {
	var out []byte
	for line := range bytes.Lines(doc) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line...)
		}
	}
	return out
}

// TestKubernetesManifests decodes deploy/kubernetes strictly with the
// Kubernetes API types and checks what refbot needs of them (checkK8s);
// then that the checks catch manifests that miss it.
func TestKubernetesManifests(t *testing.T) {
	drain := serveDrain(t)
	m := readK8sManifests(t)
	for _, p := range checkK8s(m, drain, t.TempDir()) {
		t.Error(p)
	}

	tests := []struct {
		name string
		edit func(*k8sManifests)
		want string
	}{
		{"two replicas", func(m *k8sManifests) { m.statefulSet.Spec.Replicas = new(int32(2)) }, "replicas"},
		{"parallel pods", func(m *k8sManifests) { m.statefulSet.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }, "podManagementPolicy"},
		{"a shared volume", func(m *k8sManifests) {
			m.statefulSet.Spec.VolumeClaimTemplates[0].Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		}, "ReadWriteOncePod"},
		{"readiness on /healthz", func(m *k8sManifests) { refbotContainer(m.statefulSet).ReadinessProbe.HTTPGet.Path = "/healthz" }, "readinessProbe"},
		{"no startup probe", func(m *k8sManifests) { refbotContainer(m.statefulSet).StartupProbe = nil }, "startupProbe"},
		{"a probe on another port", func(m *k8sManifests) {
			refbotContainer(m.statefulSet).LivenessProbe.HTTPGet.Port = intstr.FromInt32(9090)
		}, "livenessProbe"},
		{"writable root", func(m *k8sManifests) {
			refbotContainer(m.statefulSet).SecurityContext.ReadOnlyRootFilesystem = new(false)
		}, "readOnlyRootFilesystem"},
		{"root", func(m *k8sManifests) {
			m.statefulSet.Spec.Template.Spec.SecurityContext.RunAsUser = new(int64(0))
			refbotContainer(m.statefulSet).SecurityContext.RunAsUser = nil
		}, "runAsUser"},
		{"a capability", func(m *k8sManifests) {
			refbotContainer(m.statefulSet).SecurityContext.Capabilities.Add = []corev1.Capability{"NET_ADMIN"}
		}, "capabilities"},
		{"no seccomp", func(m *k8sManifests) {
			m.statefulSet.Spec.Template.Spec.SecurityContext.SeccompProfile = nil
			refbotContainer(m.statefulSet).SecurityContext.SeccompProfile = nil
		}, "seccompProfile"},
		{"no memory limit", func(m *k8sManifests) { delete(refbotContainer(m.statefulSet).Resources.Limits, corev1.ResourceMemory) }, "limits.memory"},
		{"short grace", func(m *k8sManifests) {
			m.statefulSet.Spec.Template.Spec.TerminationGracePeriodSeconds = new(int64(30))
		}, "terminationGracePeriodSeconds"},
		{"listening on loopback", func(m *k8sManifests) {
			m.configMap.Data["refbot.yaml"] = strings.Replace(m.configMap.Data["refbot.yaml"], "listen: 0.0.0.0:8080", "listen: 127.0.0.1:8080", 1)
		}, "server.listen"},
		{"state elsewhere", func(m *k8sManifests) {
			m.configMap.Data["refbot.yaml"] = strings.Replace(m.configMap.Data["refbot.yaml"], "state_dir: /var/lib/refbot", "state_dir: /srv/refbot", 1)
		}, "state_dir"},
		{"a secret the Secret lacks", func(m *k8sManifests) {
			delete(m.secret.StringData, "webhook-secret")
		}, "webhook-secret"},
		{"a bad config", func(m *k8sManifests) {
			m.configMap.Data["refbot.yaml"] += "unknown_key: 1\n"
		}, "unknown_key"},
		{"Service to another port", func(m *k8sManifests) { m.service.Spec.Ports[0].TargetPort = intstr.FromInt32(9090) }, "Service"},
		{"Service selecting nothing", func(m *k8sManifests) { m.service.Spec.Selector = map[string]string{"app": "other"} }, "Service"},
		{"ingress on another port", func(m *k8sManifests) {
			m.networkPolicy.Spec.Ingress[0].Ports[0].Port = new(intstr.FromInt32(9090))
		}, "NetworkPolicy"},
		{"no DNS", func(m *k8sManifests) { m.networkPolicy.Spec.Egress = m.networkPolicy.Spec.Egress[1:] }, "53"},
		{"PDB selecting nothing", func(m *k8sManifests) {
			m.pdb.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}}
		}, "PodDisruptionBudget"},
		{"a resource left out", func(m *k8sManifests) { m.kustomization.Resources = m.kustomization.Resources[1:] }, "resources"},
	}
	for _, tc := range tests {
		t.Run("catches "+tc.name, func(t *testing.T) {
			m := readK8sManifests(t)
			tc.edit(m)
			problems := checkK8s(m, drain, t.TempDir())
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("edited manifests: problems %q, want one containing %q", problems, tc.want)
			}
		})
	}
}

// refbotContainer is the StatefulSet's container named refbot, or nil.
func refbotContainer(s *appsv1.StatefulSet) *corev1.Container {
	for i, c := range s.Spec.Template.Spec.Containers {
		if c.Name == "refbot" {
			return &s.Spec.Template.Spec.Containers[i]
		}
	}
	return nil
}

// checkK8s returns every way the manifests fall short: one writer on its
// volume, probes on refbot's endpoints, a locked-down container, a
// configuration refbot accepts whose files are where the pod mounts them,
// and a Service, PodDisruptionBudget and NetworkPolicy that select the pod
// and reach its port. dir is a scratch folder for the configuration check.
func checkK8s(m *k8sManifests, drain time.Duration, dir string) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	s := m.statefulSet
	spec := s.Spec.Template.Spec
	if s.Spec.Replicas == nil || *s.Spec.Replicas != 1 {
		add("StatefulSet: replicas must be 1: SQLite has one writer")
	}
	if p := s.Spec.PodManagementPolicy; p != "" && p != appsv1.OrderedReadyPodManagement {
		add("StatefulSet: podManagementPolicy %s may start a pod before its predecessor is gone; want OrderedReady", p)
	}
	if u := s.Spec.UpdateStrategy; u.Type != appsv1.RollingUpdateStatefulSetStrategyType && u.Type != appsv1.OnDeleteStatefulSetStrategyType {
		add("StatefulSet: updateStrategy %q; want RollingUpdate", u.Type)
	}
	if p := s.Spec.PersistentVolumeClaimRetentionPolicy; p != nil && (p.WhenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType || p.WhenScaled == appsv1.DeletePersistentVolumeClaimRetentionPolicyType) {
		add("StatefulSet: persistentVolumeClaimRetentionPolicy deletes the database's volume")
	}
	if s.Spec.ServiceName != m.service.Name {
		add("StatefulSet: serviceName %q, want the Service %q", s.Spec.ServiceName, m.service.Name)
	}
	podLabels := labels.Set(s.Spec.Template.Labels)
	selects := func(kind string, sel *metav1.LabelSelector) {
		selector, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil || sel == nil || selector.Empty() || !selector.Matches(podLabels) {
			add("%s: its selector %v does not select the pod (labels %v)", kind, sel, podLabels)
		}
	}
	selects("StatefulSet", s.Spec.Selector)
	if g := spec.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= drain {
		add("StatefulSet: terminationGracePeriodSeconds must be more than the %s refbot serve may take to drain", drain)
	}
	if a := spec.AutomountServiceAccountToken; a == nil || *a {
		add("StatefulSet: automountServiceAccountToken must be false: refbot calls no Kubernetes API")
	}

	c := refbotContainer(s)
	if c == nil || len(spec.Containers) != 1 {
		add("StatefulSet: want one container, named refbot")
		return problems
	}
	repo, tag, _ := strings.Cut(c.Image, ":")
	if repo != k8sImage || tag == "" || tag == "latest" {
		add("container: image %q; want %s:VERSION, a release's tag", c.Image, k8sImage)
	}
	if len(m.kustomization.Images) != 1 || m.kustomization.Images[0].Name != repo {
		add("kustomization: images must set the tag of %s", repo)
	}
	if len(c.Command) != 0 || len(c.Args) != 3 || c.Args[0] != "serve" || c.Args[1] != "--config" {
		add("container: args %q; want serve --config FILE, the image's entrypoint being refbot", c.Args)
		return problems
	}
	configFile := c.Args[2]

	// port resolves a probe's or the Service's target port to a number.
	port := func(p intstr.IntOrString) int32 {
		if p.Type == intstr.Int {
			return p.IntVal
		}
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				return cp.ContainerPort
			}
		}
		return 0
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.ContainerPort == k8sPort && p.Name != "" }) {
		add("container: want a named port %d", k8sPort)
	}
	for _, probe := range []struct {
		name string
		p    *corev1.Probe
		path string
	}{
		{"startupProbe", c.StartupProbe, "/healthz"},
		{"livenessProbe", c.LivenessProbe, "/healthz"},
		{"readinessProbe", c.ReadinessProbe, "/readyz"},
	} {
		if probe.p == nil || probe.p.HTTPGet == nil {
			add("container: %s must be an HTTP GET of %s", probe.name, probe.path)
			continue
		}
		if g := probe.p.HTTPGet; g.Path != probe.path || port(g.Port) != k8sPort {
			add("container: %s gets %s on port %s; want %s on %d", probe.name, g.Path, g.Port.String(), probe.path, k8sPort)
		}
	}

	// The security context in force: the container's, or else the pod's.
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	csc := c.SecurityContext
	if csc == nil {
		csc = &corev1.SecurityContext{}
	}
	if v := firstSet(csc.RunAsNonRoot, psc.RunAsNonRoot); v == nil || !*v {
		add("securityContext: runAsNonRoot must be true")
	}
	if v := firstSet(csc.RunAsUser, psc.RunAsUser); v == nil || *v != k8sUser {
		add("securityContext: runAsUser must be %d, the image's user", k8sUser)
	}
	if v := csc.ReadOnlyRootFilesystem; v == nil || !*v {
		add("securityContext: readOnlyRootFilesystem must be true")
	}
	if v := csc.AllowPrivilegeEscalation; v == nil || *v {
		add("securityContext: allowPrivilegeEscalation must be false")
	}
	if v := csc.Privileged; v != nil && *v {
		add("securityContext: privileged must not be true")
	}
	if cp := csc.Capabilities; cp == nil || !slices.Contains(cp.Drop, "ALL") || len(cp.Add) != 0 {
		add("securityContext: capabilities must drop ALL and add none")
	}
	seccomp := csc.SeccompProfile
	if seccomp == nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		add("securityContext: seccompProfile must be RuntimeDefault")
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := c.Resources.Requests[r]; !ok || q.IsZero() {
			add("container: resources.requests.%s must be set", r)
		}
	}
	if q, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok || q.IsZero() {
		add("container: resources.limits.memory must be set")
	}

	// Volumes: each mount's source, and where the writable ones are.
	volumes := map[string]corev1.VolumeSource{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v.VolumeSource
	}
	claims := map[string]corev1.PersistentVolumeClaim{}
	for _, pvc := range s.Spec.VolumeClaimTemplates {
		claims[pvc.Name] = pvc
	}
	mounts := map[string]corev1.VolumeMount{} // by mount path
	writable := map[string]bool{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.MountPath] = vm
		v, isVolume := volumes[vm.Name]
		_, isClaim := claims[vm.Name]
		switch {
		case !isVolume && !isClaim:
			add("container: volumeMount %s names no volume or claim template", vm.Name)
		case !vm.ReadOnly && (isClaim || v.EmptyDir != nil):
			writable[vm.MountPath] = true
		}
	}
	for _, e := range c.Env {
		if e.Name == "TMPDIR" && !writable[e.Value] {
			add("container: TMPDIR %s is not a writable volume, and the root file system is read-only", e.Value)
		}
	}

	// The configuration, from the ConfigMap mounted where args say.
	cm, ok := mounts[path.Dir(configFile)]
	if v := volumes[cm.Name]; !ok || v.ConfigMap == nil || v.ConfigMap.Name != m.configMap.Name {
		add("container: %s is not in a mount of the ConfigMap %s", configFile, m.configMap.Name)
		return problems
	}
	data, ok := m.configMap.Data[path.Base(configFile)]
	if !ok {
		add("ConfigMap: no key %s, the file args name", path.Base(configFile))
		return problems
	}
	var secretMount string
	for mp, vm := range mounts {
		if v := volumes[vm.Name]; v.Secret != nil {
			if v.Secret.SecretName != m.secret.Name {
				add("container: mounts the Secret %s; secret.example.yaml is %s", v.Secret.SecretName, m.secret.Name)
			}
			if mode := v.Secret.DefaultMode; mode == nil || *mode&0o007 != 0 || *mode&0o040 == 0 {
				add("container: the secrets' defaultMode must let refbot's group (fsGroup) read them and others not")
			}
			if !vm.ReadOnly {
				add("container: the secrets must be mounted read-only")
			}
			secretMount = mp
		}
	}
	if g := psc.FSGroup; g == nil || *g != k8sUser {
		add("securityContext: fsGroup must be %d, so that refbot can read its secrets and write its volume", k8sUser)
	}
	cfg, cfgProblems := checkK8sConfig(m, data, dir, secretMount)
	problems = append(problems, cfgProblems...)
	if cfg == nil {
		return problems
	}
	if vm, ok := mounts[cfg.StateDir]; !ok || !writable[cfg.StateDir] || claims[vm.Name].Name == "" {
		add("ConfigMap: state_dir %s is not the mount of a volume claim template", cfg.StateDir)
	} else if modes := claims[vm.Name].Spec.AccessModes; !slices.Equal(modes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod}) {
		add("StatefulSet: the claim %s has accessModes %v; want [ReadWriteOncePod], so that no second pod mounts the database", vm.Name, modes)
	}
	host, portText, _ := net.SplitHostPort(cfg.Server.Listen)
	listen, _ := strconv.Atoi(portText)
	if listen != k8sPort || (host != "" && host != "0.0.0.0" && host != "::") {
		add("ConfigMap: server.listen is %s; want 0.0.0.0:%d, so that the Service and the probes reach it", cfg.Server.Listen, k8sPort)
	}

	// The Service, the PodDisruptionBudget and the NetworkPolicy.
	if sel := m.service.Spec.Selector; len(sel) == 0 || !labels.SelectorFromSet(sel).Matches(podLabels) {
		add("Service: its selector %v does not select the pod", sel)
	}
	if ps := m.service.Spec.Ports; len(ps) != 1 || ps[0].Port != k8sPort || port(ps[0].TargetPort) != k8sPort {
		add("Service: want one port %d to the container's %d", k8sPort, k8sPort)
	}
	selects("PodDisruptionBudget", m.pdb.Spec.Selector)
	if (m.pdb.Spec.MaxUnavailable == nil) == (m.pdb.Spec.MinAvailable == nil) {
		add("PodDisruptionBudget: set one of maxUnavailable and minAvailable")
	}
	np := m.networkPolicy.Spec
	selects("NetworkPolicy", &np.PodSelector)
	if !slices.Contains(np.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(np.PolicyTypes, networkingv1.PolicyTypeEgress) {
		add("NetworkPolicy: policyTypes must be Ingress and Egress")
	}
	if len(np.Ingress) == 0 {
		add("NetworkPolicy: no ingress rule lets the webhook in")
	}
	for _, r := range np.Ingress {
		if len(r.Ports) == 0 || slices.ContainsFunc(r.Ports, func(p networkingv1.NetworkPolicyPort) bool {
			return p.Port == nil || port(*p.Port) != k8sPort || p.EndPort != nil
		}) {
			add("NetworkPolicy: an ingress rule lets in more than port %d", k8sPort)
		}
	}
	egress := func(proto corev1.Protocol, n int32) bool {
		return slices.ContainsFunc(np.Egress, func(r networkingv1.NetworkPolicyEgressRule) bool {
			return slices.ContainsFunc(r.Ports, func(p networkingv1.NetworkPolicyPort) bool {
				return p.Port != nil && p.Port.IntVal == n && (p.Protocol == nil && proto == corev1.ProtocolTCP || p.Protocol != nil && *p.Protocol == proto)
			})
		})
	}
	for _, want := range []struct {
		proto corev1.Protocol
		port  int32
	}{{corev1.ProtocolUDP, 53}, {corev1.ProtocolTCP, 53}, {corev1.ProtocolTCP, 443}} {
		if !egress(want.proto, want.port) {
			add("NetworkPolicy: no egress rule lets out %s %d", want.proto, want.port)
		}
	}

	// kustomization.yaml lists every file but itself and the Secret's
	// example, whose values are placeholders.
	var want []string
	for name, objs := range m.files {
		if name == k8sKustomization || slices.ContainsFunc(objs, func(o any) bool { _, ok := o.(*corev1.Secret); return ok }) {
			continue
		}
		want = append(want, name)
	}
	slices.Sort(want)
	if got := slices.Sorted(slices.Values(m.kustomization.Resources)); !slices.Equal(got, want) {
		add("kustomization: resources are %v; want %v", got, want)
	}
	for _, l := range m.kustomization.Labels {
		if l.IncludeSelectors {
			add("kustomization: labels with includeSelectors change the StatefulSet's selector, which cannot be changed once applied")
		}
	}
	return problems
}

// firstSet is own if set, else pod: a container's security setting, or
// else its pod's.
func firstSet[T any](own, pod *T) *T {
	if own != nil {
		return own
	}
	return pod
}

// writeK8sConfig writes the ConfigMap's configuration into dir as
// refbot.yaml and returns its path. With a Secret, its keys are written as
// files into dir/secrets, and the configuration's secret folder
// (secretMount) becomes that one.
func writeK8sConfig(dir, data, secretMount string, secret *corev1.Secret) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if secret != nil {
		secrets := filepath.Join(dir, "secrets")
		if err := os.Mkdir(secrets, 0o700); err != nil {
			return "", err
		}
		files := maps.Clone(secret.Data)
		if files == nil {
			files = map[string][]byte{}
		}
		for key, value := range secret.StringData {
			files[key] = []byte(value)
		}
		for key, value := range files {
			if err := os.WriteFile(filepath.Join(secrets, key), value, 0o600); err != nil {
				return "", err
			}
		}
		data = strings.ReplaceAll(data, secretMount+"/", secrets+"/")
	}
	file := filepath.Join(dir, "refbot.yaml")
	return file, os.WriteFile(file, []byte(data), 0o600)
}

// checkK8sConfig checks the ConfigMap's configuration as refbot config
// check --secrets would in the pod: refbot accepts it, every secret is a
// file of the mounted Secret, every key of the Secret is read, and with
// the Secret's files present every secret reads. It returns the
// configuration, or nil when refbot refuses it.
func checkK8sConfig(m *k8sManifests, data, dir, secretMount string) (*config.Config, []string) {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if secretMount == "" {
		add("container: no Secret mounted")
		return nil, problems
	}
	// As the pod reads it, secrets not yet resolved.
	file, err := writeK8sConfig(filepath.Join(dir, "as-is"), data, secretMount, nil)
	if err != nil {
		add("%v", err)
		return nil, problems
	}
	cfg, err := config.Load(file)
	if err != nil {
		add("ConfigMap: refbot config check: %v", err)
		return nil, problems
	}
	keys := map[string]bool{}
	for k := range m.secret.StringData {
		keys[k] = false
	}
	for k := range m.secret.Data {
		keys[k] = false
	}
	for field, s := range configSecrets(cfg) {
		key, ok := strings.CutPrefix(s.File, secretMount+"/")
		if _, known := keys[key]; !ok || !known {
			add("ConfigMap: %s is %s; want {file: %s/KEY} with KEY one of the Secret's (%s)", field, s, secretMount, strings.Join(slices.Sorted(maps.Keys(keys)), ", "))
			continue
		}
		keys[key] = true
	}
	for _, key := range slices.Sorted(maps.Keys(keys)) {
		if !keys[key] {
			add("Secret: no secret of the configuration reads the key %s", key)
		}
	}
	for key, dir := range map[string]string{"database": cfg.Database, "data_repo.cache_dir": cfg.DataRepo.CacheDir} {
		if !strings.HasPrefix(dir, cfg.StateDir+"/") {
			add("ConfigMap: %s is %s, outside state_dir and so on the read-only root", key, dir)
		}
	}

	// With the Secret's files present, every secret reads.
	file, err = writeK8sConfig(filepath.Join(dir, "with-secrets"), data, secretMount, m.secret)
	if err != nil {
		add("%v", err)
		return cfg, problems
	}
	withSecrets, err := config.Load(file)
	if err == nil {
		err = withSecrets.CheckSecrets()
	}
	if err != nil {
		add("ConfigMap: refbot config check --secrets, the Secret's files in place: %v", err)
	}
	return cfg, problems
}
