{{- define "incidentd.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "incidentd.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "incidentd.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The ConfigMap holding the rule packs (or policy): the one named, else the chart's own, else none. */}}
{{- define "incidentd.rulesConfigMap" -}}
{{- if .Values.rules.configMap -}}{{ .Values.rules.configMap }}{{- else if .Values.rules.files -}}{{ include "incidentd.fullname" . }}-rules{{- end -}}
{{- end -}}

{{- define "incidentd.policiesConfigMap" -}}
{{- if .Values.policies.configMap -}}{{ .Values.policies.configMap }}{{- else if .Values.policies.files -}}{{ include "incidentd.fullname" . }}-policies{{- end -}}
{{- end -}}
