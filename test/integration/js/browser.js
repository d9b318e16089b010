#!/usr/bin/env node
/* test/integration/js/browser.js: Debian's Chromium, headless, driven by
 * playwright-core, runs page.html (MQTT.js's browser bundle) once per case,
 * for 15_websocket.py.  One argument, JSON:
 *   {"spki": "BASE64" (the pinned server key, or null),
 *    "cases": [{exchange.js options}, ...], "timeoutMs": 10000,
 *    "screenshot": "/path.png" (optional, of the last page)}
 * prints [{result of each case}] as one line of JSON; exits 0 when every
 * case produced a result (passed or not: the test judges), 1 otherwise.
 *
 * TLS is checked for real: no ignoreHTTPSErrors.  The test's certificate
 * is accepted only because its public key is pinned with
 * --ignore-certificate-errors-spki-list (honoured with a user data
 * directory, which playwright makes for each launch); any other
 * certificate fails the connection. */
'use strict';
const path = require('path');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.RMQTEST_CHROMIUM || '/usr/bin/chromium';

async function main(opts) {
	const timeoutMs = opts.timeoutMs || 10000;
	const args = [
		// The flags a closed network needs (no calls home at each
		// start), and no GPU.
		'--disable-gpu', '--disable-quic', '--no-first-run',
		'--disable-background-networking', '--disable-component-update',
		'--disable-sync', '--disable-default-apps',
	];
	if (opts.spki)
		args.push('--ignore-certificate-errors-spki-list=' + opts.spki);
	const browser = await chromium.launch({
		executablePath: CHROMIUM, headless: true, args: args,
		timeout: 30000,
	});
	const results = [];
	try {
		for (const c of opts.cases) {
			const context = await browser.newContext();
			const page = await context.newPage();
			const console_ = [];
			page.on('console', (m) => console_.push(m.type() + ': ' + m.text()));
			page.on('pageerror', (e) => console_.push('pageerror: ' + e.message));
			const url = 'file://' + path.join(__dirname, 'page.html') + '#' +
			    encodeURIComponent(JSON.stringify(Object.assign(
			    { timeoutMs: timeoutMs }, c)));
			await page.goto(url, { timeout: timeoutMs });
			let result;
			try {
				await page.waitForFunction(() => window.rmqResult !== undefined,
				    null, { timeout: timeoutMs + 5000 });
				result = await page.evaluate(() => window.rmqResult);
			} catch (err) {
				result = { ok: false, error: 'no result from the page: ' +
				    err.message };
			}
			result.console = console_;
			result.userAgent = await page.evaluate(() => navigator.userAgent);
			if (opts.screenshot)
				await page.screenshot({ path: opts.screenshot });
			results.push(result);
			await context.close();
		}
	} finally {
		await browser.close();
	}
	return results;
}

let opts;
try {
	opts = JSON.parse(process.argv[2]);
} catch (err) {
	console.log(JSON.stringify({ error: 'bad argument: ' + err.message }));
	process.exit(2);
}
const bound = (opts.timeoutMs || 10000) * (opts.cases.length + 1) + 30000;
setTimeout(() => {
	console.log(JSON.stringify({ error: 'process timed out' }));
	process.exit(1);
}, bound).unref();
main(opts).then((results) => {
	console.log(JSON.stringify(results));
	process.exit(0);
}, (err) => {
	console.log(JSON.stringify({ error: String(err && err.stack || err) }));
	process.exit(1);
});
