{{- define "syncgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "syncgate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "syncgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "syncgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "syncgate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "syncgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "syncgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "syncgate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "syncgate.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "syncgate.validate" -}}
{{- if and .Values.service.enabled (not .Values.mtls.enabled) -}}
{{- fail "service.enabled needs mtls.enabled: the gateway's listener for other clients is TLS with client certificates" -}}
{{- end -}}
{{- if and .Values.mtls.enabled (not .Values.mtls.issuerRef.name) -}}
{{- fail "mtls.enabled needs mtls.issuerRef.name (a cert-manager Issuer or ClusterIssuer)" -}}
{{- end -}}
{{- if and .Values.interceptCA.certManager.enabled (not .Values.interceptCA.certManager.issuerRef.name) -}}
{{- fail "interceptCA.certManager.enabled needs interceptCA.certManager.issuerRef.name" -}}
{{- end -}}
{{- if not (has .Values.secrets.backend (list "file" "vault")) -}}
{{- fail "secrets.backend must be file or vault" -}}
{{- end -}}
{{- if gt (int .Values.replicaCount) 1 -}}
{{- fail "replicaCount: one pod per release (the SQLite state and the audit logs are per pod); install another release for another set of users" -}}
{{- end -}}
{{- end -}}

{{/* Where things are inside the containers. */}}
{{- define "syncgate.keysDir" -}}/run/syncgate/keys{{- end -}}

{{/* The gateway's config: syncgate.yaml. */}}
{{- define "syncgate.gatewayConfig" -}}
{{- $keys := include "syncgate.keysDir" . -}}
plain_listen: 127.0.0.1:{{ .Values.gateway.plainPort }}
{{- if .Values.mtls.enabled }}
listen: 0.0.0.0:{{ .Values.gateway.tlsPort }}
tls:
  cert_file: {{ $keys }}/listener/tls.crt
  key_file: {{ $keys }}/listener/tls.key
  client_ca: [{{ $keys }}/listener/ca.crt]
{{- end }}
intercept_ca:
  cert_file: {{ $keys }}/intercept-ca/tls.crt
  key_file: {{ $keys }}/intercept-ca/tls.key
policy: policy.yaml
audit:
  path: /var/lib/syncgate/audit.jsonl
  fsync: {{ .Values.gateway.audit.fsync }}
  fail_closed: true
  rotate_size: {{ int64 .Values.gateway.audit.rotateSize }}
  retain_count: {{ .Values.gateway.audit.retainCount }}
  gzip: {{ .Values.gateway.audit.gzip }}
{{- with .Values.gateway.network }}
network:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.gateway.limits }}
limits:
  {{- toYaml . | nindent 2 }}
{{- end }}
metrics: {listen: "0.0.0.0:{{ .Values.gateway.metricsPort }}"}
secrets:
{{- if eq .Values.secrets.backend "vault" }}
  backend: vault
  address: {{ .Values.secrets.vault.address | quote }}
  {{- if .Values.secrets.vault.caSecret }}
  ca_cert: /etc/syncgate/vault-ca.crt
  {{- end }}
  {{- with .Values.secrets.vault.namespace }}
  namespace: {{ . | quote }}
  {{- end }}
  mount: {{ .Values.secrets.vault.mount }}
  path: {{ .Values.secrets.vault.path }}
  transit_mount: {{ .Values.secrets.vault.transitMount }}
  auth:
    method: kubernetes
    mount: {{ .Values.secrets.vault.authMount }}
    k8s_role: {{ .Values.secrets.vault.role }}
    k8s_jwt_file: /var/run/secrets/syncgate/vault/token
{{- else }}
  backend: file
  path: {{ $keys }}/store/secrets.enc
  key_file: {{ $keys }}/store/secrets.key
{{- end }}
broker_client: {{ .Values.gateway.brokerClient }}
{{- with .Values.gateway.credentials }}
credentials:
  {{- toYaml . | nindent 2 }}
{{- end }}
log: {level: {{ .Values.gateway.logLevel }}}
{{- end -}}

{{/* The sync engine's config: sync.yaml. No secret of any kind. */}}
{{- define "syncgate.syncConfig" -}}
gateway:
{{- if .Values.mtls.enabled }}
  proxy: https://127.0.0.1:{{ .Values.gateway.tlsPort }}
  cert_file: {{ include "syncgate.keysDir" . }}/client/tls.crt
  key_file: {{ include "syncgate.keysDir" . }}/client/tls.key
  ca_files: [{{ include "syncgate.keysDir" . }}/client/ca.crt, /etc/syncgate/intercept-ca.pem]
{{- else }}
  proxy: http://127.0.0.1:{{ .Values.gateway.plainPort }}
  ca_files: [/etc/syncgate/intercept-ca.pem]
{{- end }}
state:
  sqlite: {path: /var/lib/syncgate/sync-state.db}
audit: {path: /var/lib/syncgate/sync-audit.jsonl, fsync: always}
metrics: {listen: "127.0.0.1:9091"}
log: {level: {{ .Values.sync.logLevel }}}
{{ toYaml .Values.sync.config }}
{{- end -}}

{{/* Pod Security "restricted", per container. */}}
{{- define "syncgate.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities: {drop: [ALL]}
seccompProfile: {type: RuntimeDefault}
{{- end -}}
