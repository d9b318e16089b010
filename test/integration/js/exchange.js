/* test/integration/js/exchange.js: the exchange an MQTT.js client has with
 * the broker in 15_websocket.py, the same under node (mqttjs_client.js)
 * and in Chromium (page.html loads it after MQTT.js's browser bundle).
 *
 * Connect (clean, no reconnection), subscribe to TOPIC/# at QoS 2, publish
 * one message at each QoS to TOPIC/echo/qN and wait for the three to come
 * back; then, when `external` is set, publish TOPIC/ready (QoS 1) and wait
 * for TOPIC/in, which the test's own client (paho over plain TCP)
 * publishes when it sees `ready`: the messages cross transports both
 * ways.  Resolves to a result object, never rejects; `ok` says whether
 * all of it happened within `timeoutMs`. */
(function (root) {
	'use strict';

	function decode(payload) {
		return new TextDecoder().decode(payload);
	}

	function exchange(mqtt, opts) {
		const topic = opts.topic;
		const timeoutMs = opts.timeoutMs || 10000;
		const result = {
			ok: false,
			url: opts.url,
			protocolVersion: opts.protocolVersion,
			connack: null,
			granted: null,
			published: [],
			received: [],
			error: null,
		};
		return new Promise((resolve) => {
			let client = null;
			let done = false;
			const finish = (err) => {
				if (done)
					return;
				done = true;
				clearTimeout(timer);
				if (err)
					result.error = String(err && err.message ? err.message : err);
				else
					result.ok = true;
				if (client)
					client.end(true);
				resolve(result);
			};
			const timer = setTimeout(() => finish('timed out after ' + timeoutMs +
			    ' ms; received ' + JSON.stringify(result.received)), timeoutMs);
			const v3 = opts.protocolVersion === 3;
			const options = {
				protocolVersion: opts.protocolVersion,
				// MQTT 3.1's protocol name; MQTT.js offers the
				// WebSocket subprotocol "mqttv3.1" for it, "mqtt"
				// otherwise [MQTT-6.0.0-3].
				protocolId: v3 ? 'MQIsdp' : 'MQTT',
				clientId: opts.clientId,
				clean: true,
				keepalive: 30,
				reconnectPeriod: 0,
				connectTimeout: Math.min(timeoutMs, 8000),
			};
			if (opts.ca) {
				// node only: the test CA, and a certificate that fails
				// to verify is an error, not a warning.
				options.ca = opts.ca;
				options.rejectUnauthorized = true;
			}
			const want = ['q0', 'q1', 'q2'].map((q) => topic + '/echo/' + q);
			const has = (t) => result.received.some((m) => m.topic === t);
			let readySent = false;
			const check = () => {
				if (!want.every(has))
					return;
				if (!opts.external)
					return finish();
				if (!readySent) {
					readySent = true;
					client.publish(topic + '/ready', 'ready', { qos: 1 },
					    (err) => { if (err) finish(err); });
				}
				if (has(topic + '/in'))
					finish();
			};
			try {
				client = mqtt.connect(opts.url, options);
			} catch (err) {
				return finish(err);
			}
			client.on('error', (err) => finish(err));
			client.on('close', () => finish('connection closed before the ' +
			    'exchange ended (connack ' + JSON.stringify(result.connack) + ')'));
			client.on('message', (t, payload, packet) => {
				result.received.push({ topic: t, payload: decode(payload),
				    qos: packet.qos });
				check();
			});
			client.on('connect', (connack) => {
				result.connack = { sessionPresent: connack.sessionPresent,
				    code: connack.returnCode !== undefined ?
				    connack.returnCode : connack.reasonCode };
				client.subscribe(topic + '/#', { qos: 2 }, (err, granted) => {
					if (err)
						return finish(err);
					result.granted = granted.map((g) => g.qos);
					[0, 1, 2].forEach((qos) => {
						const payload = 'mqttjs-q' + qos + '-v' +
						    opts.protocolVersion;
						client.publish(topic + '/echo/q' + qos, payload,
						    { qos: qos }, (perr) => {
							if (perr)
								return finish(perr);
							result.published.push(qos);
							check();
						});
					});
				});
			});
		});
	}

	if (typeof module !== 'undefined' && module.exports)
		module.exports = exchange;
	else
		root.rmqExchange = exchange;
})(typeof self !== 'undefined' ? self : this);
