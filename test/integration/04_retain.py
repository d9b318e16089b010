"""04: retained messages: stored, replaced, deleted by an empty payload,
sent on subscribe with the retain flag, Retain Handling and Retain As
Published, message expiry."""
import time

from rmqtest import Client, paho, props, run
from paho.mqtt.subscribeoptions import SubscribeOptions


def stored_and_sent_on_subscribe(b):
    p = Client(b, "ret-p")
    p.publish("r/a", b"first", qos=1, retain=True)
    p.publish("r/a", b"second", qos=1, retain=True)  # replaces
    p.publish("r/b", b"other", qos=1, retain=True)
    s = Client(b, "ret-s")
    s.subscribe("r/#", 1)
    got = sorted((m.topic, m.payload, m.retain) for m in s.wait_msgs(2))
    assert got == [("r/a", b"second", 1), ("r/b", b"other", 1)], got
    # [MQTT-3.3.1-9]: a live message to an existing subscription: retain 0.
    p.publish("r/a", b"live", qos=1, retain=True)
    m = s.wait_msgs(3)[2]
    assert m.payload == b"live" and m.retain == 0
    s.close()
    p.close()


def deleted_by_empty_payload(b):
    # [MQTT-3.3.1-6], [MQTT-3.3.1-7]
    p = Client(b, "del-p")
    p.publish("d/a", b"x", qos=1, retain=True)
    p.publish("d/a", b"", qos=1, retain=True)
    s = Client(b, "del-s")
    s.subscribe("d/#", 1)
    assert s.quiet(0.3) == []
    s.close()
    p.close()


def retain_handling(b):
    p = Client(b, "rh-p")
    p.publish("rh/t", b"kept", qos=1, retain=True)
    s = Client(b, "rh-s", version=paho.MQTTv5)
    s.subscribe("rh/t", options=SubscribeOptions(qos=1, retainHandling=2))
    assert s.quiet(0.3) == []  # 2: never
    s2 = Client(b, "rh-s2", version=paho.MQTTv5)
    s2.subscribe("rh/t", options=SubscribeOptions(qos=1, retainHandling=1))
    assert len(s2.wait_msgs(1)) == 1  # 1: on a new subscription...
    s2.subscribe("rh/t", options=SubscribeOptions(qos=1, retainHandling=1))
    assert len(s2.quiet(0.3)) == 1  # ...not when it already existed
    for c in (p, s, s2):
        c.close()


def retain_as_published(b):
    s = Client(b, "rap", version=paho.MQTTv5)
    s.subscribe("rap/t", options=SubscribeOptions(qos=1,
                                                  retainAsPublished=True))
    p = Client(b, "rap-p")
    p.publish("rap/t", b"x", qos=1, retain=True)
    assert s.wait_msgs(1)[0].retain == 1
    s.close()
    p.close()


def retained_message_expires(b):
    # 3.3.2.3.3: a retained message past its expiry is not sent.
    p = Client(b, "exp-p", version=paho.MQTTv5)
    p.publish("e/t", b"short", qos=1, retain=True,
              properties=props("PUBLISH", MessageExpiryInterval=1))
    time.sleep(2.2)
    s = Client(b, "exp-s")
    s.subscribe("e/t", 1)
    assert s.quiet(0.3) == []
    s.close()
    p.close()


run([stored_and_sent_on_subscribe, deleted_by_empty_payload,
     retain_handling, retain_as_published, retained_message_expires])
