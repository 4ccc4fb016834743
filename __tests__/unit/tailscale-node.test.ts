/**
 * lib/tailscale-node.ts on its own: node.json's `tailscale` section, the key file and the plan-time checks, with
 * the Terraform expressions they become written out (tags, the enabled switch and the key as Terraform values).
 */
import { DefaultTokenResolver, StringConcat, TerraformStack, TerraformVariable, Testing, Tokenization } from "cdktf";
import { tailscaleHostConfig } from "../../lib/tailscale-node";

const stack = new TerraformStack(Testing.app(), "tailscale-node");
const resolve = (value: unknown) => Tokenization.resolve(value, { scope: stack, preparing: false, resolver: new DefaultTokenResolver(new StringConcat()) });
const authKey = new TerraformVariable(stack, "key", { type: "string", sensitive: true }).stringValue;
const tagList = new TerraformVariable(stack, "tags", { type: "list(string)" }).listValue;
const enabled = new TerraformVariable(stack, "enabled", { type: "bool" }).booleanValue;

const KEY_SHAPE = 'not a Tailscale auth key; a Tailscale auth key starts with "tskey-" ("tskey-auth-…", or an OAuth client secret "tskey-client-…").';

test("defaults: on, no tags, no Tailscale SSH, Tailscale's installer, retries from 5 s to 60 s", () => {
  const host = tailscaleHostConfig({ authKey }, "worker-1");
  expect(host.config).toEqual({
    enabled: true,
    authKeyFile: "/etc/dokploy-oci/tailscale.key",
    hostname: "worker-1",
    tags: [],
    ssh: false,
    installerUrl: "https://tailscale.com/install.sh",
    retry: { delaySeconds: 5, maxDelaySeconds: 60 },
  });
  expect(host.keyFile.path).toBe("/etc/dokploy-oci/tailscale.key");
  expect(host.keyFile.permissions).toBe("0600");
  // An OAuth client secret without attributes gets the server attributes; the whole value stays sensitive.
  expect(resolve(host.keyFile.content)).toBe('${sensitive(can(regex("^tskey-client-[^?]*$", var.key)) ? join("", [var.key, "?ephemeral=false&preauthorized=true"]) : var.key)}');
});

test("given values reach the section", () => {
  const host = tailscaleHostConfig({ authKey, tags: ["tag:a"], ssh: true, installerUrl: "https://mirror.example.com/ts.sh", enabled: false }, "manager");
  expect(host.config).toMatchObject({ enabled: false, hostname: "manager", tags: ["tag:a"], ssh: true, installerUrl: "https://mirror.example.com/ts.sh" });
});

test("without tags, two checks: a key's shape, and no OAuth secret without tags", () => {
  const checks = tailscaleHostConfig({ authKey }, "worker-1").preconditions;
  expect(checks.map((check) => [resolve(check.condition), check.errorMessage])).toEqual([
    ['${can(regex("^tskey-", var.key))}', `tailscale.authKey: ${KEY_SHAPE}`],
    [
      '${!can(regex("^tskey-client-", var.key))}',
      'tailscale.authKey: an OAuth client secret (tskey-client-…) can only register tagged nodes; give tailscale.tags (e.g. ["tag:dokploy"]) that the OAuth client may assign.',
    ],
  ]);
});

test("with literal tags, only the shape; a Terraform list of tags is counted at plan time", () => {
  expect(tailscaleHostConfig({ authKey, tags: ["tag:a"] }, "m").preconditions.map((check) => resolve(check.condition))).toEqual(['${can(regex("^tskey-", var.key))}']);
  const checks = tailscaleHostConfig({ authKey, tags: tagList }, "m", "nodes.tailscale").preconditions;
  expect(checks.map((check) => resolve(check.condition))).toEqual(['${can(regex("^tskey-", var.key))}', '${((length(var.tags) >= 1) || !can(regex("^tskey-client-", var.key)))}']);
  expect(checks[1].errorMessage).toMatch(/^nodes\.tailscale\.authKey: an OAuth client secret .* give nodes\.tailscale\.tags /);
});

test("a node that may be off: every check holds when it is off", () => {
  const off = tailscaleHostConfig({ authKey, tags: ["tag:a"], enabled: false }, "m").preconditions;
  expect(off.map((check) => resolve(check.condition))).toEqual(['${(!false || can(regex("^tskey-", var.key)))}']);
  const switched = tailscaleHostConfig({ authKey, tags: ["tag:a"], enabled }, "m").preconditions;
  expect(switched.map((check) => [resolve(check.condition), check.errorMessage])).toEqual([['${(!var.enabled || can(regex("^tskey-", var.key)))}', `tailscale.authKey: ${KEY_SHAPE}`]]);
});

test("bad input names the prop given", () => {
  expect(() => tailscaleHostConfig({ authKey, tags: ["ops"] }, "m", "pool.tailscale")).toThrow(/^pool\.tailscale\.tags\[0\]: "ops" is not a Tailscale tag/);
  expect(() => tailscaleHostConfig({ authKey: "tskey-client-x" }, "m", "pool.tailscale")).toThrow(/^pool\.tailscale\.authKey: an OAuth client secret .* give pool\.tailscale\.tags /);
  expect(() => tailscaleHostConfig({ authKey }, "-m", "pool.tailscale")).toThrow(/^pool\.tailscale hostname: "-m" is not a valid tailnet hostname/);
  expect(() => tailscaleHostConfig({ authKey, installerUrl: "http://x.example.com/i.sh" }, "m", "pool.tailscale")).toThrow(/^pool\.tailscale\.installerUrl: /);
  // A Terraform list of tags is allowed here (the ORM form gives one).
  expect(() => tailscaleHostConfig({ authKey, tags: tagList }, "m")).not.toThrow();
});
