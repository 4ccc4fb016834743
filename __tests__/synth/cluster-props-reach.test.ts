/**
 * Issue 15's two bugs, as a user meets them: a value given to DokployCluster must reach the resource it configures,
 * and a plan-time budget check must not remove the pool's other plan-time checks.
 */
import { TerraformStack, TerraformVariable, Testing } from "cdktf";
import { DokployCluster } from "../../constructs/oci/dokploy-cluster";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ8w0XqjJcbZ4U0kqR1Yh1zGm9ZQ0j2qZr7tT8qv8Yp user@laptop";
const BASE = { compartmentId: "ocid1.compartment.oc1..test", sshPublicKeys: [KEY], adminEmail: "a@example.com" };

function synth(props: Record<string, unknown>) {
  const stack = new TerraformStack(Testing.app(), "reach");
  const key = new TerraformVariable(stack, "ts_key", { type: "string", sensitive: true });
  const withKey = JSON.parse(JSON.stringify(props).replace(/"TS_KEY"/g, JSON.stringify(key.stringValue)));
  const cluster = new DokployCluster(stack, "Cluster", { ...BASE, ...withKey } as any);
  return { cluster, text: Testing.synth(stack) };
}

describe("nested manager and network props reach the stack", () => {
  test.each([
    ["manager.dokployVersion", { manager: { dokployVersion: "v0.25.3" } }, /\\"version\\" = \\"v0\.25\.3\\"/],
    ["manager.namePrefix", { manager: { namePrefix: "acme" } }, /"display_name": "acme-manager"/],
    ["manager.freeformTags", { manager: { freeformTags: { team: "ops" } } }, /"team": "ops"/],
    ["network.namePrefix", { network: { namePrefix: "acme" } }, /"display_name": "acme-vcn"/],
    ["network.freeformTags", { network: { freeformTags: { team: "net" } } }, /"team": "net"/],
  ])("%s", (_name, props, expected) => {
    expect(synth(props).text).toMatch(expected);
  });

  test("manager.adminPassword is the password the manager uses", () => {
    expect(synth({ manager: { adminPassword: "a-long-enough-password" } }).cluster.manager.adminPassword).toBe("a-long-enough-password");
  });
});

describe("the budget precondition", () => {
  test("sizes from variables with Tailscale on: the pool keeps its Tailscale key checks beside the budget check", () => {
    const stack = new TerraformStack(Testing.app(), "budget-tailscale");
    const count = new TerraformVariable(stack, "worker_count", { type: "number" });
    const key = new TerraformVariable(stack, "ts_key", { type: "string", sensitive: true });
    new DokployCluster(stack, "Cluster", { ...BASE, workerCount: count.numberValue, tailscale: { authKey: key.stringValue, tags: ["tag:dokploy"] } });
    const json = JSON.parse(Testing.synth(stack));
    const [, pool] = Object.entries<any>(json.resource.oci_core_instance).find(([name]) => name.includes("_Workers_"))!;
    const messages: string[] = pool.lifecycle.precondition.map((check: any) => check.error_message);
    expect(messages.some((message) => /exceeds the free allowance/.test(message))).toBe(true);
    expect(messages.some((message) => /tailscale\.authKey/.test(message))).toBe(true);
  });
});
