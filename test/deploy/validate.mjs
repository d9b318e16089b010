// test/deploy/validate.mjs: checks Kubernetes manifests offline, as an API
// server would take them.
//
//   node validate.mjs RENDERED.yaml...
//
// Every document of every file (a kustomize build's output, say) is checked
// twice against the API of Kubernetes 1.34 (kubernetes-models 5.1) and of the
// Prometheus Operator (its ServiceMonitor):
//  1. the schema: types, formats, required fields (the models' validate()),
//  2. the field names: each document becomes a typed object literal in a
//     TypeScript file and tsc checks it, so a misspelt or misplaced field
//     (which the schemas let through, and an API server refuses or drops)
//     is an error, as kubeconform -strict makes it.
// A document of a kind it does not know is an error too.  It prints one
// line per document checked and every error with the document it is in,
// and exits 1 if any.
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnSync } from "node:child_process";
import { parseAllDocuments } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));

// apiVersion -> the module that models it
const modules = {
  "v1": "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "batch/v1": "kubernetes-models/batch/v1",
  "policy/v1": "kubernetes-models/policy/v1",
  "monitoring.coreos.com/v1":
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
};

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node validate.mjs RENDERED.yaml...");
  process.exit(2);
}

const docs = [];
let errors = 0;
const fail = (where, msg) => {
  console.log(`error: ${where}: ${msg}`);
  errors++;
};

for (const file of files) {
  const text = readFileSync(file, "utf8");
  parseAllDocuments(text).forEach((d, i) => {
    const where = `${file} document ${i + 1}`;
    if (d.errors.length > 0) {
      fail(where, `not YAML: ${d.errors[0].message}`);
      return;
    }
    const obj = d.toJS();
    if (obj === null || obj === undefined) return; // an empty document
    // base64 in a Secret's data may be wrapped (kustomize wraps it at 76
    // columns); the API server's decoder skips the line breaks, and so
    // does this check.
    if (obj.kind === "Secret" && obj.data !== null &&
        typeof obj.data === "object") {
      for (const k of Object.keys(obj.data)) {
        if (typeof obj.data[k] === "string") {
          obj.data[k] = obj.data[k].replace(/[\r\n]/g, "");
        }
      }
    }
    const name = obj?.metadata?.name ?? "(no name)";
    docs.push({ where: `${where} (${obj.kind} ${name})`, obj });
  });
}

// 1. the schemas
for (const { where, obj } of docs) {
  const mod = modules[obj.apiVersion];
  if (mod === undefined) {
    fail(where, `apiVersion ${obj.apiVersion} is not one this check knows`);
    continue;
  }
  const models = await import(mod);
  const Model = models[obj.kind];
  if (typeof Model !== "function") {
    fail(where, `no kind ${obj.kind} in ${obj.apiVersion}`);
    continue;
  }
  try {
    new Model(obj).validate();
  } catch (e) {
    fail(where, e.message);
  }
}

// 2. the field names: excess property checks of object literals
const lines = [];
const names = [];
docs.forEach(({ obj }, i) => {
  const mod = modules[obj.apiVersion];
  if (mod === undefined || !/^[A-Za-z]+$/.test(obj.kind ?? "")) return;
  lines.push(`import type { I${obj.kind} as T${i} } from "${mod}";`);
  names.push(i);
});
for (const i of names) {
  lines.push(`export const d${i}: T${i} = ${JSON.stringify(docs[i].obj, null, 1)};`);
}
const dir = mkdtempSync(join(here, ".check-"));
try {
  const ts = join(dir, "manifests.ts");
  writeFileSync(ts, lines.join("\n") + "\n");
  // where each document starts, to name it in tsc's errors
  const starts = [];
  let n = 1;
  for (const l of lines) {
    const m = /^export const d(\d+):/.exec(l);
    if (m) starts.push([n, Number(m[1])]);
    n += l.split("\n").length;
  }
  const tsc = spawnSync(process.execPath, [
    join(here, "node_modules", "typescript", "bin", "tsc"),
    "--noEmit", "--strict", "--skipLibCheck", "--target", "es2022",
    "--module", "nodenext", "--moduleResolution", "nodenext", ts,
  ], { encoding: "utf8", cwd: here });
  for (const l of (tsc.stdout + tsc.stderr).split("\n")) {
    const m = /manifests\.ts\((\d+),\d+\): error (TS\d+): (.*)$/.exec(l);
    if (m) {
      const line = Number(m[1]);
      let doc = null;
      for (const [s, i] of starts) if (s <= line) doc = i;
      fail(doc === null ? "imports" : docs[doc].where, `${m[3]} (${m[2]})`);
    } else if (/error/.test(l)) {
      fail("tsc", l);
    }
  }
  if (tsc.status !== 0 && errors === 0) fail("tsc", `exit ${tsc.status}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

for (const { where } of docs) console.log(`checked: ${where}`);
console.log(`${docs.length} documents, ${errors} errors`);
process.exit(errors > 0 ? 1 : 0);
