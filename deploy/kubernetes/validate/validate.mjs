// Checks every document of the given YAML files against the Kubernetes API's schemas: types,
// required fields and formats, through kubernetes-models (validators generated from the Kubernetes
// OpenAPI definitions). It does not catch unknown (misspelt) fields: those schemas leave objects
// open, as the API server itself does unless asked for strict validation.
//
//   npm install --prefix deploy/kubernetes/validate
//   node deploy/kubernetes/validate/validate.mjs deploy/kubernetes/*.yaml
//
// Before the files, it checks that a broken Deployment (replicas as text, no selector) is refused,
// so a validator that accepts everything cannot pass.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const models = {
  "apps/v1 Deployment": (await import("kubernetes-models/apps/v1/Deployment")).Deployment,
  "v1 Service": (await import("kubernetes-models/v1/Service")).Service,
  "policy/v1 PodDisruptionBudget": (await import("kubernetes-models/policy/v1/PodDisruptionBudget")).PodDisruptionBudget,
};

function check(object) {
  const Model = models[`${object.apiVersion} ${object.kind}`];
  if (!Model) throw new Error(`no schema known here for ${object.apiVersion} ${object.kind}`);
  new Model(object).validate();
}

let failed = 0;
let passed = 0;
try {
  check({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "broken" }, spec: { replicas: "three", template: {} } });
  console.log("self-check: a broken Deployment was accepted: the validator checks nothing");
  failed++;
} catch {
  passed++;
}

for (const file of process.argv.slice(2)) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    const object = doc.errors.length ? null : doc.toJS();
    const name = `${file}: ${object?.kind} ${object?.metadata?.name}`;
    if (doc.errors.length) {
      console.log(`${file}: not YAML: ${doc.errors[0].message}`);
      failed++;
    } else if (object !== null) {
      try {
        check(object);
        console.log(`${name}: valid`);
        passed++;
      } catch (e) {
        console.log(`${name}: INVALID: ${e.message}`);
        failed++;
      }
    }
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
