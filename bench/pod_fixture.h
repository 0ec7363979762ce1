#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace libcluster::bench {

/// A pod as a real cluster stores it: a StatefulSet pod of an Elixir release with the usual
/// labels, annotations, an env-heavy container and a sidecar, volumes, conditions, container
/// statuses and ~3 KB of managedFields (5–6 KB of JSON in all).
inline nlohmann::json realisticPod(const std::string& name, int index) {
  static const nlohmann::json kTemplate = nlohmann::json::parse(R"json({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {
      "namespace": "default",
      "labels": {"app": "bench", "app.kubernetes.io/name": "bench", "app.kubernetes.io/instance": "bench-prod",
                 "controller-revision-hash": "bench-7d9f8c6b5"},
      "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-01T10:00:00Z",
                      "prometheus.io/scrape": "true", "prometheus.io/port": "9568"},
      "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "bench",
                           "uid": "5d4c3b2a-1111-2222-3333-444455556666", "controller": true,
                           "blockOwnerDeletion": true}],
      "managedFields": [
        {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
         "time": "2026-11-01T10:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {}},
        {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": "2026-11-01T10:00:05Z",
         "fieldsType": "FieldsV1", "subresource": "status",
         "fieldsV1": {"f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:status": {}}},
                                   "f:podIP": {}, "f:podIPs": {}, "f:containerStatuses": {}}}}]
    },
    "spec": {
      "subdomain": "bench-headless", "serviceAccountName": "bench", "terminationGracePeriodSeconds": 30,
      "containers": [
        {"name": "app", "image": "registry.example.com/bench/app:1.42.0",
         "ports": [{"name": "epmd", "containerPort": 4369}, {"name": "dist", "containerPort": 9100}],
         "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                 {"name": "RELEASE_NODE", "value": "app@$(POD_IP)"},
                 {"name": "RELEASE_COOKIE", "valueFrom": {"secretKeyRef": {"name": "app-cookie", "key": "cookie"}}}],
         "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
         "readinessProbe": {"httpGet": {"path": "/health", "port": 4000}, "periodSeconds": 5},
         "volumeMounts": [{"name": "data", "mountPath": "/data"},
                          {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                           "readOnly": true}]},
        {"name": "libcluster-agent", "image": "registry.example.com/libcluster/agent:0.1.0",
         "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}],
      "volumes": [{"name": "kube-api-access", "projected": {"defaultMode": 420}}]
    },
    "status": {
      "phase": "Running", "hostIP": "192.168.0.10", "startTime": "2026-11-01T10:00:01Z", "qosClass": "Burstable",
      "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"},
                     {"type": "ContainersReady", "status": "True"}, {"type": "PodScheduled", "status": "True"}],
      "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0,
                             "image": "registry.example.com/bench/app:1.42.0",
                             "imageID": "registry.example.com/bench/app@sha256:0123456789abcdef0123456789abcdef",
                             "containerID": "containerd://0123456789abcdef0123456789abcdef0123456789abcdef",
                             "state": {"running": {"startedAt": "2026-11-01T10:00:03Z"}}}]
    }
  })json");
  nlohmann::json pod = kTemplate;
  const std::string ip = "10." + std::to_string(1 + index / 65536) + "." +
                         std::to_string((index / 256) % 256) + "." + std::to_string(index % 256);
  pod["metadata"]["name"] = name;
  pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] = name;
  pod["metadata"]["labels"]["group"] = std::to_string(index % 100);
  pod["metadata"]["labels"]["half"] = index % 100 < 50 ? "first" : "second";
  pod["spec"]["hostname"] = name;
  pod["spec"]["containers"][0]["env"].push_back({{"name", "POD_NAME"}, {"value", name}});
  for (int i = 0; i < 12; ++i) {
    pod["spec"]["containers"][0]["env"].push_back(
        {{"name", "SETTING_" + std::to_string(i)}, {"value", "value-" + std::to_string(i)}});
  }
  nlohmann::json& fields = pod["metadata"]["managedFields"][0]["fieldsV1"];
  for (int i = 0; i < 40; ++i) {
    fields["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"]["f:env"]
          ["k:{\"name\":\"SETTING_" + std::to_string(i) + "\"}"] = {
        {".", nlohmann::json::object()}, {"f:name", nlohmann::json::object()}, {"f:value", nlohmann::json::object()}};
  }
  pod["spec"]["volumes"].push_back(
      {{"name", "data"}, {"persistentVolumeClaim", {{"claimName", "data-" + name}}}});
  pod["status"]["podIP"] = ip;
  pod["status"]["podIPs"] = {{{"ip", ip}}};
  return pod;
}

} // namespace libcluster::bench
