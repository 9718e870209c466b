{{/* Names, labels and values shared by the templates. */}}

{{- define "mem0stack.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's base name; each part appends -server, -gateway or -mcp (so 54 at most). */}}
{{- define "mem0stack.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 54 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 54 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 54 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "mem0stack.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mem0stack.labels" -}}
helm.sh/chart: {{ include "mem0stack.chart" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mem0stack
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{/* Selector labels of one component: include with (list $ "server"). */}}
{{- define "mem0stack.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "mem0stack.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "mem0stack.componentLabels" -}}
{{ include "mem0stack.labels" (index . 0) }}
{{ include "mem0stack.selectorLabels" . }}
{{- end }}

{{- define "mem0stack.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mem0stack.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "mem0stack.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Secret holding MEM0STACK_* variables: the user's own, or the chart's. */}}
{{- define "mem0stack.secretName" -}}
{{- default (printf "%s-secrets" (include "mem0stack.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{- define "mem0stack.serverHeadless" -}}
{{- printf "%s-server-headless.%s.svc.%s" (include "mem0stack.fullname" .) .Release.Namespace .Values.clusterDomain }}
{{- end }}

{{/* Seconds the kubelet waits after SIGTERM: the preStop sleep, the drain delay, the grace
period for calls and again for background operations (RunningServer.stop), and 5 s to
close the rest. */}}
{{- define "mem0stack.terminationGracePeriod" -}}
{{- $d := .Values.server.drain }}
{{- add (int $d.preStopSleepSeconds) (int $d.delaySeconds) (mul 2 (int $d.gracePeriodSeconds)) 5 }}
{{- end }}

{{/* A setting's value as the environment carries it: lists and maps as JSON. */}}
{{- define "mem0stack.envValue" -}}
{{- if or (kindIs "slice" .) (kindIs "map" .) }}
{{- toJson . }}
{{- else if kindIs "float64" . }}
{{- /* YAML numbers arrive as floats: 100 must not become 1e+02. */}}
{{- if eq (floor .) . }}{{ int64 . }}{{ else }}{{ . }}{{ end }}
{{- else }}
{{- . }}
{{- end }}
{{- end }}
