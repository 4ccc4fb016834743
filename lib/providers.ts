/** Providers a construct needs, added once per stack however many constructs ask. */
import { TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { RandomProvider } from "@cdktf/provider-random/lib/provider";

export function ensureRandomProvider(scope: Construct): void {
  const stack = TerraformStack.of(scope);
  const present = stack.node.findAll().some((construct) => construct instanceof RandomProvider);
  if (!present) new RandomProvider(stack, "random");
}
