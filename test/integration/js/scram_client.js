#!/usr/bin/env node
/* test/integration/js/scram_client.js: MQTT.js under node logging in with
 * MQTT 5.0 enhanced authentication, SCRAM-SHA-256 (RFC 5802, RFC 7677)
 * computed here with node's crypto, for 14_auth.py.  One argument, JSON:
 *   {"url": "mqtt://127.0.0.1:PORT", "user": "...", "password": "...",
 *    "topic": "...", "reauthPassword": "..." (optional: re-authenticate
 *    once connected, with this password), "timeoutMs": 10000}
 * Prints one line of JSON: {ok, connack: reason, serverVerified,
 * reauth: "ok" | reason | null, received, error} and exits 0 when the
 * whole run went as asked, 1 otherwise, 2 on a bad argument. */
'use strict';
const crypto = require('crypto');
const mqtt = require('mqtt');

let o;
try {
	o = JSON.parse(process.argv[2]);
	if (!o.url || !o.user || o.password === undefined || !o.topic)
		throw new Error('url, user, password and topic are required');
} catch (err) {
	console.log(JSON.stringify({ ok: false, error: 'bad argument: ' + err.message }));
	process.exit(2);
}
const METHOD = 'SCRAM-SHA-256';
const result = { ok: false, connack: null, serverVerified: false, reauth: null, received: 0 };
const finish = (ok, error) => {
	result.ok = ok;
	if (error)
		result.error = error;
	console.log(JSON.stringify(result));
	process.exit(ok ? 0 : 1);
};
setTimeout(() => finish(false, 'timed out'), o.timeoutMs || 10000).unref();

const hmac = (key, text) => crypto.createHmac('sha256', key).update(text).digest();

/* One SCRAM exchange: first() the client-first, final(serverFirst) the
 * client-final, verify(serverFinal) whether the server knew the keys. */
function scram(user, password) {
	const cnonce = crypto.randomBytes(18).toString('base64');
	const bare = 'n=' + user.replace(/=/g, '=3D').replace(/,/g, '=2C') + ',r=' + cnonce;
	let serverSig = null;
	return {
		first: () => Buffer.from('n,,' + bare),
		final: (sf) => {
			const s = sf.toString();
			const attrs = Object.fromEntries(s.split(',').map((a) => [a[0], a.slice(2)]));
			if (!attrs.r || !attrs.r.startsWith(cnonce))
				throw new Error('server nonce does not extend ours');
			const salted = crypto.pbkdf2Sync(password, Buffer.from(attrs.s, 'base64'),
				parseInt(attrs.i, 10), 32, 'sha256');
			const clientKey = hmac(salted, 'Client Key');
			const storedKey = crypto.createHash('sha256').update(clientKey).digest();
			const without = 'c=biws,r=' + attrs.r;
			const authMessage = bare + ',' + s + ',' + without;
			const sig = hmac(storedKey, authMessage);
			const proof = Buffer.from(clientKey.map((b, i) => b ^ sig[i]));
			serverSig = hmac(hmac(salted, 'Server Key'), authMessage).toString('base64');
			return Buffer.from(without + ',p=' + proof.toString('base64'));
		},
		verify: (sfinal) => sfinal !== undefined && sfinal.toString() === 'v=' + serverSig,
	};
}

let ex = scram(o.user, o.password);
const client = mqtt.connect(o.url, {
	protocolVersion: 5,
	clientId: 'scram-' + process.pid,
	reconnectPeriod: 0,
	connectTimeout: 5000,
	properties: { authenticationMethod: METHOD, authenticationData: ex.first() },
});
let reauthing = false;
client.handleAuth = (packet, cb) => {
	const data = packet.properties && packet.properties.authenticationData;
	try {
		if (packet.reasonCode === 24) {
			cb(null, { cmd: 'auth', reasonCode: 24, properties: {
				authenticationMethod: METHOD, authenticationData: ex.final(data) } });
			return;
		}
		if (packet.reasonCode === 0 && reauthing) {
			reauthing = false;
			result.reauth = ex.verify(data) ? 'ok' : 'server not verified';
			client.publish(o.topic, 'after', { qos: 1 });
		}
		cb();
	} catch (err) {
		cb(err);
	}
};
client.on('connect', (connack) => {
	result.connack = connack.reasonCode || 0;
	result.serverVerified = ex.verify(connack.properties && connack.properties.authenticationData);
	client.subscribe(o.topic, { qos: 1 }, (err) => {
		if (err)
			return finish(false, 'subscribe: ' + err.message);
		client.publish(o.topic, 'before', { qos: 1 });
	});
});
client.on('message', () => {
	result.received++;
	if (result.received === 1 && o.reauthPassword !== undefined) {
		/* MQTT.js has no call for it: the AUTH 0x19 goes through its
		 * own packet writer. */
		ex = scram(o.user, o.reauthPassword);
		reauthing = true;
		client._sendPacket({ cmd: 'auth', reasonCode: 25, properties: {
			authenticationMethod: METHOD, authenticationData: ex.first() } });
		return;
	}
	const want = o.reauthPassword !== undefined ? 2 : 1;
	if (result.received === want)
		finish(result.serverVerified && (want === 1 || result.reauth === 'ok'));
});
client.on('disconnect', (packet) => {
	result.reauth = packet.reasonCode;
	finish(false, 'DISCONNECT 0x' + packet.reasonCode.toString(16));
});
client.on('error', (err) => {
	if (err.code !== undefined && result.connack === null)
		result.connack = err.code;
	finish(false, err.message);
});
