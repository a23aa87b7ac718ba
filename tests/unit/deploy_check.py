#!/usr/bin/env python3
"""Consistency checks of the deployment files (deploy/), run by the deploy
tests in tests/unit/. Schema validators say a file is well formed; these say
the files agree with each other and with the programs: probes on the metrics
port, the consumer group KEDA watches is the one the workers join, every
alert has a test that fires it and one that does not, and so on.

Usage:
  deploy_check.py alerts RULES TESTS DEPLOY_MD
  deploy_check.py crd CRD_YAML... -- MANIFEST...
  deploy_check.py kubernetes DIR
  deploy_check.py compose RESOLVED_CONFIG COMPOSE_DIR
  deploy_check.py dockerfile DOCKERFILE DOCKERIGNORE SOURCE_DIR PACKAGE...
  deploy_check.py systemd DIR

Prints one line per failed check and "N passed, N failed"; exits 1 when a
check failed, 2 on bad usage.
"""
import fnmatch
import os
import re
import sys

import yaml

passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what)
    return cond


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def duration_s(text):
    """'30s', '2m', '45', '100ms' -> seconds."""
    m = re.fullmatch(r"(\d+)(ms|s|m|h)?", str(text).strip())
    if not m:
        raise ValueError("not a duration: %r" % text)
    n = int(m.group(1))
    return {"ms": n / 1000, "s": n, None: n, "m": n * 60, "h": n * 3600}[m.group(2)]


# --- Prometheus rules -------------------------------------------------------

def cmd_alerts(rules_path, tests_path, deploy_md):
    rules = [r for g in load_all(rules_path)[0]["groups"] for r in g["rules"]]
    alerts = [r for r in rules if "alert" in r]
    tests = load_all(tests_path)[0]["tests"]
    with open(deploy_md, encoding="utf-8") as f:
        headings = {m.group(1) for m in re.finditer(r"^#+\s+(\S+)\s*$", f.read(), re.M)}
    fires, quiet = set(), set()
    for t in tests:
        for a in t.get("alert_rule_test", []):
            (fires if a.get("exp_alerts") else quiet).add(a["alertname"])
    check(len(alerts) >= 7, "at least the seven alerts of the issue (found %d)" % len(alerts))
    for a in alerts:
        name = a["alert"]
        check(name in fires, "%s: a test case where it fires" % name)
        check(name in quiet, "%s: a test case where it does not fire" % name)
        check(a.get("labels", {}).get("severity") in ("critical", "warning"),
              "%s: severity label critical or warning" % name)
        ann = a.get("annotations", {})
        for key in ("summary", "description", "runbook"):
            check(ann.get(key), "%s: annotation %s" % (name, key))
        anchor = "docs/DEPLOY.md#" + name.lower()
        check(str(ann.get("runbook", "")).startswith(anchor),
              "%s: runbook annotation starts with %s" % (name, anchor))
        check(name in headings, "%s: a runbook heading in docs/DEPLOY.md" % name)
    tested = {a["alertname"] for t in tests for a in t.get("alert_rule_test", [])}
    for name in sorted(tested - {a["alert"] for a in alerts}):
        check(False, "alerts_test.yml tests %s, which alerts.yml does not define" % name)


# --- CRD validation ----------------------------------------------------------

def strict_schema(node):
    """An OpenAPI v3 schema of a CRD -> JSON Schema that rejects unknown
    fields (as the API server prunes them), with the Kubernetes extensions
    turned into plain JSON Schema."""
    if isinstance(node, list):
        return [strict_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: strict_schema(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out \
            and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def cmd_crd(crd_paths, manifest_paths):
    import jsonschema

    schemas = {}
    for path in crd_paths:
        for crd in load_all(path):
            spec = crd["spec"]
            for v in spec["versions"]:
                key = (spec["group"] + "/" + v["name"], spec["names"]["kind"])
                schemas[key] = strict_schema(v["schema"]["openAPIV3Schema"])
    for path in manifest_paths:
        for doc in load_all(path):
            key = (doc.get("apiVersion"), doc.get("kind"))
            where = "%s: %s %s" % (path, doc.get("kind"), doc.get("metadata", {}).get("name"))
            if not check(key in schemas, "%s: no CRD schema for %s %s" % (where, *key)):
                continue
            errors = sorted(jsonschema.Draft7Validator(schemas[key]).iter_errors(doc),
                            key=lambda e: list(e.absolute_path))
            for e in errors:
                check(False, "%s: at %s: %s" % (where, "/".join(map(str, e.absolute_path)) or "(root)",
                                                  e.message))
            if not errors:
                check(True, where)
                print("ok: %s valid against its CRD (%s)" % (where, key[0]))


# --- Kubernetes manifests ----------------------------------------------------

def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def cmd_kubernetes(root):
    docs = []
    files = sorted(f for f in os.listdir(root) if f.endswith(".yaml") and f != "kustomization.yaml")
    for f in files:
        docs += [(f, d) for d in load_all(os.path.join(root, f))]
    kust = load_all(os.path.join(root, "kustomization.yaml"))[0]
    check(sorted(kust.get("resources", [])) == files,
          "kustomization.yaml lists every manifest of %s (%s vs %s)" % (root, kust.get("resources"), files))
    check("namespace" not in kust and all("namespace" not in d.get("metadata", {}) for _, d in docs),
          "manifests are namespace-agnostic (no metadata.namespace)")
    examples = []
    for f in sorted(os.listdir(os.path.join(root, "examples"))):
        examples += load_all(os.path.join(root, "examples", f))
    secrets = {d["metadata"]["name"]: d for d in examples if d["kind"] == "Secret"}
    for name, s in secrets.items():
        values = list((s.get("stringData") or {}).values()) + list((s.get("data") or {}).values())
        check(all("CHANGE-ME" in str(v) or str(v).strip() == "[]" for v in values),
              "examples Secret %s holds only placeholders" % name)

    by_kind = {}
    for f, d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    cm = {d["metadata"]["name"]: d["data"] for d in by_kind.get("ConfigMap", [])}
    config = cm.get("datafleet-config", {})
    check(config, "ConfigMap datafleet-config")
    metrics_port = int(config.get("DATAFLEET_METRICS_LISTEN", ":0").rsplit(":", 1)[1])
    partitions = int(config.get("DATAFLEET_PARTITIONS", "12"))
    group = config.get("DATAFLEET_GROUP", "datafleet-workers")
    prefix = config.get("DATAFLEET_TOPIC_PREFIX", "datafleet.")
    scaled = {d["spec"]["scaleTargetRef"]["name"]: d for d in by_kind.get("ScaledObject", [])}
    pdbs = by_kind.get("PodDisruptionBudget", [])
    services = by_kind.get("Service", [])

    deployments = by_kind.get("Deployment", [])
    workers = [d for d in deployments if d["metadata"]["labels"].get("app.kubernetes.io/component") == "worker"]
    schedulers = [d for d in deployments
                  if d["metadata"]["labels"].get("app.kubernetes.io/component") == "scheduler"]
    check(len(workers) >= 1 and len(schedulers) == 1, "worker Deployments and one scheduler Deployment")
    types_seen = []
    for d in deployments:
        name = d["metadata"]["name"]
        spec = d["spec"]
        pod = spec["template"]["spec"]
        labels = spec["template"]["metadata"]["labels"]
        check(selects(spec["selector"]["matchLabels"], labels), "%s: selector matches its pods" % name)
        check(labels.get("app.kubernetes.io/part-of") == "datafleet", "%s: pods part-of datafleet" % name)
        psc = pod.get("securityContext", {})
        check(psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0,
              "%s: runs as a non-root user" % name)
        check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "%s: seccomp RuntimeDefault" % name)
        check(pod.get("automountServiceAccountToken") is False, "%s: no service account token" % name)
        (c,) = pod["containers"]
        env = {e["name"]: e for e in c.get("env", [])}
        csc = c.get("securityContext", {})
        check(csc.get("readOnlyRootFilesystem") is True, "%s: read-only root filesystem" % name)
        check(csc.get("allowPrivilegeEscalation") is False, "%s: no privilege escalation" % name)
        check(csc.get("capabilities", {}).get("drop") == ["ALL"], "%s: drops all capabilities" % name)
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        check(ports.get("metrics") == metrics_port,
              "%s: container port 'metrics' is DATAFLEET_METRICS_LISTEN's port %d" % (name, metrics_port))
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"),
                            ("startupProbe", "/healthz")):
            http = c.get(probe, {}).get("httpGet", {})
            check(http.get("path") == path and http.get("port") == "metrics",
                  "%s: %s GET %s on the metrics port" % (name, probe, path))
        res = c.get("resources", {})
        check(res.get("requests", {}).get("cpu") and res.get("requests", {}).get("memory")
              and res.get("limits", {}).get("memory"), "%s: cpu/memory requests and a memory limit" % name)
        check({"configMapRef": {"name": "datafleet-config"}} in c.get("envFrom", []),
              "%s: environment from ConfigMap datafleet-config" % name)
        for e in env.values():
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                s = secrets.get(ref["name"], {})
                check(ref["key"] in (s.get("stringData") or {}) or ref["key"] in (s.get("data") or {}),
                      "%s: %s refers to Secret %s key %s, described in examples/" %
                      (name, e["name"], ref["name"], ref["key"]))
            check("value" not in e or not re.search(r"://[^/@]*:[^/@]*@", str(e["value"])),
                  "%s: no password in a plain env value (%s)" % (name, e["name"]))
        for v in pod.get("volumes", []):
            if "secret" in v:
                check(v["secret"]["secretName"] in secrets,
                      "%s: volume %s's Secret is described in examples/" % (name, v["name"]))
        check(not re.search(r"://[^/@]*:[^/@]*@", config.get("DATAFLEET_DATABASE_URL", "")),
              "ConfigMap: DATAFLEET_DATABASE_URL carries no password")
        check(any(selects(s["spec"].get("selector", {}), labels) and
                  any(p.get("targetPort") == "metrics" for p in s["spec"]["ports"]) for s in services),
              "%s: a Service exposes its metrics port" % name)
        pdb = [p for p in pdbs if selects(p["spec"]["selector"]["matchLabels"], labels)]
        check(len(pdb) == 1, "%s: exactly one PodDisruptionBudget covers its pods (%d)" % (name, len(pdb)))

        if d in workers:
            types = env.get("DATAFLEET_TYPES", {}).get("value", "")
            check(types in ("export", "refresh", "lineage"), "%s: one task type (%r)" % (name, types))
            types_seen.append(types)
            grace = duration_s(env.get("DATAFLEET_GRACE", {}).get("value", "30s"))
            check(pod.get("terminationGracePeriodSeconds", 30) >= grace + 10,
                  "%s: terminationGracePeriodSeconds (%s) >= --grace (%ss) + 10s to hand back and leave" %
                  (name, pod.get("terminationGracePeriodSeconds"), grace))
            check("replicas" not in spec, "%s: no spec.replicas (KEDA owns the count)" % name)
            check(env.get("DATAFLEET_WORKER_ID", {}).get("valueFrom", {}).get("fieldRef", {})
                  .get("fieldPath") == "metadata.name", "%s: worker id is the pod name" % name)
            check(pdb and pdb[0]["spec"].get("maxUnavailable") == 1,
                  "%s: PDB maxUnavailable 1 (drainable at one replica)" % name)
            so = scaled.get(name)
            if check(so is not None, "%s: a ScaledObject targets it" % name):
                (trig,) = so["spec"]["triggers"]
                md = trig["metadata"]
                check(trig["type"] == "kafka", "%s: KEDA kafka trigger" % name)
                check(md.get("consumerGroup") == "%s.%s" % (group, types),
                      "%s: KEDA consumerGroup %s is the workers' group %s.%s" %
                      (name, md.get("consumerGroup"), group, types))
                check(md.get("topic") == "%stasks.%s" % (prefix, types),
                      "%s: KEDA topic %s is %stasks.%s" % (name, md.get("topic"), prefix, types))
                check(md.get("bootstrapServers") == config.get("DATAFLEET_KAFKA_BROKERS"),
                      "%s: KEDA bootstrapServers are DATAFLEET_KAFKA_BROKERS" % name)
                check(md.get("offsetResetPolicy") == "earliest",
                      "%s: offsetResetPolicy earliest, as the workers' auto.offset.reset" % name)
                check(int(md.get("lagThreshold", "0")) > 0, "%s: a lagThreshold" % name)
                check(1 <= so["spec"]["minReplicaCount"] <= so["spec"]["maxReplicaCount"] <= partitions,
                      "%s: 1 <= minReplicaCount <= maxReplicaCount <= partitions (%d)" % (name, partitions))
        else:
            check(spec.get("replicas") == 2, "%s: two replicas" % name)
            check(c.get("args", [])[:2] == ["datafleet-scheduler", "run"], "%s: runs datafleet-scheduler run" % name)
            check("cron" in env.get("DATAFLEET_ROLES", {}).get("value", ""), "%s: runs the cron role" % name)
            check(pdb and pdb[0]["spec"].get("minAvailable") == 1, "%s: PDB minAvailable 1" % name)
            check(spec.get("strategy", {}).get("rollingUpdate", {}).get("maxUnavailable") == 0,
                  "%s: rolling updates never take both down" % name)
    check(sorted(types_seen) == ["export", "lineage", "refresh"],
          "one worker Deployment per task type (%s)" % types_seen)
    check(sorted(scaled) == sorted(d["metadata"]["name"] for d in workers),
          "every ScaledObject targets a worker Deployment")


# --- docker-compose -----------------------------------------------------------

def cmd_compose(resolved_path, compose_dir):
    cfg = load_all(resolved_path)[0]
    services = cfg["services"]
    check(set(services) == {"kafka", "redis", "postgres", "migrate", "scheduler", "api", "worker",
                            "prometheus", "grafana"}, "services: %s" % sorted(services))
    fleet = {n: s for n, s in services.items() if str(s.get("image", "")).startswith("datafleet:")}
    check(set(fleet) == {"migrate", "scheduler", "api", "worker"},
          "datafleet image services: %s" % sorted(fleet))
    kafka_env = services["kafka"]["environment"]
    check(kafka_env.get("KAFKA_PROCESS_ROLES") == "broker,controller",
          "kafka runs in KRaft mode (broker,controller)")
    advertised = dict(re.findall(r"(\w+)://([^,]+)", kafka_env.get("KAFKA_ADVERTISED_LISTENERS", "")))
    for name, s in fleet.items():
        env = s.get("environment", {})
        check(s.get("read_only") is True, "%s: read-only root" % name)
        check(s.get("cap_drop") == ["ALL"], "%s: drops all capabilities" % name)
        check("no-new-privileges:true" in s.get("security_opt", []), "%s: no-new-privileges" % name)
        check(s.get("user") in (None, "10001", "10001:10001"), "%s: the image's non-root user" % name)
        check(s.get("build", {}).get("dockerfile") == "deploy/docker/Dockerfile",
              "%s: built from deploy/docker/Dockerfile" % name)
        check(env.get("DATAFLEET_KAFKA_BROKERS") == advertised.get("PLAINTEXT"),
              "%s: DATAFLEET_KAFKA_BROKERS is kafka's advertised PLAINTEXT listener" % name)
        check(not re.search(r"://[^/@]*:[^/@]*@", env.get("DATAFLEET_DATABASE_URL", "")),
              "%s: no password in DATAFLEET_DATABASE_URL" % name)
        for var in ("PGPASSWORD_FILE", "DATAFLEET_SECRET_KEY_FILE"):
            secret = os.path.basename(env.get(var, ""))
            check(env.get(var, "").startswith("/run/secrets/") and
                  any((x if isinstance(x, str) else x.get("source")) == secret for x in s.get("secrets", [])),
                  "%s: %s names a secret the service mounts" % (name, var))
        deps = s.get("depends_on", {})
        for dep, cond in deps.items():
            check(cond.get("condition") in ("service_healthy", "service_completed_successfully"),
                  "%s: waits for %s to be healthy or done" % (name, dep))
    check(services["migrate"]["command"] == ["datafleet-scheduler", "migrate"], "migrate: runs the migrations")
    check(services["migrate"].get("restart") in (None, "no"), "migrate: a one-shot")
    check(services["scheduler"]["depends_on"].get("migrate", {}).get("condition") ==
          "service_completed_successfully", "scheduler: starts after the migrations")
    api = services["api"]
    check(api["environment"].get("DATAFLEET_ROLES") == "api", "api: runs the api role only")
    check(api["depends_on"].get("migrate", {}).get("condition") == "service_completed_successfully",
          "api: starts after the migrations")
    check(str(api["environment"].get("DATAFLEET_API_LISTEN", "")).endswith(":8470") and
          any(re.search(r"\b8470(/tcp)?$", str(p.get("target") if isinstance(p, dict) else p))
              for p in api.get("ports", [])),
          "api: listens on 8470 inside, published on the host")
    worker = services["worker"]
    check("container_name" not in worker and not worker.get("ports"),
          "worker: no container name and no host port, so --scale worker=N works")
    grace = duration_s(worker["environment"].get("DATAFLEET_GRACE", "30s"))
    check(duration_s(worker.get("stop_grace_period", "10s")) >= grace + 10,
          "worker: stop_grace_period >= DATAFLEET_GRACE + 10s")
    for name in ("kafka", "redis", "postgres", "prometheus", "grafana"):
        check(services[name].get("healthcheck", {}).get("test"), "%s: a healthcheck" % name)
    for name, s in services.items():
        for p in s.get("ports", []):
            host_ip = p.get("host_ip") if isinstance(p, dict) else str(p).split(":")[0]
            check(host_ip == "127.0.0.1", "%s: port %s published on loopback only" % (name, p))
    mounts = {(v.get("target") if isinstance(v, dict) else v.split(":")[1]):
              (v.get("source") if isinstance(v, dict) else v.split(":")[0])
              for v in services["prometheus"].get("volumes", [])}
    prom_dir = os.path.realpath(os.path.join(compose_dir, "prometheus"))
    check(os.path.realpath(mounts.get("/etc/prometheus", "")) == prom_dir,
          "prometheus: mounts deploy/prometheus at /etc/prometheus")
    gmounts = {(v.get("target") if isinstance(v, dict) else v.split(":")[1]):
               (v.get("source") if isinstance(v, dict) else v.split(":")[0])
               for v in services["grafana"].get("volumes", [])}
    for target, rel in (("/etc/grafana/provisioning", "grafana/provisioning"),
                        ("/var/lib/grafana/dashboards", "grafana/dashboards")):
        check(os.path.realpath(gmounts.get(target, "")) == os.path.realpath(os.path.join(compose_dir, rel)),
              "grafana: mounts deploy/%s at %s" % (rel, target))
    prom = load_all(os.path.join(compose_dir, "prometheus", "prometheus.yml"))[0]
    jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
    for svc, job in (("worker", "datafleet-worker"), ("scheduler", "datafleet-scheduler")):
        port = int(services[svc]["environment"]["DATAFLEET_METRICS_LISTEN"].rsplit(":", 1)[1])
        sd = jobs.get(job, {}).get("dns_sd_configs", [{}])[0]
        check(sd.get("names") == [svc] and sd.get("port") == port,
              "prometheus.yml: job %s finds every %s replica by DNS on port %d" % (job, svc, port))
    with open(os.path.join(compose_dir, "compose", "init-secrets"), encoding="utf-8") as f:
        made = set(re.findall(r"^make_secret (\w+)", f.read(), re.M))
    for name, sec in cfg.get("secrets", {}).items():
        path = os.path.realpath(sec.get("file", ""))
        check(path == os.path.realpath(os.path.join(compose_dir, "compose", "secrets", name)) and name in made,
              "secret %s: a file under deploy/compose/secrets/ that init-secrets creates" % name)


# --- Dockerfile --------------------------------------------------------------

def dockerignore_allows(patterns, path):
    """Docker's rule: the last matching pattern wins; a pattern matches a
    path or any of its parents."""
    allowed = True
    parts = path.strip("/").split("/")
    for pat in patterns:
        neg = pat.startswith("!")
        p = pat[1:] if neg else pat
        p = p.strip("/")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            if fnmatch.fnmatchcase(prefix, p) or (p.startswith("**/") and fnmatch.fnmatchcase(prefix, p[3:])):
                allowed = neg
                break
    return allowed


def cmd_dockerfile(dockerfile, dockerignore, src, packages):
    with open(dockerfile, encoding="utf-8") as f:
        text = f.read().replace("\\\n", " ")
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    check(len(stages) == 2, "two stages (build, runtime)")
    build, runtime = stages[0], stages[-1]
    check(re.match(r"\$\{DEBIAN_IMAGE\} AS build", build) and re.search(
        r"^ARG DEBIAN_IMAGE=debian:bookworm-slim$", text, re.M), "build stage on debian:bookworm-slim")
    check("cmake --preset release" in build, "build stage uses the release preset")
    installed = set()
    for m in re.finditer(r"apt-get install ([^&]*)", runtime):
        installed |= {w for w in m.group(1).split() if not w.startswith("-")}
    for pkg in packages:
        check(pkg in installed, "runtime stage installs %s (a library the programs link)" % pkg)
    dev = sorted(p for p in installed if p.endswith("-dev") or p in ("gcc", "cmake", "build-essential"))
    check(not dev, "runtime stage has no build tools (%s)" % dev)
    user = re.findall(r"^USER (\S+)", runtime, re.M)
    check(user and user[-1].split(":")[0] not in ("0", "root"), "runtime runs as a non-root user (%s)" % user)
    check(user and user[-1] == "10001:10001", "runtime user is 10001:10001 (the manifests' runAsUser)")
    for prog in ("datafleet-worker", "datafleet-scheduler", "datafleet-submit"):
        check(re.search(r"^COPY --from=build .*/" + prog + r"\b", runtime, re.M), "runtime has %s" % prog)
    check("COPY --from=build /out/usr/local/share/datafleet/" in runtime, "runtime has the schemas and migrations")
    check(re.search(r"^HEALTHCHECK .*readyz", runtime, re.M), "a HEALTHCHECK on /readyz")
    with open(dockerignore, encoding="utf-8") as f:
        patterns = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    copies = []
    for m in re.finditer(r"^COPY (?!--from)(.*)$", text, re.M):
        copies += m.group(1).split()[:-1]
    for c in copies:
        check(os.path.exists(os.path.join(src, c)), "COPY %s: exists in the repository" % c)
        check(dockerignore_allows(patterns, c), "COPY %s: not excluded by .dockerignore" % c)
    for p in ("build/dev/datafleet-worker", ".git/config", "tests/run", ".local/x"):
        check(not dockerignore_allows(patterns, p), ".dockerignore keeps %s out of the context" % p)
    with open(os.path.join(src, "CMakeLists.txt"), encoding="utf-8") as f:
        subdirs = re.findall(r"^add_subdirectory\((\w+)\)", f.read(), re.M)
    for d in subdirs:
        check(d == "tests" or any(c.rstrip("/") == d for c in copies),
              "build stage copies %s/ (add_subdirectory in CMakeLists.txt)" % d)


# --- systemd -----------------------------------------------------------------

HARDENING = ("NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
             "DynamicUser=yes", "CapabilityBoundingSet=", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
             "SystemCallFilter=@system-service", "MemoryDenyWriteExecute=yes")


def cmd_systemd(root):
    units = {}
    for f in sorted(os.listdir(root)):
        if f.endswith(".service"):
            with open(os.path.join(root, f), encoding="utf-8") as fh:
                units[f] = [line.strip() for line in fh if not line.startswith("#")]
    check(set(units) == {"datafleet-worker@.service", "datafleet-scheduler.service"}, "units: %s" % sorted(units))
    for name, lines in units.items():
        for key in HARDENING:
            check(key in lines, "%s: %s" % (name, key))
        check("RestartPreventExitStatus=2" in lines, "%s: no restart loop on a bad option (exit 2)" % name)
        check(any(line.startswith("LoadCredential=secret-key:") for line in lines) and
              "Environment=DATAFLEET_SECRET_KEY_FILE=%d/secret-key" in lines,
              "%s: the keyring as a systemd credential" % name)
        check("Environment=PGPASSFILE=%d/pgpass" in lines, "%s: the PostgreSQL password as a credential" % name)
        check(not any(re.search(r"://[^/@ ]*:[^/@ ]*@", line) for line in lines), "%s: no password inline" % name)
    worker = units.get("datafleet-worker@.service", [])
    stop = [duration_s(line.split("=", 1)[1]) for line in worker if line.startswith("TimeoutStopSec=")]
    check(stop and stop[0] >= 30 + 10, "worker: TimeoutStopSec >= the default --grace (30s) + 10s")
    check("EnvironmentFile=/etc/datafleet/worker-%i.env" in worker,
          "worker: a required per-instance env file (its own metrics port)")
    ports = {}
    for f in sorted(os.listdir(root)):
        m = re.fullmatch(r"worker-(\w+)\.env\.example", f)
        if m:
            with open(os.path.join(root, f), encoding="utf-8") as fh:
                port = re.search(r"^DATAFLEET_METRICS_LISTEN=\S+:(\d+)$", fh.read(), re.M)
            check(port, "%s: sets DATAFLEET_METRICS_LISTEN" % f)
            if port:
                ports[f] = port.group(1)
    check(len(ports) >= 2 and len(set(ports.values())) == len(ports),
          "worker instance examples use distinct metrics ports (%s)" % ports)


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[1], argv[2:]
    if cmd == "alerts" and len(args) == 3:
        cmd_alerts(*args)
    elif cmd == "crd" and "--" in args:
        i = args.index("--")
        cmd_crd(args[:i], args[i + 1:])
    elif cmd == "kubernetes" and len(args) == 1:
        cmd_kubernetes(args[0])
    elif cmd == "compose" and len(args) == 2:
        cmd_compose(*args)
    elif cmd == "dockerfile" and len(args) >= 3:
        cmd_dockerfile(args[0], args[1], args[2], args[3:])
    elif cmd == "systemd" and len(args) == 1:
        cmd_systemd(args[0])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
