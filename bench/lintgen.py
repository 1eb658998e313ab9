#!/usr/bin/env python3
"""Manifest corpora for bench/lint.sh (ktrace lint throughput).

  lintgen.py big DIR OBJECTS      OBJECTS objects in 8 big multi-document files
  lintgen.py small DIR OBJECTS    the many-small-files layout: one component per
                                  file (a Deployment, its Service and two or three
                                  of PDB / HPA / Ingress / ConfigMap /
                                  ServiceAccount), 2-3 KB per file, ~4.4 objects
                                  per file, in 40 team directories
                                  (14,000 objects -> ~3,200 files, ~7 MB)

Objects look like what kubectl/Helm/Kustomize emit: block style, flow maps
for short label sets, quoted strings where YAML would retype them. The same
seed always writes the same bytes. Prints "<files> <objects> <bytes>".
"""
import os
import sys


def deployment(i, ns):
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
  namespace: {ns}
  labels: {{app.kubernetes.io/name: app-{i}, app.kubernetes.io/part-of: shop, team: t{i % 17}}}
spec:
  replicas: {i % 5 + 1}
  selector:
    matchLabels: {{app.kubernetes.io/name: app-{i}}}
  template:
    metadata:
      labels: {{app.kubernetes.io/name: app-{i}, app.kubernetes.io/part-of: shop, team: t{i % 17}}}
      annotations: {{prometheus.io/scrape: "true", prometheus.io/port: "9090"}}
    spec:
      serviceAccountName: app-{i}
      terminationGracePeriodSeconds: 45
      containers:
      - name: app
        image: registry.example.com/shop/app-{i}:1.{i % 50}.{i % 7}
        args: ["--port=8080", "--log-level=info"]
        ports:
        - {{name: http, containerPort: 8080, protocol: TCP}}
        - {{name: metrics, containerPort: 9090, protocol: TCP}}
        env:
        - {{name: LOG_FORMAT, value: json}}
        readinessProbe:
          httpGet: {{path: /ready, port: http}}
        lifecycle:
          preStop:
            exec: {{command: ["sh", "-c", "sleep 10"]}}
        resources:
          requests: {{cpu: 100m, memory: 128Mi}}
      topologySpreadConstraints:
      - maxSkew: 1
        topologyKey: topology.kubernetes.io/zone
        whenUnsatisfiable: ScheduleAnyway
        labelSelector:
          matchLabels: {{app.kubernetes.io/name: app-{i}}}
"""


def service(i, ns):
    t = "LoadBalancer" if i % 10 == 0 else "ClusterIP"
    return f"""apiVersion: v1
kind: Service
metadata:
  name: app-{i}
  namespace: {ns}
  labels: {{app.kubernetes.io/name: app-{i}}}
spec:
  type: {t}
  selector: {{app.kubernetes.io/name: app-{i}}}
  ports:
  - name: http
    port: 80
    targetPort: http
  - name: metrics
    port: 9090
    targetPort: {"metrics" if i % 3 else 9090}
"""


def pdb(i, ns):
    return f"""apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: app-{i}, namespace: {ns}}}
spec:
  maxUnavailable: 1
  selector: {{matchLabels: {{app.kubernetes.io/name: app-{i}}}}}
"""


def hpa(i, ns):
    return f"""apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: app-{i}, namespace: {ns}}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: app-{i}}}
  minReplicas: 2
  maxReplicas: 10
"""


def ingress(i, ns):
    return f"""apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: app-{i}
  namespace: {ns}
spec:
  ingressClassName: nginx
  rules:
  - host: app-{i}.example.com
    http:
      paths:
      - {{path: /, pathType: Prefix, backend: {{service: {{name: app-{i}, port: {{name: http}}}}}}}}
"""


def configmap(i, ns):
    return f"""apiVersion: v1
kind: ConfigMap
metadata: {{name: app-{i}-config, namespace: {ns}}}
data:
  LOG_LEVEL: info
  config.yaml: |
    server: {{port: 8080, readTimeout: 30s}}
"""


def serviceaccount(i, ns):
    return f"""apiVersion: v1
kind: ServiceAccount
metadata: {{name: app-{i}, namespace: {ns}}}
"""


EXTRA = [pdb, hpa, ingress, configmap, serviceaccount]


def component(i):
    """One small file: Deployment + Service + 2 or 3 extras (~4.4 objects)."""
    ns = "ns-%d" % (i % 20)
    docs = [deployment(i, ns), service(i, ns)]
    n = 3 if i % 5 < 2 else 2
    for k in range(n):
        docs.append(EXTRA[(i + k) % len(EXTRA)](i, ns))
    return docs


def write_small(out, total):
    files = objs = size = 0
    i = 0
    while objs < total:
        docs = component(i)[: total - objs]
        d = os.path.join(out, "team-%02d" % (i % 40))
        os.makedirs(d, exist_ok=True)
        body = "".join("---\n" + x for x in docs)
        with open(os.path.join(d, "app-%05d.yaml" % i), "w") as fh:
            fh.write(body)
        files += 1
        objs += len(docs)
        size += len(body)
        i += 1
    return files, objs, size


def write_big(out, total, nfiles=8):
    os.makedirs(out, exist_ok=True)
    handles = [open(os.path.join(out, "big-%d.yaml" % f), "w") for f in range(nfiles)]
    objs = size = 0
    i = 0
    while objs < total:
        docs = component(i)[: total - objs]
        body = "".join("---\n" + x for x in docs)
        handles[i % nfiles].write(body)
        objs += len(docs)
        size += len(body)
        i += 1
    for h in handles:
        h.close()
    return nfiles, objs, size


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("big", "small"):
        sys.exit(__doc__)
    out, total = sys.argv[2], int(sys.argv[3])
    os.makedirs(out, exist_ok=True)
    f, o, s = (write_small if sys.argv[1] == "small" else write_big)(out, total)
    print(f, o, s)


if __name__ == "__main__":
    main()
