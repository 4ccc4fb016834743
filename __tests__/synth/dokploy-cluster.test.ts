import { TerraformOutput, TerraformStack, TerraformVariable, Testing } from "cdktf";
import { DataResource } from "cdktf";
import { DokployCluster, DokployClusterProps } from "../../constructs/oci/dokploy-cluster";
import { OCI_METADATA_LIMIT_BYTES, SSH_KEYS_RESERVE_BYTES } from "../../lib/cloud-init";
import { BudgetShare, TenancyKind, budgetPrecondition, checkBudget } from "../../lib/free-tier";
import { ormStackJson } from "../../scripts/lib/orm-package";
import { validateStack } from "../../scripts/lib/validate";
import { cloudInitSchemaCheck } from "../helpers/cloud-init";
import { applyAndReadOutputs, applyExpectingFailure } from "../helpers/terraform";
import { createHash } from "crypto";
import { WORKERS_TAG_KEY, workerCredential } from "../../lib/worker-identity";
import { RELEASE_TAG_KEY } from "../../lib/host-release";


const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ8w0XqjJcbZ4U0kqR1Yh1zGm9ZQ0j2qZr7tT8qv8Yp user@laptop";

function synthCluster(props: Partial<DokployClusterProps> = {}, extra?: (cluster: DokployCluster) => void) {
  const stack = new TerraformStack(Testing.app(), "test");
  const cluster = new DokployCluster(stack, "Cluster", { compartmentId: "ocid1.compartment.oc1..test", sshPublicKeys: [KEY], adminEmail: "a@example.com", ...props });
  extra?.(cluster);
  const json = JSON.parse(Testing.synth(stack));
  return { cluster, json };
}

const instances = (json: any) => json.resource.oci_core_instance as Record<string, any>;
const workerPool = (json: any, name = "Workers") => Object.entries(instances(json)).find(([key]) => key.includes(`_${name}_`))![1];

describe("DokployCluster", () => {
  test("defaults to 1 manager + 1 worker at 1 OCPU / 6 GB / 100 GB: exactly an Always Free tenancy's 2 / 12 / 200", () => {
    const { json } = synthCluster();
    const workers = workerPool(json);
    expect(workers.count).toBe(1);
    const manager = Object.entries<any>(instances(json)).find(([key]) => key.includes("_Manager_"))![1];
    for (const node of [manager, workers]) {
      expect(node.shape_config).toEqual({ ocpus: 1, memory_in_gbs: 6 });
      expect(node.source_details.boot_volume_size_in_gbs).toBe("100");
    }
    expect(workers.display_name).toBe('${format("%s-%d", "worker", (count.index + 1))}');
    expect(workers.fault_domain).toBe('${element(["FAULT-DOMAIN-1", "FAULT-DOMAIN-2", "FAULT-DOMAIN-3"], count.index)}');
    expect(workers.create_vnic_details.nsg_ids).toEqual([expect.stringMatching(/WorkerNsg/)]);
    expect(workers.create_vnic_details.private_ip).toBe('${cidrhost("10.0.0.0/24", (20 + count.index))}');
    expect(workers.lifecycle.precondition).toBeUndefined();
  });

  test("workers do not depend on the manager instance, so both are created in parallel", () => {
    const { json } = synthCluster();
    const workers = workerPool(json);
    // Only on the release's upload, which every node fetches at first boot.
    expect(workers.depends_on).toEqual([expect.stringMatching(/^oci_objectstorage_object\./)]);
    expect(JSON.stringify(workers)).not.toMatch(/oci_core_instance\./);
    const userData: string = workers.metadata.user_data;
    expect(userData).toMatch(/"url" = "http:\/\/10\.0\.0\.10:9999"/);
  });

  test("workers reach SSH from admin CIDRs and from the manager; the token port is for workers only", () => {
    const { json } = synthCluster({ adminCidrs: ["198.51.100.0/24"] });
    const rules = Object.values<any>(json.resource.oci_core_network_security_group_security_rule);
    const workerSsh = rules.filter((r) => /WorkerNsg/.test(r.network_security_group_id) && r.tcp_options?.destination_port_range.min === 22);
    expect(workerSsh).toHaveLength(2);
    expect(workerSsh.find((r) => r.source_type === "CIDR_BLOCK").source).toBe("198.51.100.0/24");
    expect(workerSsh.find((r) => r.source_type === "NETWORK_SECURITY_GROUP").source).toMatch(/ManagerNsg/);
    expect(rules.some((r) => r.source === "0.0.0.0/0" && /WorkerNsg/.test(r.network_security_group_id) && r.direction === "INGRESS")).toBe(false);
  });

  test("spreads over availability domains when asked", () => {
    const { json } = synthCluster({}, (cluster) => cluster.addWorkerPool("Spread", { namePrefix: "spread", count: 0, alwaysFree: false, spreadAcrossAvailabilityDomains: true }));
    expect(workerPool(json, "Spread").availability_domain).toMatch(/element\(data\.oci_identity_availability_domains\.AvailabilityDomains\.availability_domains, count\.index\)/);
  });

  test("the manager's workers tag names every pool, beside the user's tags, and is not among the ignored changes", () => {
    const { json } = synthCluster(
      { workerCount: 2, tenancyKind: "pay-as-you-go", bootVolumeSizeInGbsPerNode: 50, freeformTags: { team: "web" } },
      (c) => c.addWorkerPool("Paid", { namePrefix: "paid", count: 4, alwaysFree: false, ocpus: 2, memoryInGbs: 12 }),
    );
    const manager = Object.entries<any>(instances(json)).find(([key]) => key.includes("_Manager_"))![1];
    expect(manager.freeform_tags).toEqual({ team: "web", [WORKERS_TAG_KEY]: "worker:2,paid:4", [RELEASE_TAG_KEY]: expect.stringMatching(/^[0-9a-f]{64}$/) });
    // Terraform updates freeform tags in place (UpdateInstance takes them); only metadata and the image are ignored.
    expect(manager.lifecycle.ignore_changes).toEqual(["source_details[0].source_id", "metadata"]);
    expect(workerPool(json).freeform_tags).toEqual({ team: "web", [RELEASE_TAG_KEY]: manager.freeform_tags[RELEASE_TAG_KEY] });
  });

  test("each worker's node.json holds its own credential, never the token server's secret", () => {
    const { json } = synthCluster({ workerCount: 3, alwaysFree: false });
    const userData = workerPool(json).metadata.user_data as string;
    expect(userData).toMatch(/"credential" = sha256\(format\("%s:%s", random_password\.\w+\.result, format\("%s-%d", "worker", \(count\.index \+ 1\)\)\)\)/);
    expect(userData).not.toMatch(/"secret" =/);
  });

  test("real terraform renders the tag from the form's worker count, and derives the credential the token server computes", () => {
    const stack = new TerraformStack(Testing.app(), "tag");
    const count = new TerraformVariable(stack, "worker_count", { type: "number" });
    const secret = new TerraformVariable(stack, "secret", { type: "string" });
    new DokployCluster(stack, "Cluster", { compartmentId: "c", sshPublicKeys: [KEY], adminEmail: "a@example.com", workerCount: count.numberValue, alwaysFree: false });
    new TerraformOutput(stack, "credential", { value: workerCredential(secret.stringValue, "worker-2") });
    const json = JSON.parse(Testing.synth(stack));
    const manager = Object.entries<any>(instances(json)).find(([key]) => key.includes("_Manager_"))![1];
    const config = {
      variable: { worker_count: { type: "number" }, secret: { type: "string" } },
      output: { tag: { value: manager.freeform_tags[WORKERS_TAG_KEY] }, credential: json.output.credential },
    };
    const outputs = applyAndReadOutputs(config, { worker_count: "3", secret: "s3cret with spaces" });
    expect(outputs.tag.value).toBe("worker:3");
    expect(outputs.credential.value).toBe(createHash("sha256").update("s3cret with spaces:worker-2").digest("hex"));
  });

  test("workerNodes: one pool's map, or every pool's merged", () => {
    const stack = new TerraformStack(Testing.app(), "nodes");
    const cluster = new DokployCluster(stack, "Cluster", { compartmentId: "c", sshPublicKeys: [KEY], adminEmail: "a@example.com" });
    new TerraformOutput(stack, "one", { value: cluster.workerNodes });
    cluster.addWorkerPool("Paid", { namePrefix: "paid", count: 1, alwaysFree: false });
    new TerraformOutput(stack, "both", { value: cluster.workerNodes });
    const json = JSON.parse(Testing.synth(stack));
    expect(json.output.one.value).toBe("${local.Cluster_Workers_Nodes_88C0B2EF}");
    expect(json.output.both.value).toBe("${merge(local.Cluster_Workers_Nodes_88C0B2EF, local.Cluster_Paid_Nodes_656C3FB7)}");
  });

  test("more pools than the workers tag can hold are refused naming addWorkerPool", () => {
    expect(() =>
      synthCluster({ alwaysFree: false }, (c) => {
        for (let i = 0; i < 10; i++) c.addWorkerPool(`Pool${i}`, { namePrefix: `p${i}-${"x".repeat(17)}`, count: 1, alwaysFree: false, firstHostNumber: 130 + i });
      }),
    ).toThrow(/addWorkerPool: \d+ worker pools .* do not fit the manager's dokploy-oci-workers tag \(256 characters\)/);
  });

  test.each([0, 1, 3, 50])("validates clean against the provider schemas with %i workers", async (workerCount) => {
    const { json } = synthCluster({ workerCount, alwaysFree: workerCount <= 1 });
    expect(workerPool(json).count).toBe(workerCount);
    expect(await validateStack(json)).toEqual([]);
  });

  test("the worker cloud-config passes `cloud-init schema` and fits OCI's metadata limit", () => {
    const { cluster } = synthCluster();
    const yaml = cluster.workers.cloudConfig.renderYaml(() => Buffer.from("{}").toString("base64"));
    expect(cloudInitSchemaCheck(yaml)).toMatchObject({ ok: true });
    const bytes = cluster.workers.cloudConfig.estimateUserDataBytes();
    console.log(`worker user_data: about ${bytes} bytes; manager: about ${cluster.manager.cloudConfig.estimateUserDataBytes()} bytes`);
    expect(bytes).toBeLessThan(OCI_METADATA_LIMIT_BYTES - SSH_KEYS_RESERVE_BYTES);
  });
});

describe("fixed private addresses", () => {
  test("workers get fixed addresses from 20 up, which real terraform computes clear of the manager's 10.0.0.10", () => {
    const stack = new TerraformStack(Testing.app(), "ips");
    const count = new TerraformVariable(stack, "worker_count", { type: "number" });
    new DokployCluster(stack, "Cluster", { compartmentId: "c", sshPublicKeys: [KEY], adminEmail: "a@example.com", workerCount: count.numberValue, alwaysFree: false });
    const json = JSON.parse(Testing.synth(stack));
    const manager = Object.entries<any>(instances(json)).find(([key]) => key.includes("_Manager_"))![1];
    const workers = workerPool(json);
    const config = {
      variable: { worker_count: { type: "number" } },
      resource: { terraform_data: { workers: { count: workers.count, input: workers.create_vnic_details.private_ip } } },
      output: { ips: { value: "${terraform_data.workers[*].output}" } },
    };
    const ips = applyAndReadOutputs(config, { worker_count: "100" }).ips.value as string[];
    expect(ips).toHaveLength(100);
    expect(ips[0]).toBe("10.0.0.20");
    expect(ips[99]).toBe("10.0.0.119");
    expect(new Set(ips).size).toBe(100);
    expect(ips).not.toContain(manager.create_vnic_details.private_ip);
  });

  test("a second pool takes the next free run; overlaps and runs past the subnet are refused naming the prop", () => {
    const { json } = synthCluster({ workerCount: 1 }, (c) => c.addWorkerPool("Paid", { namePrefix: "paid", count: 2, alwaysFree: false }));
    expect(workerPool(json, "Paid").create_vnic_details.private_ip).toBe('${cidrhost("10.0.0.0/24", (21 + count.index))}');
    expect(() => synthCluster({}, (c) => c.addWorkerPool("Paid", { namePrefix: "paid", count: 2, alwaysFree: false, firstHostNumber: 9 }))).toThrow(
      /firstHostNumber: host numbers 9\.\.10 \(worker pool "paid"\) overlap 10\.\.10, taken by the manager/,
    );
    const moved = synthCluster({ workerCount: 1, managerHostNumber: 20 }).json;
    expect(workerPool(moved).create_vnic_details.private_ip).toBe('${cidrhost("10.0.0.0/24", (21 + count.index))}');
    expect(() =>
      synthCluster({ workerCount: 1, subnetCidr: "10.0.0.0/28" }),
    ).toThrow(/firstHostNumber: host number 20 is outside 10\.0\.0\.0\/28/);
  });
});

describe("the free-tier budget", () => {
  test("an over-budget cluster is a synth-time error naming the tenancy kind, each node's share and the prop to change", () => {
    expect(() => synthCluster({ workerCount: 2 })).toThrow(
      /exceeds the free allowance \(Always Free tenancy: 2 OCPUs, 12 GB of memory, 200 GB of boot volumes\): 3 OCPUs > 2; 18 GB of memory > 12; 300 GB of boot volume > 200\.\n  manager: 1 x \(1 OCPU, 6 GB, 100 GB boot\) = 1 OCPU, 6 GB, 100 GB boot\n  workers "worker": 2 x \(1 OCPU, 6 GB, 100 GB boot\) = 2 OCPU, 12 GB, 200 GB boot\nLower a pool's count \(\(one manager\), workerCount\) or its ocpus\/memoryInGbs\/bootVolumeSizeInGbs, tenancyKind: "pay-as-you-go" if your tenancy is upgraded/,
    );
  });

  test("memory alone over budget names memoryInGbs", () => {
    expect(() => synthCluster({ workerCount: 1, memoryInGbsPerNode: 8 })).toThrow(/16 GB of memory > 12[\s\S]*or its memoryInGbs,/);
  });

  test("pay-as-you-go allows the older 4 / 24, and says so when exceeded", () => {
    expect(() => synthCluster({ tenancyKind: "pay-as-you-go", workerCount: 3, bootVolumeSizeInGbsPerNode: 50 })).not.toThrow();
    expect(() => synthCluster({ tenancyKind: "pay-as-you-go", workerCount: 4, bootVolumeSizeInGbsPerNode: 50 })).toThrow(
      /exceeds the free allowance \(Pay As You Go tenancy: 4 OCPUs, 24 GB of memory, 200 GB of boot volumes\): 5 OCPUs > 4/,
    );
    expect(() => synthCluster({ tenancyKind: "paid" as any })).toThrow(/tenancyKind: "paid" is not a tenancy kind; use one of always-free, pay-as-you-go/);
  });

  test("a paid pool does not count, alwaysFree: false turns the check off, and a bigger budget is honoured", () => {
    expect(() => synthCluster({}, (c) => c.addWorkerPool("Paid", { namePrefix: "paid", count: 10, alwaysFree: false }))).not.toThrow();
    expect(() => synthCluster({ workerCount: 10, alwaysFree: false })).not.toThrow();
    expect(() => synthCluster({ workerCount: 5, budget: { ocpus: 6, memoryInGbs: 36, bootVolumeInGbs: 600 } })).not.toThrow();
  });

  test("bad pool input names the prop", () => {
    expect(() => synthCluster({ workerCount: -1 })).toThrow(/workerCount: -1 is out of range; use a whole number of workers from 0 to 100/);
    expect(() => synthCluster({}, (c) => c.addWorkerPool("Again", { namePrefix: "worker", count: 0 }))).toThrow(/namePrefix: a worker pool named "worker" already exists/);
    expect(() => synthCluster({ availabilityDomainIndex: 5 })).toThrow(/availabilityDomainIndex: 5 is out of range/);
    expect(() => synthCluster({ dokployInstallerUrl: "http://dokploy.com/install.sh" })).toThrow(/^dokployInstallerUrl: "http:\/\/dokploy\.com\/install\.sh" is not allowed/);
  });

  test("sizes from variables get a plan-time precondition", () => {
    const stack = new TerraformStack(Testing.app(), "vars");
    const count = new TerraformVariable(stack, "workers", { type: "number" });
    new DokployCluster(stack, "Cluster", { compartmentId: "c", sshPublicKeys: [KEY], adminEmail: "a@example.com", workerCount: count.numberValue });
    const json = JSON.parse(Testing.synth(stack));
    expect(workerPool(json).lifecycle.precondition).toEqual([
      { condition: expect.stringMatching(/var\.workers/), error_message: expect.stringMatching(/exceeds the free allowance \(Always Free tenancy: 2 OCPUs/) },
    ]);
  });

  test("a pay-as-you-go tenancy's plan-time check holds its own allowance", () => {
    const stack = new TerraformStack(Testing.app(), "vars");
    const count = new TerraformVariable(stack, "workers", { type: "number" });
    new DokployCluster(stack, "Cluster", { compartmentId: "c", sshPublicKeys: [KEY], adminEmail: "a@example.com", workerCount: count.numberValue, tenancyKind: "pay-as-you-go" });
    const [check] = workerPool(JSON.parse(Testing.synth(stack))).lifecycle.precondition;
    expect(check.error_message).toMatch(/exceeds the free allowance \(Pay As You Go tenancy: 4 OCPUs/);
  });

  test("a second Always Free pool over the budget is named by its construct id", () => {
    expect(() => synthCluster({ workerCount: 0 }, (c) => c.addWorkerPool("Gpu", { namePrefix: "gpu", count: 2 }))).toThrow(
      /Lower a pool's count \(\(one manager\), workerCount, count of pool Gpu\)/,
    );
  });

  test("the precondition expression holds under and at the budget and stops terraform over it (real terraform)", () => {
    const stack = new TerraformStack(Testing.app(), "budget");
    const count = new TerraformVariable(stack, "worker_count", { type: "number" });
    const ocpus = new TerraformVariable(stack, "ocpus", { type: "number" });
    const shares: BudgetShare[] = [
      { name: "manager", countProp: "-", count: 1, ocpus: ocpus.numberValue, memoryInGbs: 6, bootVolumeSizeInGbs: 50 },
      { name: "workers", countProp: "workerCount", count: count.numberValue, ocpus: ocpus.numberValue, memoryInGbs: 6, bootVolumeSizeInGbs: 50 },
    ];
    const kind = new TerraformVariable(stack, "tenancy_kind", { type: "string" });
    checkBudget(shares); // tokens: nothing to check at synth time
    const tenancyKind = kind.stringValue as TenancyKind;
    new DataResource(stack, "budget", { input: { checked: true }, lifecycle: { precondition: [budgetPrecondition(shares, {}, tenancyKind)] } });
    new TerraformOutput(stack, "ok", { value: "yes" });
    const config = ormStackJson(JSON.parse(Testing.synth(stack)));
    const free = { tenancy_kind: "always-free" };
    const payg = { tenancy_kind: "pay-as-you-go" };
    expect(applyAndReadOutputs(config, { ...free, worker_count: "0", ocpus: "2" }).ok.value).toBe("yes");
    expect(applyAndReadOutputs(config, { ...free, worker_count: "1", ocpus: "1" }).ok.value).toBe("yes");
    const over = applyExpectingFailure(config, { ...free, worker_count: "2", ocpus: "1" });
    expect(over).toMatch(/Resource precondition failed/);
    expect(over.replace(/\s+/g, " ")).toMatch(/exceeds the free allowance of the tenancy kind chosen \(Always Free tenancy: 2 OCPUs, 12 GB of memory, 200 GB of boot volumes; Pay As You Go tenancy: 4 OCPUs, 24 GB/);
    expect(applyAndReadOutputs(config, { ...payg, worker_count: "3", ocpus: "1" }).ok.value).toBe("yes");
    expect(applyExpectingFailure(config, { ...payg, worker_count: "4", ocpus: "1" })).toMatch(/Resource precondition failed/);
    expect(applyExpectingFailure(config, { ...payg, worker_count: "1", ocpus: "3" })).toMatch(/Resource precondition failed/);
  });
});

describe("Tailscale on the nodes", () => {
  function tailnetCluster(adminAccess: "internet" | "tailnet") {
    const stack = new TerraformStack(Testing.app(), "tailnet");
    const key = new TerraformVariable(stack, "tailscale_auth_key", { type: "string", sensitive: true });
    const cluster = new DokployCluster(stack, "Cluster", {
      compartmentId: "c",
      sshPublicKeys: [KEY],
      adminEmail: "a@example.com",
      adminCidrs: ["198.51.100.0/24"],
      tailscale: { authKey: key.stringValue, tags: ["tag:dokploy"] },
      adminAccess,
    });
    return { cluster, json: JSON.parse(Testing.synth(stack)) };
  }
  const ruleSummary = (json: any) =>
    Object.values<any>(json.resource.oci_core_network_security_group_security_rule)
      .map((r) => `${/ManagerNsg/.test(r.network_security_group_id) ? "manager" : "workers"} ${r.direction} ${r.protocol}:${r.tcp_options?.destination_port_range.min ?? r.udp_options?.destination_port_range.min ?? "-"} from ${r.source_type === "CIDR_BLOCK" ? r.source : "nsg"}`)
      .sort();

  test("adminAccess tailnet removes the public 22 and 3000 rules and nothing else", () => {
    const internet = ruleSummary(tailnetCluster("internet").json);
    const tailnet = ruleSummary(tailnetCluster("tailnet").json);
    const removed = internet.filter((rule) => !tailnet.includes(rule));
    expect(removed.sort()).toEqual([
      "manager INGRESS 6:22 from 198.51.100.0/24",
      "manager INGRESS 6:3000 from 198.51.100.0/24",
      "workers INGRESS 6:22 from 198.51.100.0/24",
    ]);
    expect(tailnet.filter((rule) => !internet.includes(rule))).toEqual([]);
  });

  test("the host firewall drops the admin ports too, and the outputs know the tailnet address", () => {
    const { cluster } = tailnetCluster("tailnet");
    expect(cluster.network.hostPortsFor("manager").map((port) => port.port)).not.toEqual(expect.arrayContaining([22]));
    expect(cluster.network.hostPortsFor("manager").map((port) => port.port)).not.toContain(3000);
    expect(cluster.manager.tailnetDashboardUrl).toBe("http://dokploy-manager:3000");
  });

  test("every node's cloud-config joins the tailnet with the key from a 0600 file filled in by Terraform", async () => {
    const { cluster, json } = tailnetCluster("tailnet");
    for (const cloudConfig of [cluster.manager.cloudConfig, cluster.workers.cloudConfig]) {
      const yaml = cloudConfig.renderYaml(() => Buffer.from("{}").toString("base64"));
      expect(cloudInitSchemaCheck(yaml)).toMatchObject({ ok: true });
      expect(yaml).toMatch(/path: \/etc\/dokploy-oci\/tailscale\.key\n\s+permissions: "0600"\n\s+owner: root:root\n\s+encoding: b64/);
      // The release's agent starts the join unit when node.json has this section.
      expect(cloudConfig.nodeConfig().tailscale).toMatchObject({ authKeyFile: "/etc/dokploy-oci/tailscale.key" });
    }
    const text = JSON.stringify(json);
    expect(text).toMatch(/base64encode\(sensitive\(/);
    expect(text).toMatch(/\\"hostname\\" = \\"dokploy-manager\\"/);
    const manager = Object.entries<any>(json.resource.oci_core_instance).find(([name]) => name.includes("_Manager_"))![1];
    expect(manager.lifecycle.precondition.map((p: any) => p.error_message).join(" ")).toMatch(/tailscale\.authKey/);
    expect(await validateStack(json)).toEqual([]);
    const bytes = cluster.manager.cloudConfig.estimateUserDataBytes();
    console.log(`with Tailscale: manager user_data about ${bytes} bytes, worker ${cluster.workers.cloudConfig.estimateUserDataBytes()}`);
    expect(bytes).toBeLessThan(OCI_METADATA_LIMIT_BYTES - SSH_KEYS_RESERVE_BYTES);
  });

  test("tailnet admin access without Tailscale is refused naming the prop", () => {
    expect(() => synthCluster({ adminAccess: "tailnet" })).toThrow(/adminAccess: "tailnet" closes SSH and the dashboard to the internet; set tailscale too/);
  });
});
