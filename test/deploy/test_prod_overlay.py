"""test/deploy/test_prod_overlay.py: the production overlay's pods, run.

deploy/kubernetes/overlays/prod rendered with Secrets' files made as its
secrets/README.md says; the files its pods' projected volume shows
written out and bound at /etc/ringmq in each pod of the StatefulSet
stand-in, which runs the container's command on them.  Three pods must
become ready (their cluster links TLS, each node's certificate checked
against the cluster's CA and name); then, from a namespace of the
stand-in's network: a client with a password over TLS on one pod
receives what another publishes over TLS on another (across the nodes'
TLS links), and one over secure WebSocket (/mqtt) does too; a client
without a password is refused, plain MQTT on 1883 is not served; the
admin API answers with the token and refuses without it.

Root (namespaces), dnsmasq, mosquitto clients, python3-paho-mqtt
(scripts/deps --test).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import manifests as m  # noqa: E402
from rmqtest import BROKER_BINARY, run  # noqa: E402

standin = m.standin_or_skip()

NET = 100 + os.getpid() % 50  # a subnet no other test of the suite uses
TMP = tempfile.mkdtemp(prefix="rmq-prod-")
PROD, SECRETS = m.overlay_with_secrets(TMP, BROKER_BINARY)
CA = os.path.join(SECRETS, "cluster-ca.crt")  # signed the clients' one too
S = None
NS = None


def fqdn(i):
    return "ringmq-%d.ringmq-headless.ringmq.svc.cluster.local" % i


def in_ns(*cmd, timeout=30, **kw):
    return subprocess.run(["ip", "netns", "exec", NS, *cmd],
                          capture_output=True, text=True, timeout=timeout,
                          **kw)


def the_prod_pods_form_a_cluster(_):
    global S, NS
    rc, out, err = m.kustomize(PROD)
    assert rc == 0, err
    objs = m.objects(out)
    sts = m.one(objs, "StatefulSet")
    _, _, conf = m.rendered_conf(objs, sts)
    mounts = m.pod_files(objs, os.path.join(TMP, "pod"))
    etc = mounts[standin.ETC_AT]
    assert os.path.exists(os.path.join(etc, "tls", "tls.crt"))
    S = standin.StatefulSet(os.path.join(TMP, "standin"), NET,
                            BROKER_BINARY, config=conf, etc=etc, grace=10)
    S.up(3)
    NS, _ = S.client(0)
    for i in range(3):
        with open(os.path.join(S.state, "%s.log" % S.pod(i))) as f:
            log = f.read()
        assert "tls+tcp://" in log, log[-3000:]
        assert "listening on 0.0.0.0:8883" in log, log[-3000:]


def clients_with_passwords_over_tls_across_nodes(_):
    tls = ["--cafile", CA, "-p", "8883", "-u", "alice", "-P", "wonderland",
           "-V", "mqttv5"]
    sub = subprocess.Popen(
        ["ip", "netns", "exec", NS, "mosquitto_sub", "-h", fqdn(1), *tls,
         "-t", "prod/#", "-q", "1", "-C", "2", "-W", "30", "-v"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # the secure WebSocket client (paho over wss, path /mqtt) on pod 2
    wss = subprocess.Popen(
        ["ip", "netns", "exec", NS, "/usr/bin/python3", "-c", WSS_CLIENT,
         fqdn(2), CA], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        line = wss.stdout.readline().strip()
        if line != "subscribed":
            wss.kill()
            raise AssertionError("the WebSocket client: %r %s" % (
                line, wss.stderr.read()))
        time.sleep(1)  # the routes of pod 1's subscription reach pod 0
        for n in (1, 2):
            r = in_ns("mosquitto_pub", "-h", fqdn(0), *tls, "-q", "1",
                      "-t", "prod/%d" % n, "-m", "over tls %d" % n)
            assert r.returncode == 0, r
        out, err = sub.communicate(timeout=40)
        assert out.split("\n")[:2] == ["prod/1 over tls 1",
                                       "prod/2 over tls 2"], (out, err)
        got = wss.communicate(timeout=40)
        assert got[0].split("\n")[:2] == ["prod/1 over tls 1",
                                          "prod/2 over tls 2"], got
    finally:
        for p in (sub, wss):
            if p.poll() is None:
                p.kill()
                p.wait()


WSS_CLIENT = r'''
import ssl, sys, paho.mqtt.client as paho
host, ca = sys.argv[1], sys.argv[2]
got = []
c = paho.Client(client_id="prod-wss", transport="websockets",
                protocol=paho.MQTTv5)
c.ws_set_options(path="/mqtt")
c.tls_set(ca_certs=ca)
c.username_pw_set("alice", "wonderland")
def on_connect(c, u, f, rc, p=None):
    c.subscribe("prod/#", qos=1)
def on_subscribe(c, u, mid, rcs, p=None):
    print("subscribed", flush=True)
def on_message(c, u, msg):
    got.append("%s %s" % (msg.topic, msg.payload.decode()))
    print(got[-1], flush=True)
    if len(got) == 2:
        c.disconnect()
c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, \
    on_message
c.connect(host, 8084, keepalive=30)
c.loop_forever(timeout=1.0)
'''


def anonymous_and_plain_mqtt_are_refused(_):
    r = in_ns("mosquitto_pub", "-h", fqdn(0), "--cafile", CA, "-p", "8883",
              "-t", "prod/x", "-m", "x", "-V", "mqttv311")
    assert r.returncode != 0 and "not authori" in r.stderr.lower(), r
    r = in_ns("mosquitto_pub", "-h", fqdn(0), "-u", "alice", "-P",
              "wonderland", "--cafile", CA, "-p", "8883", "-t", "prod/x",
              "-m", "x")
    assert r.returncode == 0, r
    r = in_ns("mosquitto_pub", "-h", fqdn(0), "-p", "1883", "-t", "prod/x",
              "-m", "x")
    assert r.returncode != 0 and "refused" in r.stderr.lower(), r


def the_admin_api_wants_its_token(_):
    token = os.path.join(SECRETS, "admin-token")
    admin = "%s:8080" % S.addr(0)
    r = in_ns(BROKER_BINARY, "ctl", "--admin", admin, "--token-file", token,
              "cluster", "status")
    assert r.returncode == 0, r
    status = json.loads(r.stdout)
    up = sorted(p["name"] for p in status["peers"] if p["state"] == "up")
    assert up == ["ringmq-1", "ringmq-2"], status
    r = in_ns(BROKER_BINARY, "ctl", "--admin", admin, "cluster", "status")
    assert r.returncode == 1, r
    r = in_ns(BROKER_BINARY, "ctl", "--admin", admin, "health")
    assert r.returncode == 0 and r.stdout == "ok\n", r


try:
    run([the_prod_pods_form_a_cluster,
         clients_with_passwords_over_tls_across_nodes,
         anonymous_and_plain_mqtt_are_refused,
         the_admin_api_wants_its_token], make_broker=None)
finally:
    if S is not None:
        S.down(purge=True)
    shutil.rmtree(TMP, ignore_errors=True)
