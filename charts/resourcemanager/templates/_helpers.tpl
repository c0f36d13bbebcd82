{{/* Chart name, truncated to the 63 characters Kubernetes allows in names. */}}
{{- define "resourcemanager.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name of the chart's objects. */}}
{{- define "resourcemanager.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "resourcemanager.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels; call with (dict "root" $ "component" "web"). */}}
{{- define "resourcemanager.selectorLabels" -}}
app.kubernetes.io/name: {{ include "resourcemanager.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Common labels; call with (dict "root" $ "component" "web"). */}}
{{- define "resourcemanager.labels" -}}
helm.sh/chart: {{ include "resourcemanager.chart" .root }}
{{ include "resourcemanager.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: resourcemanager
{{- end }}

{{- define "resourcemanager.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "resourcemanager.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "resourcemanager.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The chart's own Secret, holding whatever secret values were given inline. */}}
{{- define "resourcemanager.secretName" -}}
{{- include "resourcemanager.fullname" . }}
{{- end }}

{{/* Fail early, with the value to set, on what the app would refuse at start. */}}
{{- define "resourcemanager.validate" -}}
{{- if not .Values.existingSecret }}
{{- $_ := required "set existingSecret, or secretKey and encryptionKeys" .Values.secretKey }}
{{- $_ := required "set existingSecret, or secretKey and encryptionKeys" .Values.encryptionKeys }}
{{- end }}
{{- if not .Values.database.existingSecret }}
{{- $_ := required "set database.url or database.existingSecret" .Values.database.url }}
{{- end }}
{{- if not .Values.redis.existingSecret }}
{{- $_ := required "set redis.url or redis.existingSecret" .Values.redis.url }}
{{- end }}
{{- if .Values.oidc.enabled }}
{{- $_ := required "oidc.enabled needs oidc.clientId" .Values.oidc.clientId }}
{{- $_ := required "oidc.enabled needs oidc.issuer" .Values.oidc.issuer }}
{{- if not .Values.oidc.existingSecret }}
{{- $_ := required "oidc.enabled needs oidc.clientSecret or oidc.existingSecret" .Values.oidc.clientSecret }}
{{- end }}
{{- end }}
{{- end }}

{{/* A secretKeyRef to a key of an existing Secret, else to the chart's Secret. */}}
{{- define "resourcemanager.secretRef" -}}
secretKeyRef:
  name: {{ .existingSecret | default (include "resourcemanager.secretName" .root) }}
  key: {{ ternary .existingKey .key (not (empty .existingSecret)) }}
{{- end }}

{{/* ALLOWED_HOSTS: as configured, else the ingress hosts, else empty (the app's default). */}}
{{- define "resourcemanager.allowedHosts" -}}
{{- if .Values.config.allowedHosts }}
{{- .Values.config.allowedHosts }}
{{- else if .Values.ingress.enabled }}
{{- $hosts := list }}
{{- range .Values.ingress.hosts }}
{{- $hosts = append $hosts .host }}
{{- end }}
{{- join "," $hosts }}
{{- end }}
{{- end }}

{{/* Environment of every process: settings and references to secrets, never their values. */}}
{{- define "resourcemanager.env" -}}
- name: DEBUG
  value: "false"
- name: SECRET_KEY
  valueFrom:
    {{- include "resourcemanager.secretRef" (dict "root" . "existingSecret" .Values.existingSecret "existingKey" "SECRET_KEY" "key" "SECRET_KEY") | nindent 4 }}
- name: RM_ENCRYPTION_KEYS
  valueFrom:
    {{- include "resourcemanager.secretRef" (dict "root" . "existingSecret" .Values.existingSecret "existingKey" "RM_ENCRYPTION_KEYS" "key" "RM_ENCRYPTION_KEYS") | nindent 4 }}
- name: DATABASE_URL
  valueFrom:
    {{- include "resourcemanager.secretRef" (dict "root" . "existingSecret" .Values.database.existingSecret "existingKey" .Values.database.existingSecretKey "key" "DATABASE_URL") | nindent 4 }}
- name: REDIS_URL
  valueFrom:
    {{- include "resourcemanager.secretRef" (dict "root" . "existingSecret" .Values.redis.existingSecret "existingKey" .Values.redis.existingSecretKey "key" "REDIS_URL") | nindent 4 }}
{{- with (include "resourcemanager.allowedHosts" .) }}
- name: ALLOWED_HOSTS
  value: {{ . | quote }}
{{- end }}
{{- with .Values.config.csrfTrustedOrigins }}
- name: CSRF_TRUSTED_ORIGINS
  value: {{ . | quote }}
{{- end }}
- name: RM_BEHIND_TLS_PROXY
  value: {{ .Values.config.behindTlsProxy | toString | quote }}
- name: LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
- name: LOG_FORMAT
  value: {{ .Values.config.logFormat | quote }}
- name: RM_ADMIN_USERNAME
  value: {{ .Values.admin.username | quote }}
{{- if or .Values.admin.password .Values.admin.existingSecret }}
- name: RM_ADMIN_PASSWORD
  valueFrom:
    {{- include "resourcemanager.secretRef" (dict "root" . "existingSecret" .Values.admin.existingSecret "existingKey" .Values.admin.existingSecretKey "key" "RM_ADMIN_PASSWORD") | nindent 4 }}
{{- end }}
{{- if .Values.providers.json }}
- name: RM_PROVIDERS
  valueFrom:
    {{- include "resourcemanager.secretRef" (dict "root" . "existingSecret" "" "key" "RM_PROVIDERS") | nindent 4 }}
{{- end }}
{{- range $class, $url := .Values.providers.urls }}
{{- if $url }}
- name: {{ printf "RM_PROVIDER_%s_URL" (upper $class) }}
  valueFrom:
    {{- include "resourcemanager.secretRef" (dict "root" $ "existingSecret" "" "key" (printf "RM_PROVIDER_%s_URL" (upper $class))) | nindent 4 }}
{{- end }}
{{- end }}
- name: RM_LOCAL_LOGIN
  value: {{ .Values.oidc.localLogin | toString | quote }}
{{- if .Values.oidc.enabled }}
- name: OIDC_RP_CLIENT_ID
  value: {{ .Values.oidc.clientId | quote }}
- name: OIDC_RP_CLIENT_SECRET
  valueFrom:
    {{- include "resourcemanager.secretRef" (dict "root" . "existingSecret" .Values.oidc.existingSecret "existingKey" .Values.oidc.existingSecretKey "key" "OIDC_RP_CLIENT_SECRET") | nindent 4 }}
- name: OIDC_OP_ISSUER
  value: {{ .Values.oidc.issuer | quote }}
{{- with .Values.oidc.discoveryUrl }}
- name: OIDC_OP_DISCOVERY_URL
  value: {{ . | quote }}
{{- end }}
- name: RM_ROLES_CLAIM
  value: {{ .Values.oidc.rolesClaim | quote }}
{{- with .Values.oidc.rolesPrefix }}
- name: RM_ROLES_PREFIX
  value: {{ . | quote }}
{{- end }}
{{- with .Values.oidc.audience }}
- name: RM_OIDC_AUDIENCE
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* envFrom of every process: the providers' existing Secret and extraEnvFrom. */}}
{{- define "resourcemanager.envFrom" -}}
{{- with .Values.providers.existingSecret }}
- secretRef:
    name: {{ . }}
{{- end }}
{{- with .Values.extraEnvFrom }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Does the chart need a Secret of its own? */}}
{{- define "resourcemanager.ownSecret" -}}
{{- $v := .Values }}
{{- $urls := false }}
{{- range $class, $url := $v.providers.urls }}
{{- if $url }}{{ $urls = true }}{{ end }}
{{- end }}
{{- if or (not $v.existingSecret) (not $v.database.existingSecret) (not $v.redis.existingSecret) (and $v.admin.password (not $v.admin.existingSecret)) $v.providers.json $urls (and $v.oidc.enabled (not $v.oidc.existingSecret)) }}true{{ end }}
{{- end }}

{{/* Pod-level settings shared by every workload. */}}
{{- define "resourcemanager.podCommon" -}}
serviceAccountName: {{ include "resourcemanager.serviceAccountName" . }}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
{{- end }}

{{/* Container-level settings shared by every app container; call with
(dict "root" $ "env" "<more EnvVar entries as YAML>"). */}}
{{- define "resourcemanager.containerCommon" -}}
image: {{ include "resourcemanager.image" .root }}
imagePullPolicy: {{ .root.Values.image.pullPolicy }}
securityContext:
  {{- toYaml .root.Values.securityContext | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- with (include "resourcemanager.envFrom" .root) }}
envFrom:
  {{- . | trim | nindent 2 }}
{{- end }}
env:
  {{- include "resourcemanager.env" .root | nindent 2 }}
  {{- with .env }}
  {{- . | trim | nindent 2 }}
  {{- end }}
{{- end }}

{{/* EnvVar entries from a dict of names and plain values, in name order. */}}
{{- define "resourcemanager.envList" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}
