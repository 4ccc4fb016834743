/** Providers a construct needs, added once per stack however many constructs ask. */
import { TerraformProvider, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { RandomProvider } from "@cdktf/provider-random/lib/provider";
import { TlsProvider } from "@cdktf/provider-tls/lib/provider";

function ensureProvider(scope: Construct, type: new (scope: Construct, id: string) => TerraformProvider, id: string): void {
  const stack = TerraformStack.of(scope);
  if (!stack.node.findAll().some((construct) => construct instanceof type)) new type(stack, id);
}

export function ensureRandomProvider(scope: Construct): void {
  ensureProvider(scope, RandomProvider, "random");
}

export function ensureTlsProvider(scope: Construct): void {
  ensureProvider(scope, TlsProvider, "tls");
}

/**
 * The oldest Terraform the stacks are written for: OCI Resource Manager runs 1.5.x only (research/oci.md), so no
 * language feature newer than 1.5 may appear (__tests__/terraform/terraform-floor.test.ts checks the list).
 */
export const TERRAFORM_REQUIRED_VERSION = ">= 1.5";

/** States the floor in the stack's `terraform.required_version`. */
export function requireTerraformFloor(scope: Construct): void {
  TerraformStack.of(scope).addOverride("terraform.required_version", TERRAFORM_REQUIRED_VERSION);
}

/**
 * How long the oracle/oci provider keeps retrying an operation that fails with a retriable error, set on its
 * provider block (`retryDurationSeconds`). An A1 launch that meets "Out of host capacity" (a 500) is retried for
 * about 10 minutes by default; 30 minutes carries an apply through the short shortages that free capacity sees,
 * at the price of a real 500 taking as long to be reported. Pass it to your own `OciProvider`.
 */
export const CAPACITY_RETRY_DURATION_SECONDS = 1800;
