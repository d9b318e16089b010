"""test/deploy/test_kubernetes.py: deploy/kubernetes, checked offline.

Every kustomization renders with kustomize, and what it renders is valid
against the API of Kubernetes 1.34 and the Prometheus Operator
(validate.mjs); a broken manifest is refused.  The rendered objects agree
with each other and with the config file they carry (manifests.agree):
ports, probes, Service names and selectors, mounts, the stop's timings;
the development config is the StatefulSet stand-in's; and `ringmq
check-config` accepts each config with the files its pod's volumes show.
"""
import copy
import inspect
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)),
                                "deploy", "standin"))
import manifests as m  # noqa: E402
from rmqtest import BROKER_BINARY, run  # noqa: E402
import standin  # noqa: E402

gone = m.missing_tools()
if gone:  # a visible skip, not a pass
    print("missing %s (scripts/deps --test installs them): skipped" %
          ", ".join(gone))
    sys.exit(77)

TMP = tempfile.mkdtemp(prefix="rmq-deploy-")
PROD, SECRETS = m.overlay_with_secrets(TMP, BROKER_BINARY)
OVERLAYS = {"base": os.path.join(m.KUBE, "base"),
            "dev": os.path.join(m.KUBE, "overlays", "dev"),
            "prod": PROD}
STANDIN = (standin.CONFIG, standin.ADMIN_PORT, standin.MQTT_PORT,
           inspect.signature(standin.StatefulSet).parameters["grace"].default)
_rendered = {}


def rendered(name):
    """(YAML, objects) of an overlay, rendered once."""
    if name not in _rendered:
        rc, out, err = m.kustomize(OVERLAYS[name])
        assert rc == 0, "%s: kustomize build: %s" % (name, err)
        _rendered[name] = (out, m.objects(out))
    return _rendered[name]


def write(name, text):
    p = os.path.join(TMP, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def every_kustomization_renders_and_validates(_):
    files = []
    for name in OVERLAYS:
        out, objs = rendered(name)
        kinds = sorted({o["kind"] for o in objs})
        for k in ("ConfigMap", "PodDisruptionBudget", "Service",
                  "StatefulSet"):
            assert k in kinds, (name, kinds)
        files.append(write(name + ".yaml", out))
    _, prod = rendered("prod")
    assert {o["kind"] for o in prod} >= {"Secret", "ServiceMonitor"}
    rc, out = m.validate(*files)
    assert rc == 0, out
    assert "0 errors" in out, out
    # every object rendered was checked, none passed over
    total = sum(len(rendered(n)[1]) for n in OVERLAYS)
    assert "%d documents, 0 errors" % total in out, out


def the_components_render_with_an_overlay(_):
    # components/io-uring in the dev overlay: the Localhost profile
    tmp = os.path.join(TMP, "with-io-uring")
    os.makedirs(tmp)
    with open(os.path.join(tmp, "kustomization.yaml"), "w") as f:
        f.write("apiVersion: kustomize.config.k8s.io/v1beta1\n"
                "kind: Kustomization\n"
                "resources:\n  - %s\n"
                "components:\n  - %s\n" % (
                    os.path.relpath(OVERLAYS["dev"], tmp),
                    os.path.relpath(os.path.join(m.KUBE, "components",
                                                 "io-uring"), tmp)))
    rc, out, err = m.kustomize(tmp)
    assert rc == 0, err
    sts = m.one(m.objects(out), "StatefulSet")
    prof = sts["spec"]["template"]["spec"]["securityContext"]["seccompProfile"]
    assert prof == {"type": "Localhost",
                    "localhostProfile": "profiles/ringmq.json"}, prof
    rc, msg = m.validate(write("io-uring.yaml", out))
    assert rc == 0, msg


def the_prod_overlay_wants_its_secrets(_):
    # Without the operator's files the overlay does not build, and says
    # which file is missing (secrets/README.md).
    tmp = os.path.join(TMP, "no-secrets")
    shutil.copytree(m.KUBE, tmp)
    for f in os.listdir(os.path.join(tmp, "overlays", "prod", "secrets")):
        if f not in ("README.md", ".gitignore"):
            os.remove(os.path.join(tmp, "overlays", "prod", "secrets", f))
    rc, out, err = m.kustomize(os.path.join(tmp, "overlays", "prod"))
    assert rc != 0, out
    assert "secrets/" in err, err


def a_broken_manifest_is_refused(_):
    out, _objs = rendered("dev")
    broken = {
        # a misspelt field: the schemas let it through, the API drops it
        "misspelt": ("  publishNotReadyAddresses: true",
                     "  publishNotReadyAdresses: true",
                     "does not exist in type"),
        # a port as a string
        "type": ("containerPort: 8080", 'containerPort: "8080"',
                 "must be integer"),
        # a field where it does not belong
        "misplaced": ("  serviceName: ringmq-headless",
                      "  serviceName: ringmq-headless\n  clusterIP: None",
                      "does not exist in type"),
        # a kind the API does not have
        "kind": ("kind: PodDisruptionBudget", "kind: PodDisruptionBuget",
                 "no kind PodDisruptionBuget"),
        # a required field gone: the container's name
        "required": ("        name: ringmq\n        ports:",
                     "        ports:", "must have required property"),
    }
    for what, (old, new, says) in broken.items():
        assert old in out, (what, old)
        rc, msg = m.validate(write("broken-%s.yaml" % what,
                                   out.replace(old, new, 1)))
        assert rc == 1, (what, msg)
        assert says in msg, (what, msg)
        assert "error: " in msg, (what, msg)


def the_objects_agree_with_each_other_and_the_config(_):
    for name in OVERLAYS:
        _, objs = rendered(name)
        bad = m.agree(objs, STANDIN if name in ("base", "dev") else None)
        assert bad == [], (name, bad)


def a_disagreement_is_found(_):
    # Each change breaks one agreement, and agree() names it.
    _, objs = rendered("dev")

    def sts(o):
        return m.one(o, "StatefulSet")

    def cont(o):
        return sts(o)["spec"]["template"]["spec"]["containers"][0]

    def conf_edit(old, new):
        def f(o):
            cm = m.find(o, "ConfigMap")[0]
            cm["data"]["ringmq.conf"] = cm["data"]["ringmq.conf"].replace(
                old, new)
        return f

    def svc(name):
        return lambda o: m.one(o, "Service", name)["spec"]

    changes = [
        (lambda o: cont(o)["readinessProbe"]["httpGet"].update(port="mqtt"),
         "readinessProbe on port mqtt"),
        (lambda o: cont(o)["livenessProbe"]["httpGet"].update(
            path="/readyz"), "livenessProbe on /readyz"),
        (lambda o: svc("ringmq-headless")(o).pop(
            "publishNotReadyAddresses"), "hides pods that are not ready"),
        (lambda o: svc("ringmq")(o)["ports"][0].update(targetPort=1884),
         "targets 1884"),
        (conf_edit("listener 1883", "listener 1884"), "container ports"),
        (conf_edit("admin_listener 0.0.0.0:8080",
                   "admin_listener 0.0.0.0:9090"), "admin listener is 9090"),
        (conf_edit("server_reference ringmq:1883",
                   "server_reference mqtt:1883"), "no Service of that name"),
        (conf_edit("cluster_dns ringmq-headless",
                   "cluster_dns ringmq-peers"), "cluster_dns names"),
        (conf_edit("persistence_location /var/lib/ringmq",
                   "persistence_location /data"), "persistence_location"),
        (conf_edit("shutdown_grace 10", "shutdown_grace 13"),
         "leave nothing of terminationGracePeriodSeconds"),
        (lambda o: sts(o)["spec"]["template"]["metadata"]["labels"].update(
            {"app.kubernetes.io/name": "other"}), "does not select"),
        (lambda o: cont(o).update(args=["-c", "/etc/ringmq/other.conf"]),
         "has no other.conf"),
        (lambda o: cont(o)["securityContext"].pop("readOnlyRootFilesystem"),
         "root filesystem is writable"),
        (lambda o: cont(o).pop("env"), "not sized to the CPU request"),
        (conf_edit("persistence true", "persistence true\nthreads 2"),
         "overridden by RINGMQ_THREADS"),
    ]
    for change, says in changes:
        o = copy.deepcopy(objs)
        change(o)
        try:
            bad = m.agree(o, STANDIN)
        except AssertionError as e:  # a config it cannot even find
            bad = [str(e)]
        assert any(says in b for b in bad), (says, bad)


def each_config_is_accepted_as_its_pod_sees_it(_):
    # The files the pod's volumes show, written out; the config's paths
    # under each volume's mountPath pointed at them (no mount namespace
    # needed); ringmq check-config reads every file the config names
    # (certificates, password file, token) as the broker would at start.
    for name in OVERLAYS:
        _, objs = rendered(name)
        root = os.path.join(TMP, "pod-" + name)
        mounts = m.pod_files(objs, root)
        _, text, path = m.rendered_conf(objs, m.one(objs, "StatefulSet"))
        for mp in sorted(mounts, key=len, reverse=True):
            text = text.replace(mp.rstrip("/") + "/", mounts[mp] + "/")
            text = text.replace(" " + mp.rstrip("/") + "\n",
                                " " + mounts[mp] + "\n")
        conf = write(name + "-pod.conf", text)
        r = subprocess.run([BROKER_BINARY, "check-config", conf],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, (name, r.stdout, r.stderr)
        assert "configuration OK" in r.stdout + r.stderr, (name, r)
        if name == "prod":
            # the Secrets' files reached the pod, and a missing one is
            # named by check-config
            os.remove(os.path.join(mounts["/etc/ringmq"], "tls", "tls.key"))
            r = subprocess.run([BROKER_BINARY, "check-config", conf],
                               capture_output=True, text=True, timeout=60)
            assert r.returncode != 0, r
            assert "tls.key" in r.stderr, r.stderr


try:
    run([every_kustomization_renders_and_validates,
         the_components_render_with_an_overlay,
         the_prod_overlay_wants_its_secrets,
         a_broken_manifest_is_refused,
         the_objects_agree_with_each_other_and_the_config,
         a_disagreement_is_found,
         each_config_is_accepted_as_its_pod_sees_it], make_broker=None)
finally:
    shutil.rmtree(TMP, ignore_errors=True)
