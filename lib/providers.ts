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
