{{- define "ovms.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ovms.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ovms.labels" -}}
{{ include "ovms.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "ovms.configMapName" -}}
{{- .Values.config_configmap_name | default (printf "%s-config" (include "ovms.fullname" .)) -}}
{{- end -}}

{{/* Refuse what the chart cannot honour, before anything renders. */}}
{{- define "ovms.validate" -}}
{{- $config := or .Values.config_configmap_name .Values.config_json -}}
{{- $model := or .Values.model_name .Values.model_path -}}
{{- if and $config $model -}}
{{- fail "set either model_name and model_path, or config_configmap_name / config_json, not both" -}}
{{- end -}}
{{- if $config -}}
{{- range $option := list "target_device" "plugin_config" "batch_size" "shape" "layout" "model_version_policy" "nireq" -}}
{{- if index $.Values $option -}}
{{- fail (printf "%s is a single-model option: in config mode set it in config.json" $option) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and .Values.config_configmap_name .Values.config_json -}}
{{- fail "set config_configmap_name (an existing ConfigMap) or config_json (the chart makes one), not both" -}}
{{- end -}}
{{- if and (not $config) (not (and .Values.model_name .Values.model_path)) -}}
{{- fail "set model_name and model_path, or config_configmap_name / config_json" -}}
{{- end -}}
{{- if and .Values.models_host_path .Values.models_volume_claim -}}
{{- fail "set models_host_path or models_volume_claim, not both" -}}
{{- end -}}
{{- range $plain, $secret := dict "aws_access_key_id" "aws_creds_secret_name" "aws_secret_access_key" "aws_creds_secret_name" "azure_storage_connection_string" "azure_creds_secret_name" -}}
{{- if hasKey $.Values $plain -}}
{{- fail (printf "%s is not taken as a value: put the credential in a Secret and set %s" $plain $secret) -}}
{{- end -}}
{{- end -}}
{{- if not (gt (int .Values.rest_port) 0) -}}
{{- fail "rest_port must be set: the probes and /metrics use the REST port" -}}
{{- end -}}
{{- if and .Values.service_monitor.enabled (not .Values.metrics_enable) -}}
{{- fail "service_monitor.enabled needs metrics_enable: /metrics is served only with --metrics_enable" -}}
{{- end -}}
{{- end -}}

{{/* The server's command line, OVMS's flags in OVMS's --name=value form. */}}
{{- define "ovms.args" -}}
{{- if or .Values.config_configmap_name .Values.config_json }}
- --config_path=/config/config.json
{{- else }}
- {{ printf "--model_name=%s" .Values.model_name | quote }}
- {{ printf "--model_path=%s" .Values.model_path | quote }}
{{- range $option := list "target_device" "plugin_config" "batch_size" "shape" "layout" "model_version_policy" }}
{{- with index $.Values $option }}
- {{ printf "--%s=%v" $option . | quote }}
{{- end }}
{{- end }}
{{- if gt (int .Values.nireq) 0 }}
- --nireq={{ .Values.nireq }}
{{- end }}
{{- end }}
- --port={{ .Values.grpc_port }}
- --rest_port={{ .Values.rest_port }}
- {{ printf "--log_level=%s" .Values.log_level | quote }}
- --file_system_poll_wait_seconds={{ .Values.file_system_poll_wait_seconds }}
- --shutdown_timeout={{ .Values.shutdown_timeout }}
{{- if .Values.metrics_enable }}
- --metrics_enable
{{- end }}
{{- end -}}
