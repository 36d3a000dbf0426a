{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "quantreason.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped name of every object. */}}
{{- define "quantreason.fullname" -}}
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

{{- define "quantreason.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "quantreason.selectorLabels" -}}
app.kubernetes.io/name: {{ include "quantreason.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "quantreason.labels" -}}
helm.sh/chart: {{ include "quantreason.chart" . }}
{{ include "quantreason.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: quantreason
{{- end }}

{{- define "quantreason.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "quantreason.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "quantreason.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "quantreason.quantizeImage" -}}
{{- $repository := default .Values.image.repository .Values.quantize.image.repository }}
{{- $tag := default (printf "%s-quantize" (default .Chart.AppVersion .Values.image.tag)) .Values.quantize.image.tag }}
{{- printf "%s:%s" $repository $tag }}
{{- end }}

{{- define "quantreason.claimName" -}}
{{- default (printf "%s-data" (include "quantreason.fullname" .)) .Values.storage.existingClaim }}
{{- end }}

{{/* Where the quantize Job writes the artifact and where the server reads it. */}}
{{- define "quantreason.artifactName" -}}
{{- default (printf "%s-%s" (.Values.model.source | replace "/" "--") .Values.quantize.scheme | lower) .Values.quantize.artifactName }}
{{- end }}

{{- define "quantreason.artifactPath" -}}
{{- printf "%s/artifacts/%s" .Values.storage.mountPath (include "quantreason.artifactName" .) }}
{{- end }}

{{/* The Job's spec cannot change in place: a new configuration gets a new Job name. */}}
{{- define "quantreason.quantizeJobName" -}}
{{- $config := dict "source" .Values.model.source "scheme" .Values.quantize.scheme "artifact" (include "quantreason.artifactName" .) "calib" .Values.quantize.calib "numSamples" .Values.quantize.numSamples "maxSeqLen" .Values.quantize.maxSeqLen }}
{{- printf "%s-quantize-%s" (include "quantreason.fullname" . | trunc 42 | trimSuffix "-") (toJson $config | sha256sum | trunc 8) }}
{{- end }}

{{- define "quantreason.servedModel" -}}
{{- if .Values.quantize.enabled }}
{{- include "quantreason.artifactPath" . }}
{{- else }}
{{- .Values.model.source }}
{{- end }}
{{- end }}

{{- define "quantreason.servedModelName" -}}
{{- if .Values.model.servedModelName }}
{{- .Values.model.servedModelName }}
{{- else if .Values.quantize.enabled }}
{{- include "quantreason.artifactName" . }}
{{- else }}
{{- .Values.model.source }}
{{- end }}
{{- end }}

{{/* GPU scheduling shared by the server and the quantize Job: product label and node selector. */}}
{{- define "quantreason.nodeSelector" -}}
{{- $selector := deepCopy (.nodeSelector | default dict) }}
{{- if .gpuProduct }}
{{- $_ := set $selector "nvidia.com/gpu.product" .gpuProduct }}
{{- end }}
{{- if $selector }}
nodeSelector:
  {{- toYaml $selector | nindent 2 }}
{{- end }}
{{- end }}

{{/* GPUs one replica's engine needs: tensor x pipeline shards, times the engine copies it runs. */}}
{{- define "quantreason.gpusPerReplica" -}}
{{- mul (int .Values.serve.tensorParallelSize) (int .Values.serve.pipelineParallelSize) (int .Values.serve.dataParallelSize) }}
{{- end }}

{{/* resources.gpu.count, or (null) as many GPUs as the parallelism needs. */}}
{{- define "quantreason.gpuCount" -}}
{{- if kindIs "invalid" .Values.resources.gpu.count }}
{{- include "quantreason.gpusPerReplica" . }}
{{- else }}
{{- int .Values.resources.gpu.count }}
{{- end }}
{{- end }}

{{/* shm.sizeLimit, or (null) 8Gi per GPU of the pod (at least 2Gi): NCCL and vLLM's workers exchange
tensors there. Called with (dict "sizeLimit" .Values.shm.sizeLimit "gpus" N). */}}
{{- define "quantreason.shmSize" -}}
{{- if kindIs "invalid" .sizeLimit }}
{{- printf "%dGi" (max 2 (mul 8 (int .gpus))) }}
{{- else }}
{{- .sizeLimit }}
{{- end }}
{{- end }}

{{/* The NCCL / PyTorch / NVSHMEM settings every GPU container gets (gpuEnv), as env entries. */}}
{{- define "quantreason.gpuEnv" -}}
{{- range $name, $value := .Values.gpuEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end }}

{{/* The flags of `serve` (server/cli.py) as a YAML list; null values keep the server's defaults. */}}
{{- define "quantreason.serveArgs" -}}
{{- $serve := .Values.serve }}
{{- $thinking := $serve.thinking }}
{{- $args := list
  (printf "--model=%s" (include "quantreason.servedModel" .))
  (printf "--served-model-name=%s" (include "quantreason.servedModelName" .))
  "--host=0.0.0.0"
  (printf "--port=%d" (int $serve.port))
  (printf "--tensor-parallel-size=%d" (int $serve.tensorParallelSize))
  (printf "--pipeline-parallel-size=%d" (int $serve.pipelineParallelSize))
  (printf "--data-parallel-size=%d" (int $serve.dataParallelSize))
  (printf "--kv-cache-dtype=%s" $serve.kvCacheDtype)
  (printf "--dtype=%s" $serve.dtype)
  (printf "--think-format=%s" $serve.thinkFormat)
  (printf "--max-pending-requests=%d" (int $serve.maxPendingRequests))
  (printf "--drain-timeout=%v" $serve.drainTimeout)
  (printf "--min-thinking-tokens=%d" (int $thinking.minTokens))
  (printf "--max-thinking-extensions=%d" (int $thinking.maxExtensions))
  (printf "--thinking-extension-text=%s" $thinking.extensionText)
  (printf "--thinking-wrapup-text=%s" $thinking.wrapupText)
  (printf "--answer-reserve-tokens=%d" (int $thinking.answerReserveTokens))
  (printf "--w4a16-kernel=%s" $serve.w4a16Kernel)
  (printf "--log-level=%s" $serve.logLevel) }}
{{- if not (kindIs "invalid" $serve.maxModelLen) }}
{{- $args = append $args (printf "--max-model-len=%d" (int $serve.maxModelLen)) }}
{{- end }}
{{- if not (kindIs "invalid" $serve.gpuMemoryUtilization) }}
{{- $args = append $args (printf "--gpu-memory-utilization=%v" $serve.gpuMemoryUtilization) }}
{{- end }}
{{- if not (kindIs "invalid" $thinking.budget) }}
{{- $args = append $args (printf "--thinking-budget=%d" (int $thinking.budget)) }}
{{- end }}
{{- if not (kindIs "invalid" $serve.kvCacheMemoryBytes) }}
{{- $args = append $args (printf "--kv-cache-memory-bytes=%d" (int64 $serve.kvCacheMemoryBytes)) }}
{{- end }}
{{- if not (kindIs "invalid" $serve.compilationConfig) }}
{{- $args = append $args (printf "--compilation-config=%s" (toJson $serve.compilationConfig)) }}
{{- end }}
{{- if $serve.toolCallParser }}
{{- $args = append $args (printf "--tool-call-parser=%s" $serve.toolCallParser) }}
{{- end }}
{{- if $serve.enforceEager }}
{{- $args = append $args "--enforce-eager" }}
{{- end }}
{{- $budgets := list }}
{{- range $level, $tokens := $thinking.effortBudgets }}
{{- $budgets = append $budgets (printf "%s=%d" $level (int $tokens)) }}
{{- end }}
{{- if $budgets }}
{{- $args = append $args (printf "--effort-budgets=%s" (join "," $budgets)) }}
{{- end }}
{{- if $serve.apiKey.secretName }}
{{- /* Kubernetes substitutes $(VAR) from the container's env: the key never appears in the spec. */}}
{{- $args = append $args "--api-key=$(QUANTREASON_API_KEY)" }}
{{- end }}
{{- toYaml (concat $args $serve.extraArgs) }}
{{- end }}

{{- define "quantreason.hfTokenEnv" -}}
{{- if .Values.hfToken.secretName }}
- name: HF_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.hfToken.secretName }}
      key: {{ .Values.hfToken.secretKey }}
{{- end }}
{{- if .Values.storage.enabled }}
- name: HF_HOME
  value: {{ printf "%s/hf-cache" .Values.storage.mountPath }}
{{- end }}
{{- end }}

{{- define "quantreason.serveEnv" -}}
{{- include "quantreason.hfTokenEnv" . }}
{{- include "quantreason.gpuEnv" . }}
{{- if .Values.serve.apiKey.secretName }}
- name: QUANTREASON_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.serve.apiKey.secretName }}
      key: {{ .Values.serve.apiKey.secretKey }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}
