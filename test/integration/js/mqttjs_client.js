#!/usr/bin/env node
/* test/integration/js/mqttjs_client.js: MQTT.js under node over ws:// or
 * wss://, for 15_websocket.py.  One argument, JSON:
 *   {"url": "wss://127.0.0.1:PORT/mqtt", "ca": "/path/ca.pem" (wss),
 *    "protocolVersion": 3|4|5, "topic": "...", "clientId": "...",
 *    "external": true|false, "timeoutMs": 10000}
 * runs exchange.js and prints its result as one line of JSON; exits 0
 * when the exchange completed, 1 when it did not, 2 on a bad argument.
 * The whole run is bounded: a second timer, past the exchange's own,
 * ends the process whatever is still open. */
'use strict';
const fs = require('fs');
const mqtt = require('mqtt');
const exchange = require('./exchange.js');

let opts;
try {
	opts = JSON.parse(process.argv[2]);
	if (!opts.url || !opts.topic)
		throw new Error('url and topic are required');
} catch (err) {
	console.log(JSON.stringify({ ok: false, error: 'bad argument: ' + err.message }));
	process.exit(2);
}
if (opts.ca)
	opts.ca = fs.readFileSync(opts.ca);
const timeoutMs = opts.timeoutMs || 10000;
setTimeout(() => {
	console.log(JSON.stringify({ ok: false, error: 'process timed out' }));
	process.exit(1);
}, timeoutMs + 5000).unref();
exchange(mqtt, opts).then((result) => {
	result.mqttjs = require('mqtt/package.json').version;
	console.log(JSON.stringify(result));
	process.exit(result.ok ? 0 : 1);
});
