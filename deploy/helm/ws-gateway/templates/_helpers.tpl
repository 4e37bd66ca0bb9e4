{{/* Name of the chart, overridable with nameOverride. */}}
{{- define "ws-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: the release name, plus the chart name unless it contains it. */}}
{{- define "ws-gateway.fullname" -}}
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

{{- define "ws-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ws-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ws-gateway.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ws-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: gateway
app.kubernetes.io/part-of: ws
{{- end -}}

{{/* Public URL of the gateway, from the domain and whether TLS is on. */}}
{{- define "ws-gateway.publicUrl" -}}
{{- if or .Values.ingress.tls.enabled .Values.gateway.tlsSecretName -}}
https://{{ required "gateway.domain is required" .Values.gateway.domain }}
{{- else -}}
http://{{ required "gateway.domain is required" .Values.gateway.domain }}
{{- end -}}
{{- end -}}

{{/* "true" when the replicas share state in Redis; several replicas need it. */}}
{{- define "ws-gateway.replicated" -}}
{{- if or .Values.redis.url .Values.redis.existingSecret -}}
true
{{- else if gt (int .Values.replicaCount) 1 -}}
{{- fail "replicaCount > 1 needs a Redis the replicas share: set redis.url or redis.existingSecret (docs/deploy.md, \"Several replicas\")" -}}
{{- end -}}
{{- end -}}

{{/* Name of the secret holding the replicas' shared secret. */}}
{{- define "ws-gateway.replicaSecretName" -}}
{{- default (printf "%s-replica" (include "ws-gateway.fullname" .)) .Values.replicaChannel.existingSecret -}}
{{- end -}}
