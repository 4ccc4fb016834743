/**
 * lib/worker-identity.ts: the workers tag's value, literal and as a Terraform expression, OCI's 256-character limit at
 * its edge (each pool counts its name, ":" and three digits, plus one "," between pools), and a worker's credential.
 * Expected values are written out, not computed.
 */
import { DefaultTokenResolver, StringConcat, TerraformStack, TerraformVariable, Testing, Tokenization } from "cdktf";
import { workerCredential, workersTagValue } from "../../lib/worker-identity";

const stack = new TerraformStack(Testing.app(), "worker-identity");
const resolve = (value: unknown) => Tokenization.resolve(value, { scope: stack, preparing: false, resolver: new DefaultTokenResolver(new StringConcat()) });

test("known counts: name:count pairs joined by commas; no pools, an empty tag", () => {
  expect(workersTagValue([{ namePrefix: "worker", count: 3 }, { namePrefix: "gpu", count: 1 }])).toBe("worker:3,gpu:1");
  expect(workersTagValue([])).toBe("");
});

// cdktf writes Fn.format's list as format's own arguments.
test("a count Terraform knows: the tag is a Terraform expression", () => {
  const count = new TerraformVariable(stack, "worker_count", { type: "number" }).numberValue;
  expect(resolve(workersTagValue([{ namePrefix: "worker", count }, { namePrefix: "gpu", count: 1 }]))).toBe(
    '${join(",", [format("%s:%d", "worker", var.worker_count), format("%s:%d", "gpu", 1)])}',
  );
});

test("one pool: a 252-character name fits (252 + 4 = 256), 253 do not", () => {
  expect(workersTagValue([{ namePrefix: "a".repeat(252), count: 1 }])).toBe(`${"a".repeat(252)}:1`);
  expect(() => workersTagValue([{ namePrefix: "a".repeat(253), count: 1 }])).toThrow(
    `addWorkerPool: 1 worker pools (${"a".repeat(253)}) do not fit the manager's dokploy-oci-workers tag (256 characters); use fewer pools or shorter namePrefix values`,
  );
});

test("two pools: names of 200 and 47 fit (204 + 51 + 1 = 256), 200 and 48 do not", () => {
  expect(() => workersTagValue([{ namePrefix: "a".repeat(200), count: 1 }, { namePrefix: "b".repeat(47), count: 1 }])).not.toThrow();
  expect(() => workersTagValue([{ namePrefix: "a".repeat(200), count: 1 }, { namePrefix: "b".repeat(48), count: 1 }])).toThrow(
    `addWorkerPool: 2 worker pools (${"a".repeat(200)}, ${"b".repeat(48)}) do not fit`,
  );
});

test("a worker's credential: sha256 of '<secret>:<name>', computed by Terraform", () => {
  const secret = new TerraformVariable(stack, "secret", { type: "string", sensitive: true }).stringValue;
  expect(resolve(workerCredential(secret, "worker-2"))).toBe('${sha256(format("%s:%s", var.secret, "worker-2"))}');
});
