#!/usr/bin/env python3
"""marker_cluster.py OUTDIR: writes a fixture cluster for kapi.py in which
every string leaf of every object (and the keys of labels and annotations)
holds a unique marker "kmkNNNNNq", plus OUTDIR/markers.json mapping each
marker to where it was put ("Kind:path", arrays as "[]"). Objects cover
every kind ktrace collects, with the fields that carry credentials in real
clusters: env, envFrom, args, command, probe headers and query strings,
lifecycle hooks, flexVolume options, CSI volumeAttributes, Secrets,
imagePullSecrets, annotations (injector tokens, last-applied), status
messages, the kube-proxy configuration text and its kubeconfig.

Strings written "{M}" get a marker in place of each {M}; strings starting
with "=" are kept literally (without the "="). Used by
tests/integration/bundle_leak.sh."""
import json
import os
import sys

OUT = sys.argv[1]
markers = {}
counter = [0]


def new_marker(where):
    counter[0] += 1
    m = "kmk%05dq" % counter[0]
    markers[m] = where
    return m


def is_map(kind, path):
    """label-like maps: any key, recorded as "*" """
    return path.endswith("labels") or path.endswith("matchLabels") or (kind == "Service" and path == "spec.selector")


def mark(v, kind, path):
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            key = k
            sub = path + ("." if path else "") + (("*") if is_map(kind, path) else k)
            if k.startswith("{M}") or k.endswith("{M}"):
                key = k.replace("{M}", new_marker(kind + ":" + path + "{key}"))
                if not is_map(kind, path):
                    sub = path + "." + k.replace("{M}", "*")
            out[key] = mark(x, kind, sub)
        return out
    if isinstance(v, list):
        return [mark(x, kind, path + "[]") for x in v]
    if isinstance(v, str):
        if v.startswith("="):
            return v[1:]
        if "{M}" in v:
            s = v
            while "{M}" in s:
                s = s.replace("{M}", new_marker(kind + ":" + path), 1)
            return s
        return new_marker(kind + ":" + path)
    return v


def meta(extra_ann=None, ns="{M}"):
    ann = {
        "kubectl.kubernetes.io/last-applied-configuration": '{"apiVersion":"v1","kind":"Secret","data":{"p":"{M}"}}',
        "vault.hashicorp.com/agent-inject-token": "{M}",
        "vault.hashicorp.com/agent-inject-secret-{M}": "x",
        "team.example.com/owner": "x",
        "ktrace/ignore": "x",
        "ignore-check.ktrace.io/KT101": "x",
        "sidecar.istio.io/inject": "x",
    }
    ann.update(extra_ann or {})
    return {
        "name": "x", "generateName": "x", "namespace": ns, "uid": "x", "resourceVersion": "x",
        "creationTimestamp": "x", "deletionTimestamp": "x", "selfLink": "x", "finalizers": ["x"],
        "labels": {"app": "x", "{M}": "x"},
        "annotations": ann,
        "ownerReferences": [{"apiVersion": "x", "kind": "x", "name": "x", "uid": "x", "controller": True}],
        "managedFields": [{"manager": "x", "operation": "x", "fieldsV1": {"f:metadata": {"f:{M}": {}}}}],
    }


def selector():
    return {"matchLabels": {"app": "x", "{M}": "x"},
            "matchExpressions": [{"key": "x", "operator": "x", "values": ["x", "x"]}]}


def probe(kind):
    if kind == "http":
        return {"httpGet": {"path": "/healthz?token={M}", "port": "x", "host": "x", "scheme": "x",
                            "httpHeaders": [{"name": "Authorization", "value": "Bearer {M}"}]},
                "periodSeconds": 5}
    if kind == "exec":
        return {"exec": {"command": ["curl", "-u", "admin:{M}", "x"]}}
    if kind == "grpc":
        return {"grpc": {"port": 9090, "service": "x"}}
    return {"tcpSocket": {"port": 8080, "host": "x"}}


def container(pre="exec"):
    c = {
        "name": "x", "image": "x", "imagePullPolicy": "x", "workingDir": "x", "restartPolicy": "x",
        "command": ["x", "x"], "args": ["--password={M}", "x"],
        "env": [{"name": "x", "value": "x"},
                {"name": "x", "valueFrom": {"secretKeyRef": {"name": "x", "key": "x"}}},
                {"name": "x", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}],
        "envFrom": [{"secretRef": {"name": "x"}, "prefix": "x"}, {"configMapRef": {"name": "x"}}],
        "ports": [{"name": "x", "containerPort": 8080, "protocol": "x", "hostIP": "x"}],
        "readinessProbe": probe("http"), "livenessProbe": probe("exec"), "startupProbe": probe("grpc"),
        "lifecycle": {"postStart": {"exec": {"command": ["x", "{M} --token {M}"]}}},
        "resources": {"limits": {"cpu": "x"}, "requests": {"memory": "x"}},
        "volumeMounts": [{"name": "x", "mountPath": "x", "subPath": "x"}],
        "securityContext": {"seLinuxOptions": {"user": "x", "role": "x"}, "runAsUser": 0},
        "terminationMessagePath": "x",
    }
    if pre == "exec":
        c["lifecycle"]["preStop"] = {"exec": {"command": ["=sh", "=-c", "curl -u admin:{M} x; sleep 5; {M}"]}}
    elif pre == "http":
        c["lifecycle"]["preStop"] = {"httpGet": {"path": "/drain?key={M}", "port": "x",
                                                 "httpHeaders": [{"name": "x", "value": "x"}]}}
    else:
        c["lifecycle"]["preStop"] = {"sleep": {"seconds": 7}}
    return c


def podspec():
    return {
        "containers": [container("exec"), container("http")],
        "initContainers": [container("sleep")],
        "ephemeralContainers": [container("exec")],
        "terminationGracePeriodSeconds": 30, "nodeName": "x", "hostNetwork": False,
        "serviceAccountName": "x", "serviceAccount": "x", "schedulerName": "x", "priorityClassName": "x",
        "imagePullSecrets": [{"name": "x"}],
        "nodeSelector": {"x": "x"},
        "tolerations": [{"key": "x", "operator": "x", "value": "x", "effect": "x"}],
        "hostAliases": [{"ip": "x", "hostnames": ["x"]}],
        "dnsConfig": {"nameservers": ["x"], "searches": ["x"], "options": [{"name": "x", "value": "x"}]},
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "x", "whenUnsatisfiable": "x",
                                       "labelSelector": selector()}],
        "affinity": {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "x", "labelSelector": selector(),
                                                                    "namespaces": ["x"]}],
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 10, "podAffinityTerm": {"topologyKey": "x", "labelSelector": selector()}}]},
            "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "x", "operator": "x", "values": ["x"]}]}]}}},
        "volumes": [
            {"name": "x", "flexVolume": {"driver": "x", "options": {"password": "x"}, "secretRef": {"name": "x"}}},
            {"name": "x", "csi": {"driver": "x", "volumeAttributes": {"token": "x"},
                                  "nodePublishSecretRef": {"name": "x"}}},
            {"name": "x", "secret": {"secretName": "x", "items": [{"key": "x", "path": "x"}]}},
            {"name": "x", "configMap": {"name": "x"}},
            {"name": "x", "hostPath": {"path": "x", "type": "x"}},
            {"name": "x", "nfs": {"server": "x", "path": "x"}},
            {"name": "x", "iscsi": {"targetPortal": "x", "iqn": "x", "lun": 0, "chapAuthSession": True,
                                    "secretRef": {"name": "x"}}},
            {"name": "x", "projected": {"sources": [{"serviceAccountToken": {"audience": "x", "path": "x"}}]}},
        ],
    }


def pod_status():
    return {"phase": "x", "message": "x", "reason": "x", "hostIP": "x", "podIP": "x", "podIPs": [{"ip": "x"}],
            "startTime": "x", "nominatedNodeName": "x",
            "conditions": [{"type": "x", "status": "x", "lastTransitionTime": "x", "message": "x", "reason": "x"}],
            "containerStatuses": [{"name": "x", "image": "x", "imageID": "x", "containerID": "x",
                                   "state": {"waiting": {"reason": "x", "message": "x"}},
                                   "lastState": {"terminated": {"message": "x", "reason": "x", "exitCode": 1}}}]}


def wl(kind, api, daemon=False):
    spec = {"selector": selector(), "template": {"metadata": meta(), "spec": podspec()},
            "strategy": {"type": "x"}, "serviceName": "x", "revisionHistoryLimit": 3}
    if not daemon:
        spec["replicas"] = 3
    return {"kind": kind, "apiVersion": api, "metadata": meta(), "spec": spec,
            "status": {"readyReplicas": 1, "numberReady": 1, "conditions": [{"type": "x", "message": "x"}],
                       "collisionCount": 0}}


lb_ann = {"service.beta.kubernetes.io/aws-load-balancer-type": "x",
          "service.beta.kubernetes.io/aws-load-balancer-proxy-protocol": "x",
          "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": "x",
          "metallb.universe.tf/address-pool": "x",
          "cloud.google.com/neg": "x"}

objs = {
    "services": [{"kind": "Service", "apiVersion": "v1", "metadata": meta(lb_ann), "spec": {
        "type": "x", "clusterIP": "x", "clusterIPs": ["x"], "ipFamilies": ["x"], "ipFamilyPolicy": "x",
        "ports": [{"name": "x", "protocol": "x", "appProtocol": "x", "port": 80, "targetPort": "x", "nodePort": 30080}],
        "selector": {"app": "x", "{M}": "x"}, "externalTrafficPolicy": "x", "internalTrafficPolicy": "x",
        "healthCheckNodePort": 31000, "sessionAffinity": "x",
        "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10}}, "loadBalancerClass": "x",
        "loadBalancerSourceRanges": ["x"], "externalIPs": ["x"], "trafficDistribution": "x",
        "publishNotReadyAddresses": False, "allocateLoadBalancerNodePorts": True, "externalName": "x",
        "loadBalancerIP": "x"},
        "status": {"loadBalancer": {"ingress": [{"ip": "x", "hostname": "x", "ipMode": "x",
                                                 "ports": [{"port": 80, "error": "x"}]}]},
                   "conditions": [{"type": "x", "message": "x"}]}}],
    "endpointslices": [{"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
                        "metadata": meta({"endpoints.kubernetes.io/last-change-trigger-time": "x"}),
                        "addressType": "x",
                        "ports": [{"name": "x", "protocol": "x", "port": 8080, "appProtocol": "x"}],
                        "endpoints": [{"addresses": ["x"], "conditions": {"ready": True, "serving": True,
                                                                          "terminating": False},
                                       "hints": {"forZones": [{"name": "x"}]},
                                       "targetRef": {"kind": "x", "name": "x", "namespace": "x", "uid": "x"},
                                       "nodeName": "x", "zone": "x", "hostname": "x",
                                       "deprecatedTopology": {"x": "x"}}]}],
    "pods": [{"kind": "Pod", "apiVersion": "v1", "metadata": meta(), "spec": podspec(), "status": pod_status()}],
    "deployments": [wl("Deployment", "apps/v1")],
    "statefulsets": [wl("StatefulSet", "apps/v1")],
    "daemonsets": [wl("DaemonSet", "apps/v1", daemon=True)],
    "replicasets": [wl("ReplicaSet", "apps/v1")],
    "horizontalpodautoscalers": [{"kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v2",
                                  "metadata": meta(), "spec": {
                                      "scaleTargetRef": {"apiVersion": "x", "kind": "x", "name": "x"},
                                      "minReplicas": 2, "maxReplicas": 5,
                                      "metrics": [{"type": "x", "external": {"metric": {"name": "x"}}}]},
                                  "status": {"conditions": [{"type": "x", "message": "x"}]}}],
    "poddisruptionbudgets": [{"kind": "PodDisruptionBudget", "apiVersion": "policy/v1", "metadata": meta(),
                              "spec": {"selector": selector(), "minAvailable": "x", "maxUnavailable": "x",
                                       "unhealthyPodEvictionPolicy": "x"},
                              "status": {"disruptionsAllowed": 1, "conditions": [{"type": "x", "message": "x"}]}}],
    "ingresses": [{"kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
                   "metadata": meta({"kubernetes.io/ingress.class": "x",
                                     "nginx.ingress.kubernetes.io/service-upstream": "x",
                                     "nginx.ingress.kubernetes.io/whitelist-source-range": "x",
                                     "nginx.ingress.kubernetes.io/auth-url": "x",
                                     "nginx.ingress.kubernetes.io/configuration-snippet": "x"}),
                   "spec": {"ingressClassName": "x",
                            "defaultBackend": {"service": {"name": "x", "port": {"number": 80}}},
                            "tls": [{"hosts": ["x"], "secretName": "x"}],
                            "rules": [{"host": "x", "http": {"paths": [
                                {"path": "x", "pathType": "x",
                                 "backend": {"service": {"name": "x", "port": {"name": "x"}}}}]}}]},
                   "status": {"loadBalancer": {"ingress": [{"ip": "x", "hostname": "x"}]}}}],
    "ingressclasses": [{"kind": "IngressClass", "apiVersion": "networking.k8s.io/v1",
                        "metadata": meta({"ingressclass.kubernetes.io/is-default-class": "x"}, ns=None),
                        "spec": {"controller": "x", "parameters": {"kind": "x", "name": "x"}}}],
    "nodes": [{"kind": "Node", "apiVersion": "v1", "metadata": meta({"node.alpha.kubernetes.io/ttl": "x"}, ns=None),
               "spec": {"podCIDR": "x", "podCIDRs": ["x"], "providerID": "x", "unschedulable": False,
                        "taints": [{"key": "x", "value": "x", "effect": "x"}]},
               "status": {"addresses": [{"type": "x", "address": "x"}],
                          "conditions": [{"type": "x", "status": "x", "message": "x", "reason": "x"}],
                          "nodeInfo": {"machineID": "x", "kernelVersion": "x", "bootID": "x"},
                          "images": [{"names": ["x"], "sizeBytes": 1}],
                          "config": {"active": {"configMap": {"name": "x"}}}}}],
    "configmaps": [
        {"kind": "ConfigMap", "apiVersion": "v1",
         "metadata": dict(meta(), name="=kube-proxy", namespace="=kube-system"),
         "data": {"config.conf": None, "kubeconfig.conf": "token: {M}\nserver: {M}\n"},
         "binaryData": {"x": "x"}},
        {"kind": "ConfigMap", "apiVersion": "v1",
         "metadata": dict(meta(), name="=cilium-config", namespace="=kube-system"),
         "data": {"kube-proxy-replacement": "x", "etcd-config": "x", "cluster-pool-ipv4-cidr": "x"}},
        {"kind": "ConfigMap", "apiVersion": "v1",
         "metadata": dict(meta(), name="=ingress-nginx-controller", namespace="=ingress-nginx",
                          labels={"app.kubernetes.io/name": "=ingress-nginx", "{M}": "x"}),
         "data": {"use-forwarded-headers": "x", "proxy-body-size": "x", "ssl-dh-param": "x",
                  "http-snippet": "x"}},
        {"kind": "ConfigMap", "apiVersion": "v1",
         "metadata": dict(meta(), name="=app-config", namespace="=kube-system"),
         "data": {"password": "x"}},
    ],
    # Gateway API (kapi.py serves the group because the fixture holds its objects)
    "gatewayclasses": [{"kind": "GatewayClass", "apiVersion": "gateway.networking.k8s.io/v1", "metadata": meta(ns=None),
                        "spec": {"controllerName": "x", "description": "x",
                                 "parametersRef": {"group": "x", "kind": "x", "name": "x"}},
                        "status": {"conditions": [{"type": "x", "message": "x"}]}}],
    "gateways": [{"kind": "Gateway", "apiVersion": "gateway.networking.k8s.io/v1", "metadata": meta(),
                  "spec": {"gatewayClassName": "x",
                           "listeners": [{"name": "x", "hostname": "x", "protocol": "x", "port": 443,
                                          "tls": {"mode": "x", "certificateRefs": [{"name": "x"}],
                                                  "options": {"x": "x"}},
                                          "allowedRoutes": {"namespaces": {"from": "x"}}}],
                           "addresses": [{"type": "x", "value": "x"}]},
                  "status": {"addresses": [{"type": "x", "value": "x"}],
                             "conditions": [{"type": "x", "message": "x"}]}}],
    "httproutes": [{"kind": "HTTPRoute", "apiVersion": "gateway.networking.k8s.io/v1", "metadata": meta(),
                    "spec": {"hostnames": ["x"],
                             "parentRefs": [{"group": "x", "kind": "x", "namespace": "x", "name": "x",
                                             "sectionName": "x", "port": 443}],
                             "rules": [{"matches": [{"path": {"type": "x", "value": "x"}, "method": "x",
                                                     "headers": [{"name": "x", "value": "x"}],
                                                     "queryParams": [{"name": "x", "value": "x"}]}],
                                        "filters": [{"type": "x", "requestHeaderModifier": {
                                            "add": [{"name": "x", "value": "x"}]}}],
                                        "backendRefs": [{"group": "x", "kind": "x", "namespace": "x", "name": "x",
                                                         "port": 80, "weight": 1,
                                                         "filters": [{"type": "x"}]}]}]},
                    "status": {"parents": [{"controllerName": "x", "conditions": [{"type": "x", "message": "x"}]}]}}],
    "grpcroutes": [{"kind": "GRPCRoute", "apiVersion": "gateway.networking.k8s.io/v1", "metadata": meta(),
                    "spec": {"hostnames": ["x"],
                             "parentRefs": [{"kind": "x", "namespace": "x", "name": "x", "sectionName": "x"}],
                             "rules": [{"matches": [{"method": {"type": "x", "service": "x", "method": "x"},
                                                     "headers": [{"name": "x", "value": "x"}]}],
                                        "backendRefs": [{"group": "x", "kind": "x", "namespace": "x", "name": "x",
                                                         "port": 9090, "weight": 1}]}]}}],
    "secrets": [{"kind": "Secret", "apiVersion": "v1", "metadata": dict(meta(), namespace="=kube-system"),
                 "type": "x", "data": {"token": "x"}, "stringData": {"password": "x"}}],
}

for res in objs.values():
    for o in res:
        if o["metadata"].get("namespace") is None:
            del o["metadata"]["namespace"]

os.makedirs(OUT, exist_ok=True)
for res, items in objs.items():
    out = []
    for o in items:
        kind = o["kind"]
        data = o.get("data")
        o = mark(o, kind, "")
        if kind == "ConfigMap" and data and "config.conf" in data:
            lines = []
            for key, parent in (("apiVersion", None), ("clientConnection", None), ("kubeconfig", "clientConnection"),
                                ("iptables", None), ("masqueradeAll", "iptables"), ("masqueradeBit", "iptables"),
                                ("syncPeriod", "iptables"), ("metricsBindAddress", None), ("mode", None),
                                ("clusterCIDR", None), ("featureGates", None)):
                where = "ConfigMap:data.config.conf#" + (parent + "." if parent else "") + key
                if key in ("clientConnection", "iptables", "featureGates"):
                    lines.append("%s:" % key)
                    if key == "featureGates":
                        lines.append("  %s: true" % new_marker(where + "{key}"))
                    continue
                lines.append("%s%s: \"%s\"" % ("  " if parent else "", key, new_marker(where)))
            o["data"]["config.conf"] = "\n".join(lines) + "\n"
        out.append(o)
    with open(os.path.join(OUT, res + ".json"), "w") as f:
        json.dump({"kind": "List", "apiVersion": "v1", "items": out}, f, indent=1)
with open(os.path.join(OUT, "markers.json"), "w") as f:
    json.dump(markers, f, indent=0, sort_keys=True)
print(len(markers))
