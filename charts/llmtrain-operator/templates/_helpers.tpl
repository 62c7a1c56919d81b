{{/* vim: set filetype=mustache: */}}

{{/*
The chart name, at most 63 characters (the limit of a DNS label and of a label value).
*/}}
{{- define "llmtrain-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The full name of the release's objects: `fullnameOverride`, or `<release>-<name>`, or the
release name alone when it already contains the chart name. At most 63 characters, so that
every object name (and the label that carries it) is valid.
*/}}
{{- define "llmtrain-operator.fullname" -}}
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

{{/*
`<chart>-<version>` for the helm.sh/chart label (`+` is not allowed in label values).
*/}}
{{- define "llmtrain-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Labels that select the operator pods. They never change over upgrades (a Deployment's
selector is immutable).
*/}}
{{- define "llmtrain-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "llmtrain-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/component: operator
{{- end -}}

{{/*
Labels of every object of the chart except the selector labels.
*/}}
{{- define "llmtrain-operator.metaLabels" -}}
helm.sh/chart: {{ include "llmtrain-operator.chart" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/part-of: llmtrain
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Labels of the operator's objects.
*/}}
{{- define "llmtrain-operator.labels" -}}
{{ include "llmtrain-operator.selectorLabels" . }}
{{ include "llmtrain-operator.metaLabels" . }}
{{- end -}}

{{/*
Labels of the `helm test` pod: not selected by the operator's Service or budget.
*/}}
{{- define "llmtrain-operator.testLabels" -}}
app.kubernetes.io/name: {{ include "llmtrain-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/component: test
{{ include "llmtrain-operator.metaLabels" . }}
{{- end -}}

{{/*
The operator's ServiceAccount.
*/}}
{{- define "llmtrain-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "llmtrain-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name must name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The operator image: registry/repository, then @digest or :tag (default: appVersion).
*/}}
{{- define "llmtrain-operator.image" -}}
{{- $repository := .Values.image.repository -}}
{{- with .Values.image.registry }}{{ $repository = printf "%s/%s" . $repository }}{{ end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
The default image of training pods (LLMTRAIN_DEFAULT_IMAGE).
*/}}
{{- define "llmtrain-operator.trainerImage" -}}
{{- $repository := .Values.trainer.image.repository -}}
{{- with .Values.trainer.image.registry }}{{ $repository = printf "%s/%s" . $repository }}{{ end -}}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.trainer.image.tag) -}}
{{- end -}}

{{/*
True ("true") when the replicas elect an active operator through kopf peering.
*/}}
{{- define "llmtrain-operator.peering.enabled" -}}
{{- if gt (int .Values.replicas) 1 -}}true{{- end -}}
{{- end -}}

{{/*
Name of the kopf peering object (LLMTRAIN_PEERING); empty when standalone.
*/}}
{{- define "llmtrain-operator.peering.name" -}}
{{- if include "llmtrain-operator.peering.enabled" . -}}
{{- default (include "llmtrain-operator.fullname" .) .Values.peering.name -}}
{{- end -}}
{{- end -}}

{{/*
The PriorityClass of the operator pods: `priorityClassName`, or the chart's own one when
replicas > 1 and `priorityClass.create`; empty otherwise.
*/}}
{{- define "llmtrain-operator.priorityClassName" -}}
{{- if .Values.priorityClassName -}}
{{- .Values.priorityClassName -}}
{{- else if and (include "llmtrain-operator.peering.enabled" .) .Values.priorityClass.create -}}
{{- include "llmtrain-operator.fullname" . -}}
{{- end -}}
{{- end -}}

{{/*
The operator's RBAC rules: the one place that says what the operator may do. Rendered into
the ClusterRole (cluster-wide) or into the Role of each watched namespace. Least privilege:
exactly the requests the operator makes, nothing on Secrets. The operator tests compare
these rules both ways with the requests the operator makes, read from the API server's
audit log (tests/integration/operator/test_rbac_audit.py): a grant it never uses fails them.

Takes a dict: `root` (the chart context) and `clusterwide` (bool).
*/}}
{{- define "llmtrain-operator.rules" -}}
{{- $root := .root -}}
# The jobs: listed and watched (kopf's cache, which every reconcile reads), and deleted once
# ttlSecondsAfterFinished has passed. The operator writes only their status and puts no
# finalizer on them, so a job can be deleted even when the operator is gone.
- apiGroups: ["llmtrain.dev"]
  resources: ["llmtrainingjobs"]
  verbs: ["list", "watch", "delete"]
- apiGroups: ["llmtrain.dev"]
  resources: ["llmtrainingjobs/status"]
  verbs: ["patch"]
# Never requested by the operator: the children's owner references have blockOwnerDeletion
# (a foreground deletion of the job waits for them), and where the API server runs the
# OwnerReferencesPermissionEnforcement admission plugin it allows that only to whoever may
# update the owner's finalizers.
- apiGroups: ["llmtrain.dev"]
  resources: ["llmtrainingjobs/finalizers"]
  verbs: ["update"]
# The gang: one pod per node, watched, created, and deleted as a whole.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch", "create", "delete"]
# The headless Service of each job (rendezvous DNS names), created once.
- apiGroups: [""]
  resources: ["services"]
  verbs: ["create"]
# The trainer configuration `<job>-config`, brought up to date for each new attempt.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["create", "patch"]
# Kubernetes events about the jobs (core/v1), one per transition.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
# Gang scheduling: the PodGroup of the coscheduling plugin or of Volcano.
- apiGroups: ["scheduling.x-k8s.io", "scheduling.volcano.sh"]
  resources: ["podgroups"]
  verbs: ["create"]
{{- if include "llmtrain-operator.peering.enabled" $root }}
# Peering: the replicas elect the active operator through this object (kopf watches it and
# patches its own entry in it).
- apiGroups: ["kopf.dev"]
  resources: [{{ ternary "clusterkopfpeerings" "kopfpeerings" .clusterwide | quote }}]
  verbs: ["list", "watch", "patch"]
{{- end }}
{{- end -}}
