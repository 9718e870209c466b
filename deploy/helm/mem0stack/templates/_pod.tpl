{{/* Pieces of the three pod templates. */}}

{{/* Environment of the server (and of one-off `mem0stack keys` runs in its pod): secrets
given by reference come through env, which wins over envFrom. */}}
{{- define "mem0stack.serverEnv" -}}
{{- with .Values.database.existingSecret }}
{{- if .name }}
- name: MEM0STACK_DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ .name | quote }}, key: {{ .key | quote }}}
{{- end }}
{{- end }}
{{- with .Values.neo4j.existingSecret }}
{{- if .name }}
- name: MEM0STACK_NEO4J_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ .name | quote }}, key: {{ .key | quote }}}
{{- end }}
{{- end }}
{{- with .Values.llm.existingSecret }}
{{- if .name }}
- name: MEM0STACK_LLM_API_KEY
  valueFrom:
    secretKeyRef: {name: {{ .name | quote }}, key: {{ .key | quote }}}
{{- end }}
{{- end }}
# A read-only root file system: anything that wants a home directory gets /tmp.
- name: HOME
  value: /tmp
{{- with .Values.server.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "mem0stack.podCommon" -}}
{{- $root := index . 0 }}
{{- $part := index . 1 }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $part.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $part.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $part.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $part.podSecurityContext | nindent 2 }}
{{- end }}
