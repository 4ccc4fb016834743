/**
 * lib/providers.ts: the tls provider added once however many constructs ask, and the Terraform version floor.
 * Expected values are written out.
 */
import { TerraformStack, Testing } from "cdktf";
import { ensureTlsProvider, requireTerraformFloor } from "../../lib/providers";

test("ensureTlsProvider: one tls provider, with its id, for two callers", () => {
  const stack = new TerraformStack(Testing.app(), "providers");
  ensureTlsProvider(stack);
  ensureTlsProvider(stack);
  expect(stack.node.tryFindChild("tls")).toBeDefined();
  expect(JSON.parse(Testing.synth(stack)).provider.tls).toHaveLength(1);
});

test("requireTerraformFloor: terraform.required_version >= 1.5", () => {
  const stack = new TerraformStack(Testing.app(), "floor");
  requireTerraformFloor(stack);
  expect(JSON.parse(Testing.synth(stack)).terraform.required_version).toBe(">= 1.5");
});
