/**
 * main.ts's own stack with the ORM form's Tailscale key left empty: Tailscale is off on every node and in the
 * outputs, as the real terraform evaluates them. A file of its own: the manager's user_data estimate
 * (lib/cloud-init.ts) stands in sample text made from each Terraform value's token text, so it grows by a few bytes
 * with every stack built earlier in the same process, and the ORM stack's manager is within a few bytes of the
 * budget (issue 26 frees room).
 */
import { DefaultTokenResolver, StringConcat, Testing, Tokenization } from "cdktf";
import { buildApp } from "../../main";
import { applyAndReadOutputs } from "../helpers/terraform";

test("an empty Tailscale key turns Tailscale off on every node and in the outputs; a key turns it on", () => {
  // main.ts's own stack: the nodes' `tailscale.enabled` and the tailnet URL output, as terraform evaluates them.
  const { stack } = buildApp(undefined, []);
  const synthesized = JSON.parse(Testing.synth(stack));
  const nodes = [stack.cluster.manager.cloudConfig, ...stack.cluster.workerPools.map((pool) => pool.cloudConfig)];
  const resolve = (value: unknown) => Tokenization.resolve(value, { scope: stack, preparing: false, resolver: new DefaultTokenResolver(new StringConcat()) });
  const output: Record<string, { value: unknown }> = { tailnet_url: { value: synthesized.output.dokploy_tailnet_url.value } };
  nodes.forEach((node, index) => (output[`enabled_${index}`] = { value: resolve(node.nodeConfig().tailscale.enabled) }));
  const config = { variable: { tailscale_auth_key: synthesized.variable.tailscale_auth_key }, output };
  const values = (key: string) => Object.fromEntries(Object.entries(applyAndReadOutputs(config, { tailscale_auth_key: key })).map(([name, out]) => [name, out.value]));

  const enabled = (value: boolean) => Object.fromEntries(nodes.map((_, index) => [`enabled_${index}`, value]));
  expect(nodes.length).toBeGreaterThanOrEqual(2);
  expect(values("")).toEqual({ ...enabled(false), tailnet_url: "Tailscale is not configured" });
  expect(values("tskey-auth-abc123")).toEqual({ ...enabled(true), tailnet_url: expect.stringMatching(/^http:\/\/[a-z0-9-]+-manager:3000$/) });
});

