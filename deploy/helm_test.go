package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const (
	chartDir    = "helm/syncgate"
	helmInstall = "go install helm.sh/helm/v3/cmd/helm@v3.22.0"
)

// helmCase is one documented way to install the chart.
type helmCase struct {
	name string
	args []string // values files and --set flags
}

func helmCases() []helmCase {
	setCA := func(name string) string {
		return "caBundles." + strings.ReplaceAll(name, ".", `\.`) + "=../examples/cas/" + name
	}
	return []helmCase{
		{"default", nil},
		{"mtls", []string{"-f", chartDir + "/ci/mtls-values.yaml"}},
		{"vault", []string{"-f", chartDir + "/ci/vault-values.yaml"}},
		// A policy and CA bundles of one's own, from files.
		{"policy-from-file", []string{"--set-file", "policy=../examples/policy.yaml",
			"--set-file", setCA("microsoft.pem"), "--set-file", setCA("google.pem"),
			"--set-file", setCA("salesforce.pem"), "--set-file", setCA("corp.pem")}},
		{"no-networkpolicy-no-pdb", []string{"--set", "networkPolicy.enabled=false", "--set", "podDisruptionBudget.enabled=false"}},
	}
}

type obj = map[string]any

func helmTemplate(t *testing.T, helm string, args ...string) []obj {
	t.Helper()
	cmd := exec.Command(helm, append([]string{"template", "rel", chartDir, "--namespace", "sync"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", args, err, stderr.String())
	}
	var objs []obj
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		var o obj
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("rendered manifest does not parse: %v", err)
		}
		if o != nil {
			objs = append(objs, o)
		}
	}
	return objs
}

// get walks a path of map keys.
func get(o any, path ...string) any {
	for _, p := range path {
		m, ok := o.(obj)
		if !ok {
			return nil
		}
		o = m[p]
	}
	return o
}

func list(o any) []any { l, _ := o.([]any); return l }
func str(o any) string { s, _ := o.(string); return s }

func byKind(objs []obj, kind string) []obj {
	var r []obj
	for _, o := range objs {
		if o["kind"] == kind {
			r = append(r, o)
		}
	}
	return r
}

func TestHelmChart(t *testing.T) {
	helm := needTool(t, "helm", helmInstall)
	checksums := map[string]string{}
	for _, c := range helmCases() {
		t.Run(c.name, func(t *testing.T) {
			lint := exec.Command(helm, append([]string{"lint", "--strict", chartDir}, c.args...)...)
			if out, err := lint.CombinedOutput(); err != nil {
				t.Fatalf("helm lint: %v\n%s", err, out)
			}
			objs := helmTemplate(t, helm, c.args...)
			checksums[c.name] = checkRender(t, c.name, objs)
		})
	}
	// The policy from a file differs from the chart's (the sync client's
	// loopback source): the config checksum, and so the pod, changes.
	if checksums["policy-from-file"] == checksums["default"] || checksums["default"] == "" {
		t.Errorf("checksum/config does not follow the policy: %v", checksums)
	}
}

// TestHelmChartRefuses checks the combinations the chart refuses.
func TestHelmChartRefuses(t *testing.T) {
	helm := needTool(t, "helm", helmInstall)
	for _, args := range [][]string{
		{"--set", "service.enabled=true"},                 // a Service needs the TLS listener
		{"--set", "mtls.enabled=true"},                    // no issuer
		{"--set", "replicaCount=2"},                       // state per pod
		{"--set", "secrets.backend=env"},                  // unknown backend
		{"--set", "interceptCA.certManager.enabled=true"}, // no issuer
	} {
		out, err := exec.Command(helm, append([]string{"template", "rel", chartDir}, args...)...).CombinedOutput()
		if err == nil {
			t.Errorf("helm template %v rendered; want a refusal", args)
		} else if !strings.Contains(string(out), "needs") && !strings.Contains(string(out), "must") && !strings.Contains(string(out), "one pod") {
			t.Errorf("helm template %v: %s", args, out)
		}
	}
}

// checkRender checks one rendering and returns the config checksum.
func checkRender(t *testing.T, name string, objs []obj) string {
	deps := byKind(objs, "Deployment")
	if len(deps) != 1 {
		t.Fatalf("%d Deployments", len(deps))
	}
	dep := deps[0]
	pod := get(dep, "spec", "template", "spec").(obj)
	podLabels := get(dep, "spec", "template", "metadata", "labels").(obj)
	cms := map[string]obj{}
	for _, cm := range byKind(objs, "ConfigMap") {
		cms[str(get(cm, "metadata", "name"))] = cm
	}

	// Pod Security "restricted".
	psc := pod["securityContext"].(obj)
	if psc["runAsNonRoot"] != true || str(get(psc, "seccompProfile", "type")) != "RuntimeDefault" {
		t.Errorf("pod securityContext %v", psc)
	}
	if pod["automountServiceAccountToken"] != false {
		t.Error("the service account token is mounted into every container")
	}
	if pod["hostNetwork"] == true || pod["hostPID"] == true || pod["hostIPC"] == true {
		t.Error("host namespaces")
	}
	volumes := map[string]obj{}
	for _, v := range list(pod["volumes"]) {
		volumes[str(get(v, "name"))] = v.(obj)
		if get(v, "hostPath") != nil {
			t.Errorf("hostPath volume %v", v)
		}
	}
	containers := map[string]obj{}
	all := append(append([]any{}, list(pod["initContainers"])...), list(pod["containers"])...)
	for _, c := range all {
		c := c.(obj)
		cname := str(c["name"])
		containers[cname] = c
		sc, _ := c["securityContext"].(obj)
		uid, _ := sc["runAsUser"].(int)
		if sc["runAsNonRoot"] != true || uid == 0 || sc["allowPrivilegeEscalation"] != false || sc["readOnlyRootFilesystem"] != true ||
			sc["privileged"] == true || str(get(sc, "seccompProfile", "type")) != "RuntimeDefault" {
			t.Errorf("%s: securityContext %v is not restricted", cname, sc)
		}
		drop := list(get(sc, "capabilities", "drop"))
		if len(drop) != 1 || drop[0] != "ALL" || get(sc, "capabilities", "add") != nil {
			t.Errorf("%s: capabilities %v, want drop [ALL] and nothing added", cname, get(sc, "capabilities"))
		}
		if c["command"] != nil {
			t.Errorf("%s: command overrides the image's entrypoint (syncgate)", cname)
		}
		var args []string
		for _, a := range list(c["args"]) {
			args = append(args, str(a))
		}
		if len(args) == 0 {
			t.Errorf("%s: no args", cname)
			continue
		}
		checkCommand(t, args)
		if get(c, "resources", "requests") == nil || get(c, "resources", "limits", "memory") == nil {
			t.Errorf("%s: no resource requests or memory limit", cname)
		}
		if !strings.HasPrefix(str(c["image"]), "syncgate") {
			t.Errorf("%s: image %v", cname, c["image"])
		}
	}
	gw, sy := containers["gateway"], containers["sync"]
	if gw == nil || sy == nil {
		t.Fatalf("containers %v: want gateway and sync", keys(containers))
	}
	if a := list(gw["args"]); len(a) < 1 || a[0] != "serve" {
		t.Errorf("gateway args %v", a)
	}
	if a := list(sy["args"]); len(a) < 1 || a[0] != "sync" {
		t.Errorf("sync args %v", a)
	}
	// Probes on the admin listener.
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if str(get(gw, probe, "httpGet", "path")) != path {
			t.Errorf("gateway %s: %v, want %s", probe, gw[probe], path)
		}
	}

	// Secrets only in the gateway: the sync container (and its init
	// container) may see the intercept CA's certificate and, with mTLS, its
	// own client certificate, nothing else from a Secret, and no token.
	mtls := volumes["sync-client-tls"] != nil
	for _, cname := range []string{"sync", "sync-keys"} {
		c := containers[cname]
		if c == nil {
			continue
		}
		for _, e := range list(c["env"]) {
			if get(e, "valueFrom") != nil || get(e, "envFrom") != nil {
				t.Errorf("%s: env %v comes from elsewhere", cname, e)
			}
		}
		if c["envFrom"] != nil {
			t.Errorf("%s: envFrom", cname)
		}
		for _, m := range list(c["volumeMounts"]) {
			vname := str(get(m, "name"))
			v := volumes[vname]
			switch {
			case vname == "sync-client-tls" || vname == "sync-keys":
				// its own identity
			case get(v, "secret") != nil:
				t.Errorf("%s mounts Secret volume %s", cname, vname)
			case get(v, "projected") != nil:
				for _, src := range list(get(v, "projected", "sources")) {
					if get(src, "serviceAccountToken") != nil {
						t.Errorf("%s: volume %s holds a service account token", cname, vname)
					}
					if sec := get(src, "secret"); sec != nil {
						for _, it := range list(get(sec, "items")) {
							if k := str(get(it, "key")); k != "tls.crt" && k != "ca.crt" {
								t.Errorf("%s: volume %s projects %s of Secret %v", cname, vname, k, get(sec, "name"))
							}
						}
						if len(list(get(sec, "items"))) == 0 {
							t.Errorf("%s: volume %s projects a whole Secret", cname, vname)
						}
					}
				}
			case get(v, "emptyDir") != nil || get(v, "persistentVolumeClaim") != nil:
				if strings.HasPrefix(vname, "gateway") {
					t.Errorf("%s mounts the gateway's volume %s", cname, vname)
				}
			}
		}
	}
	gwMounts := map[string]bool{}
	for _, m := range list(gw["volumeMounts"]) {
		gwMounts[str(get(m, "name"))] = true
	}
	if !gwMounts["gateway-keys"] {
		t.Error("the gateway does not mount its keys")
	}
	// The engine goes through the gateway.
	env := map[string]string{}
	for _, e := range list(sy["env"]) {
		env[str(get(e, "name"))] = str(get(e, "value"))
	}
	wantProxy := "http://127.0.0.1:3128"
	if mtls {
		wantProxy = "https://127.0.0.1:3129"
	}
	if env["HTTPS_PROXY"] != wantProxy || env["HTTP_PROXY"] != wantProxy || env["NO_PROXY"] != "" {
		t.Errorf("sync env %v: want HTTPS_PROXY=%s", env, wantProxy)
	}

	// The files in the ConfigMaps load: lay them out as the volumes mount
	// them and run the commands' own loaders and policy lint.
	gwDir, syDir := t.TempDir(), t.TempDir()
	writeProjected(t, volumes["gateway-config"], cms, gwDir)
	writeProjected(t, volumes["sync-config"], cms, syDir)
	configCheck(t, "serve", filepath.Join(gwDir, "syncgate.yaml"))
	configCheck(t, "sync", filepath.Join(syDir, "sync.yaml"))
	if out, err := exec.Command(syncgateBin, "policy", "lint", filepath.Join(gwDir, "policy.yaml")).CombinedOutput(); err != nil {
		t.Errorf("policy lint: %v\n%s", err, out)
	}
	sycfg, _ := os.ReadFile(filepath.Join(syDir, "sync.yaml"))
	var sc struct {
		Gateway struct {
			Proxy   string   `yaml:"proxy"`
			CAFiles []string `yaml:"ca_files"`
		} `yaml:"gateway"`
	}
	if err := yaml.Unmarshal(sycfg, &sc); err != nil || sc.Gateway.Proxy != wantProxy {
		t.Errorf("sync.yaml gateway.proxy %q (%v), want %s", sc.Gateway.Proxy, err, wantProxy)
	}
	gwcfg, _ := os.ReadFile(filepath.Join(gwDir, "syncgate.yaml"))
	var gc struct {
		Secrets struct {
			Backend string `yaml:"backend"`
			Auth    struct {
				Method     string `yaml:"method"`
				K8sJWTFile string `yaml:"k8s_jwt_file"`
			} `yaml:"auth"`
		} `yaml:"secrets"`
		Listen string `yaml:"listen"`
	}
	yaml.Unmarshal(gwcfg, &gc)
	if gc.Secrets.Backend == "vault" {
		if gc.Secrets.Auth.Method != "kubernetes" || !gwMounts["vault-token"] ||
			get(volumes["vault-token"], "projected", "sources") == nil {
			t.Errorf("vault: auth %+v, gateway mounts %v", gc.Secrets.Auth, gwMounts)
		}
	} else if !gwMounts["store"] && volumes["store"] == nil {
		t.Errorf("file store: no store Secret volume")
	}
	if mtls != (gc.Listen != "") {
		t.Errorf("mTLS %v but listen %q", mtls, gc.Listen)
	}

	// The config checksum rolls the pod.
	sum := str(get(dep, "spec", "template", "metadata", "annotations", "checksum/config"))
	if len(sum) != 64 {
		t.Errorf("checksum/config annotation %q", sum)
	}

	// NetworkPolicy: selects this pod, both directions, every egress rule
	// has destinations and ports, and the ports are DNS, HTTPS and Vault.
	nps := byKind(objs, "NetworkPolicy")
	if name != "no-networkpolicy-no-pdb" {
		if len(nps) != 1 {
			t.Fatalf("%d NetworkPolicies", len(nps))
		}
		np := nps[0]
		if !sameLabels(get(np, "spec", "podSelector", "matchLabels"), podLabels) {
			t.Errorf("NetworkPolicy selects %v, pod labels %v", get(np, "spec", "podSelector"), podLabels)
		}
		types := list(get(np, "spec", "policyTypes"))
		if len(types) != 2 {
			t.Errorf("policyTypes %v", types)
		}
		for _, r := range list(get(np, "spec", "egress")) {
			if len(list(get(r, "to"))) == 0 || len(list(get(r, "ports"))) == 0 {
				t.Errorf("egress rule %v allows any destination or any port", r)
			}
			for _, p := range list(get(r, "ports")) {
				switch get(p, "port") {
				case 53, 443, 8200:
				default:
					t.Errorf("egress port %v", get(p, "port"))
				}
			}
			for _, to := range list(get(r, "to")) {
				if str(get(to, "ipBlock", "cidr")) == "0.0.0.0/0" && len(list(get(to, "ipBlock", "except"))) == 0 {
					t.Errorf("egress to 0.0.0.0/0 without excepting private ranges")
				}
			}
		}
		for _, r := range list(get(np, "spec", "ingress")) {
			if len(list(get(r, "from"))) == 0 {
				t.Errorf("ingress rule %v admits anyone", r)
			}
		}
		pdbs := byKind(objs, "PodDisruptionBudget")
		if len(pdbs) != 1 || !sameLabels(get(pdbs[0], "spec", "selector", "matchLabels"), podLabels) {
			t.Errorf("PodDisruptionBudget %v", pdbs)
		}
	} else if len(nps) != 0 || len(byKind(objs, "PodDisruptionBudget")) != 0 {
		t.Error("disabled NetworkPolicy or PodDisruptionBudget rendered")
	}
	if svcs := byKind(objs, "Service"); mtls != (len(svcs) == 1) {
		t.Errorf("mTLS %v, Services %d", mtls, len(svcs))
	}
	if sas := byKind(objs, "ServiceAccount"); len(sas) != 1 || get(sas[0], "automountServiceAccountToken") != false {
		t.Errorf("ServiceAccount %v", sas)
	}
	return sum
}

// writeProjected writes a volume's ConfigMap items (and, for projected
// Secret items, a placeholder) into dir at their paths.
func writeProjected(t *testing.T, v obj, cms map[string]obj, dir string) {
	t.Helper()
	var sources []any
	if p := get(v, "projected", "sources"); p != nil {
		sources = list(p)
	} else if cm := get(v, "configMap"); cm != nil {
		sources = []any{obj{"configMap": cm}}
	}
	if len(sources) == 0 {
		t.Fatalf("volume %v: no sources", v)
	}
	for _, src := range sources {
		if cm := get(src, "configMap"); cm != nil {
			data, _ := get(cms[str(get(cm, "name"))], "data").(obj)
			if data == nil {
				t.Fatalf("ConfigMap %v not rendered", get(cm, "name"))
			}
			for _, it := range list(get(cm, "items")) {
				key, path := str(get(it, "key")), str(get(it, "path"))
				val, ok := data[key].(string)
				if !ok {
					t.Fatalf("ConfigMap %v has no key %s", get(cm, "name"), key)
				}
				p := filepath.Join(dir, path)
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, []byte(val), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func sameLabels(a any, b obj) bool {
	m, ok := a.(obj)
	if !ok || len(m) == 0 {
		return false
	}
	for k, v := range m {
		if b[k] != v {
			return false
		}
	}
	return true
}

func keys(m map[string]obj) []string {
	var r []string
	for k := range m {
		r = append(r, k)
	}
	sort.Strings(r)
	return r
}
