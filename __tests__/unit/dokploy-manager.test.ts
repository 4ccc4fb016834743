/**
 * constructs/oci/dokploy-manager.ts on its own, beside a stand-in network that records what the manager asks of it:
 * the ports it opens, its fixed address, its instance and tags, what its node.json carries, the limits and their
 * messages, and the checks left to plan time. Expected values are written out.
 */
import { DefaultTokenResolver, StringConcat, TerraformStack, TerraformVariable, Testing, Tokenization } from "cdktf";
import { BackupBucket } from "../../constructs/oci/backup-bucket";
import { DokployManager, DokployManagerProps } from "../../constructs/oci/dokploy-manager";
import { standInNetwork } from "../helpers/stand-in-network";
import { applyAndReadOutputs } from "../helpers/terraform";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHJYnQ0PvQe6w3Iakxq2pc9wZ5gsHIZRo0XAi7D4QjSS me@laptop";

function manager(props: Partial<DokployManagerProps> = {}, stack = new TerraformStack(Testing.app(), "manager"), afterwards: (built: DokployManager) => void = () => undefined) {
  const { network, opened, addresses } = standInNetwork();
  const built = new DokployManager(stack, "Manager", { compartmentId: "C", network, adminEmail: "admin@example.com", sshPublicKeys: [KEY], ...props });
  afterwards(built);
  const json = JSON.parse(Testing.synth(stack));
  const instance = Object.values<any>(json.resource.oci_core_instance)[0];
  const userData: string = instance.metadata.user_data;
  const resolve = (value: unknown) => Tokenization.resolve(value, { scope: stack, preparing: false, resolver: new DefaultTokenResolver(new StringConcat()) });
  return { built, json, instance, userData, opened, addresses, resolve };
}

test("defaults: 1 OCPU and 6 GB at host number 10, the web and admin ports, the tested Dokploy", () => {
  const { built, instance, opened, addresses, resolve } = manager();
  expect([built.ocpus, built.memoryInGbs, built.bootVolumeSizeInGbs, built.privateIp, built.adminEmail]).toEqual([1, 6, 100, "10.0.0.10", "admin@example.com"]);
  expect(addresses).toEqual([[10, "hostNumber", "the manager"]]);
  expect(opened).toEqual([
    { role: "manager", protocol: "tcp", port: 9999, from: "workers", description: "Dokploy token server (workers fetch the join command)" },
    { role: "manager", protocol: "tcp", port: 80, from: "anywhere", description: "HTTP (Traefik)" },
    { role: "manager", protocol: "tcp", port: 443, from: "anywhere", description: "HTTPS (Traefik)" },
    { role: "manager", protocol: "tcp", port: 22, from: "admin", description: "SSH" },
    { role: "manager", protocol: "tcp", port: 3000, from: "admin", description: "Dokploy dashboard" },
  ]);
  expect(instance.display_name).toBe("dokploy-manager");
  expect(instance.create_vnic_details).toEqual({ assign_public_ip: "true", hostname_label: "manager", nsg_ids: ["MANAGER_NSG_ID"], private_ip: "10.0.0.10", subnet_id: "SUBNET_ID" });
  expect(resolve(built.dashboardUrl)).toBe("http://${oci_core_instance.Manager_921C0762.public_ip}:3000");
  expect(built.tailnetDashboardUrl).toBeUndefined();
  expect(resolve(built.adminPassword)).toBe("${random_password.Manager_AdminPassword_8E7AA101.result}");
});

test("node.json: the swarm's address pool, Dokploy's version, installer, admin and waits, the token server, registration", () => {
  const { userData } = manager();
  expect(userData).toContain(
    'jsonencode({"role" = "manager", "privateIp" = "10.0.0.10", "swarm" = {"defaultAddrPool" = "10.20.0.0/16", "defaultAddrPoolMaskLength" = 24}, ' +
      '"dokploy" = {"version" = "v0.30.2", "installerUrl" = "https://dokploy.com/install.sh", "url" = "http://127.0.0.1:3000", "adminEmail" = "admin@example.com", ' +
      '"adminPassword" = random_password.Manager_AdminPassword_8E7AA101.result, "adminName" = "Admin", "apiKeyName" = "dokploy-oci", "sshKeyName" = "dokploy-oci-workers", ' +
      '"wait" = {"stepSeconds" = 5, "maxDelaySeconds" = 60, "maxAttempts" = 60}}, ' +
      '"tokenServer" = {"bindAddress" = "10.0.0.10", "port" = 9999, "secret" = random_password.Manager_TokenServer_Secret_200EA01D.result, "stateDir" = "/var/lib/dokploy-oci/token-server", "ttlSeconds" = 21600}, ' +
      '"registration" = {"serverType" = "deploy", "username" = "root", "sshPort" = 22, "intervalSeconds" = 15, "dokployUrl" = "http://127.0.0.1:3000", "enableDockerCleanup" = true, ' +
      '"instanceMetadataUrl" = "http://169.254.169.254/opc/v2/instance/", "workersTag" = "dokploy-oci-workers", "drainTimeoutSeconds" = 600}, ' +
      '"hostPorts" = [{"protocol" = "tcp", "port" = 22, "sources" = ["manager-source"]}], "blockContainerMetadata" = true, ',
  );
  expect(userData).not.toContain('"backups" =');
});

test("the workers tag names the pools announced after the manager; the user's tags stay", () => {
  const { instance } = manager({ freeformTags: { team: "web" } }, undefined, (built) => {
    built.tokenServer.expectWorkerPool("worker", 2);
    built.tokenServer.expectWorkerPool("gpu", 1);
  });
  expect(instance.freeform_tags).toEqual({ team: "web", "dokploy-oci-release": expect.stringMatching(/^[0-9a-f]{64}$/), "dokploy-oci-workers": "worker:2,gpu:1" });
});

test("tags from Terraform are merged with the workers tag by Terraform", () => {
  const stack = new TerraformStack(Testing.app(), "manager");
  const tags = new TerraformVariable(stack, "tags", { type: "map(string)" }).value as Record<string, string>;
  const { instance } = manager({ freeformTags: tags }, stack, (built) => built.tokenServer.expectWorkerPool("worker", 1));
  expect(instance.freeform_tags).toMatch(/^\$\{merge\(merge\(var\.tags, \{"dokploy-oci-workers" = "worker:1"\}\), \{"dokploy-oci-release" = "[0-9a-f]{64}"\}\)\}$/);
  // What the real terraform makes of it (the workers tag once reached it unquoted: worker:1).
  const outputs = applyAndReadOutputs({ variable: { tags: { type: "map(string)" } }, output: { tags: { value: instance.freeform_tags } } }, { tags: JSON.stringify({ team: "web" }) });
  expect(outputs.tags.value).toEqual({ team: "web", "dokploy-oci-workers": "worker:1", "dokploy-oci-release": expect.stringMatching(/^[0-9a-f]{64}$/) });
});

test("given size, address, names, version, installer, waits, token server, server type and password", () => {
  const { built, instance, userData, addresses } = manager({
    ocpus: 2,
    memoryInGbs: 12,
    hostNumber: 5,
    namePrefix: "shop",
    dokployVersion: "v0.31.7",
    installerUrl: "https://mirror.example/install.sh",
    dokployWaitStepInSeconds: 0.5,
    tokenServerPort: 10000,
    tokenServerTtlInSeconds: 600,
    workerServerType: "build",
    adminPassword: "correct horse battery staple",
  });
  expect([built.ocpus, built.memoryInGbs, built.privateIp]).toEqual([2, 12, "10.0.0.5"]);
  expect(addresses).toEqual([[5, "hostNumber", "the manager"]]);
  expect(instance.display_name).toBe("shop-manager");
  expect(instance.shape_config).toEqual({ memory_in_gbs: 12, ocpus: 2 });
  expect(userData).toContain('"version" = "v0.31.7", "installerUrl" = "https://mirror.example/install.sh"');
  expect(userData).toContain('"wait" = {"stepSeconds" = 0.5,');
  expect(userData).toContain('"tokenServer" = {"bindAddress" = "10.0.0.5", "port" = 10000,');
  expect(userData).toContain('"ttlSeconds" = 600}');
  expect(userData).toContain('"registration" = {"serverType" = "build",');
  expect(userData).toContain('"adminPassword" = "correct horse battery staple"');
  expect(manager({ workerServerType: "none" }).userData).toContain('"serverType" = "none"');
});

test("with Tailscale: the manager joins as <prefix>-manager and its dashboard has a tailnet address", () => {
  const stack = new TerraformStack(Testing.app(), "manager");
  const authKey = new TerraformVariable(stack, "ts_key", { type: "string", sensitive: true }).stringValue;
  const { built, userData } = manager({ namePrefix: "shop", tailscale: { authKey, tags: ["tag:dokploy"] } }, stack);
  expect(built.tailnetDashboardUrl).toBe("http://shop-manager:3000");
  expect(userData).toContain('"hostname" = "shop-manager"');
});

test("with backups: node.json carries the bucket's section", () => {
  const stack = new TerraformStack(Testing.app(), "manager");
  const backups = new BackupBucket(stack, "Backups", { compartmentId: "C", region: "eu-frankfurt-1", accessKey: "AKEY", secretKey: "the-secret" });
  expect(manager({ backups }, stack).userData).toContain('"backups" = {"enabled" = true, "destinationName" = "dokploy-oci", ');
});

test("limits, each naming the prop the user wrote", () => {
  expect(() => manager({ adminEmail: "admin" })).toThrow('adminEmail: "admin" is not allowed');
  expect(() => manager({ sshPublicKeys: [] })).toThrow("sshPublicKeys: give at least one OpenSSH public key");
  expect(() => manager({ dokployWaitStepInSeconds: 0.09 })).toThrow("dokployWaitStepInSeconds: 0.09 is out of range; use a number of seconds from 0.1 to 60");
  expect(() => manager({ dokployWaitStepInSeconds: 61 })).toThrow("dokployWaitStepInSeconds: 61 is out of range");
  expect(manager({ dokployWaitStepInSeconds: 60 }).userData).toContain('"stepSeconds" = 60,');
  expect(() => manager({ namePrefix: "Shop" })).toThrow('namePrefix: "Shop" is not allowed');
  expect(() => manager({ dokployVersion: "0.30.2" })).toThrow('dokployVersion: "0.30.2" is not allowed; use latest, canary or a release tag such as "v0.30.2"');
  expect(() => manager({ installerUrl: "http://dokploy.com/install.sh" })).toThrow('installerUrl: "http://dokploy.com/install.sh" is not allowed');
  expect(() => manager({ workerServerType: "all" as never })).toThrow('workerServerType: "all" is not one of deploy, build, none');
  expect(() => manager({ adminPassword: "short" })).toThrow("adminPassword: the secret must be at least 8 characters (got 5)");
});

test("values from Terraform variables are checked at plan time, on the instance", () => {
  const stack = new TerraformStack(Testing.app(), "manager");
  const text = (name: string) => new TerraformVariable(stack, name, { type: "string" }).stringValue;
  const { instance } = manager({ dokployVersion: text("version"), installerUrl: text("installer"), adminEmail: text("email") }, stack);
  const checks = instance.lifecycle.precondition as { condition: string; error_message: string }[];
  expect(checks.map((check) => check.error_message)).toEqual([
    expect.stringMatching(/^dokployVersion: /),
    expect.stringMatching(/^installerUrl: /),
    expect.stringMatching(/^adminEmail: /),
  ]);
  expect(checks.map((check) => check.condition)).toEqual([
    expect.stringContaining("var.version"),
    expect.stringContaining("var.installer"),
    expect.stringContaining("var.email"),
  ]);
});
