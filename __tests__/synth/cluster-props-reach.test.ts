/**
 * Issue 15's two bugs, as a user meets them. Every DokployCluster prop must reach the resource or node config it sets
 * (the nested `manager`/`network` bags used to lose values to top-level defaults); the table is typed over every key
 * of DokployClusterProps, so a prop added without a case here does not compile. And a plan-time budget check must
 * sit beside a pool's other plan-time checks, never replace them.
 */
import { WORKERS_TAG_KEY } from "../../lib/worker-identity";
import { RELEASE_TAG_KEY } from "../../lib/host-release";
import { TerraformStack, TerraformVariable, Testing } from "cdktf";
import { DokployCluster, DokployClusterProps } from "../../constructs/oci/dokploy-cluster";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ8w0XqjJcbZ4U0kqR1Yh1zGm9ZQ0j2qZr7tT8qv8Yp user@laptop";
const OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ6j6Lw6I3cCM2WmH8hRP0a6Wnt6b1rM2sXzQ4y2wK9a other@host";
const BASE: DokployClusterProps = { compartmentId: "ocid1.compartment.oc1..test", sshPublicKeys: [KEY], adminEmail: "a@example.com" };

interface Synthesized {
  readonly cluster: DokployCluster;
  readonly json: any;
  readonly text: string;
}

function synth(props: Partial<DokployClusterProps>, withKey = false): Synthesized {
  const stack = new TerraformStack(Testing.app(), "reach");
  const extra: Partial<DokployClusterProps> = withKey
    ? { tailscale: { authKey: new TerraformVariable(stack, "ts_key", { type: "string", sensitive: true }).stringValue, tags: ["tag:dokploy"] } }
    : {};
  const cluster = new DokployCluster(stack, "Cluster", { ...BASE, ...extra, ...props });
  const text = Testing.synth(stack);
  return { cluster, json: JSON.parse(text), text };
}

const instances = (json: any) => Object.entries<any>(json.resource.oci_core_instance);
const manager = (json: any) => instances(json).find(([name]) => name.includes("_Manager_"))![1];
const workers = (json: any) => instances(json).find(([name]) => name.includes("_Workers_"))![1];
const nodes = (json: any) => [manager(json), workers(json)];
const managerConfig = (s: Synthesized) => s.cluster.manager.cloudConfig.nodeConfig();
const rules = (json: any) => Object.values<any>(json.resource.oci_core_network_security_group_security_rule);

interface Case {
  /** Props set together (the prop under test, and what it needs). */
  readonly props: Partial<DokployClusterProps>;
  readonly withTailscaleKey?: boolean;
  readonly check: (s: Synthesized) => void;
}

const CASES: { readonly [K in keyof Required<DokployClusterProps>]: Case } = {
  compartmentId: {
    props: { compartmentId: "ocid1.compartment.oc1..reach" },
    check: ({ json }) => {
      expect(json.resource.oci_core_vcn[Object.keys(json.resource.oci_core_vcn)[0]].compartment_id).toBe("ocid1.compartment.oc1..reach");
      for (const node of nodes(json)) expect(node.compartment_id).toBe("ocid1.compartment.oc1..reach");
    },
  },
  sshPublicKeys: {
    props: { sshPublicKeys: [OTHER_KEY] },
    check: ({ json }) => nodes(json).forEach((node) => expect(node.metadata.ssh_authorized_keys).toContain("other@host")),
  },
  adminEmail: { props: { adminEmail: "ops@example.org" }, check: (s) => expect(managerConfig(s).dokploy.adminEmail).toBe("ops@example.org") },
  adminPassword: {
    props: { adminPassword: "a-long-enough-password" },
    check: (s) => {
      expect(s.cluster.manager.adminPassword).toBe("a-long-enough-password");
      expect(managerConfig(s).dokploy.adminPassword).toBe("a-long-enough-password");
    },
  },
  dokployVersion: { props: { dokployVersion: "v0.25.3" }, check: (s) => expect(managerConfig(s).dokploy.version).toBe("v0.25.3") },
  dokployInstallerUrl: {
    props: { dokployInstallerUrl: "https://mirror.example.com/dokploy/install.sh" },
    check: (s) => expect(managerConfig(s).dokploy.installerUrl).toBe("https://mirror.example.com/dokploy/install.sh"),
  },
  dockerInstallerUrl: {
    props: { dockerInstallerUrl: "https://mirror.example.com/docker/install.sh" },
    check: (s) => expect(s.cluster.workers.cloudConfig.nodeConfig().docker.installerUrl).toBe("https://mirror.example.com/docker/install.sh"),
  },
  workerCount: { props: { workerCount: 0 }, check: ({ json }) => expect(workers(json).count).toBe(0) },
  shape: {
    props: { shape: "VM.Standard3.Flex" },
    check: ({ json }) => nodes(json).forEach((node) => expect(node.shape).toBe("VM.Standard3.Flex")),
  },
  ocpusPerNode: {
    props: { ocpusPerNode: 2, tenancyKind: "pay-as-you-go" },
    check: ({ json }) => nodes(json).forEach((node) => expect(node.shape_config.ocpus).toBe(2)),
  },
  memoryInGbsPerNode: {
    props: { memoryInGbsPerNode: 4 },
    check: ({ json }) => nodes(json).forEach((node) => expect(node.shape_config.memory_in_gbs).toBe(4)),
  },
  bootVolumeSizeInGbsPerNode: {
    props: { bootVolumeSizeInGbsPerNode: 60 },
    check: ({ json }) => nodes(json).forEach((node) => expect(node.source_details.boot_volume_size_in_gbs).toBe("60")),
  },
  ubuntuVersion: {
    props: { ubuntuVersion: "22.04" },
    check: ({ json }) => expect(Object.values<any>(json.data.oci_core_images).map((images) => images.operating_system_version)).toEqual(["22.04"]),
  },
  dockerPruneAfterHours: {
    props: { dockerPruneAfterHours: 72 },
    check: (s) => {
      expect(managerConfig(s).dockerCleanup).toEqual({ pruneAfterHours: 72 });
      expect(s.cluster.workers.cloudConfig.nodeConfig().dockerCleanup).toEqual({ pruneAfterHours: 72 });
    },
  },
  imageId: {
    props: { imageId: "ocid1.image.oc1..custom" },
    check: ({ json }) => nodes(json).forEach((node) => expect(node.source_details.source_id).toBe("ocid1.image.oc1..custom")),
  },
  adminCidrs: {
    props: { adminCidrs: ["198.51.100.0/24"] },
    check: ({ json }) => expect(rules(json).filter((rule) => rule.source === "198.51.100.0/24").length).toBeGreaterThanOrEqual(3),
  },
  tailscale: {
    props: {},
    withTailscaleKey: true,
    check: (s) => {
      expect(managerConfig(s).tailscale.hostname).toBe("dokploy-manager");
      expect(s.cluster.workers.cloudConfig.nodeConfig().tailscale.tags).toEqual(["tag:dokploy"]);
    },
  },
  adminAccess: {
    props: { adminAccess: "tailnet" },
    withTailscaleKey: true,
    check: ({ json }) => expect(rules(json).some((rule) => rule.tcp_options?.destination_port_range.min === 3000)).toBe(false),
  },
  availabilityDomainIndex: {
    props: { availabilityDomainIndex: 2 },
    check: ({ json }) => nodes(json).forEach((node) => expect(node.availability_domain).toMatch(/availability_domains\[2\]/)),
  },
  availabilityDomain: {
    props: { availabilityDomain: "Uocm:EU-FRANKFURT-1-AD-2" },
    check: ({ json }) => nodes(json).forEach((node) => expect(node.availability_domain).toBe("Uocm:EU-FRANKFURT-1-AD-2")),
  },
  vcnCidr: {
    props: { vcnCidr: "10.0.0.0/20" },
    check: ({ json }) => expect(Object.values<any>(json.resource.oci_core_vcn)[0].cidr_blocks).toEqual(["10.0.0.0/20"]),
  },
  subnetCidr: {
    props: { subnetCidr: "10.0.1.0/24" },
    check: ({ json }) => {
      expect(Object.values<any>(json.resource.oci_core_subnet)[0].cidr_block).toBe("10.0.1.0/24");
      expect(manager(json).create_vnic_details.private_ip).toBe("10.0.1.10");
    },
  },
  swarmAddressPool: { props: { swarmAddressPool: "10.30.0.0/16" }, check: (s) => expect(managerConfig(s).swarm.defaultAddrPool).toBe("10.30.0.0/16") },
  swarmAddressPoolMaskLength: {
    props: { swarmAddressPoolMaskLength: 26 },
    check: (s) => expect(managerConfig(s).swarm.defaultAddrPoolMaskLength).toBe(26),
  },
  encryptedOverlays: { props: { encryptedOverlays: true }, check: ({ json }) => expect(rules(json).some((rule) => rule.protocol === "50")).toBe(true) },
  managerHostNumber: { props: { managerHostNumber: 11 }, check: ({ json }) => expect(manager(json).create_vnic_details.private_ip).toBe("10.0.0.11") },
  workerServerType: { props: { workerServerType: "build" }, check: (s) => expect(managerConfig(s).registration.serverType).toBe("build") },
  tokenServerTtlInSeconds: { props: { tokenServerTtlInSeconds: 3600 }, check: (s) => expect(managerConfig(s).tokenServer.ttlSeconds).toBe(3600) },
  alwaysFree: {
    // 2 x 4 OCPUs is over every free allowance: only alwaysFree: false lets it through.
    props: { alwaysFree: false, ocpusPerNode: 4, memoryInGbsPerNode: 24 },
    check: ({ json }) => expect(manager(json).shape_config.ocpus).toBe(4),
  },
  tenancyKind: {
    props: { tenancyKind: "pay-as-you-go", workerCount: 3, bootVolumeSizeInGbsPerNode: 50 },
    check: ({ json }) => expect(workers(json).count).toBe(3),
  },
  budget: {
    props: { budget: { ocpus: 3, memoryInGbs: 18, bootVolumeInGbs: 300 }, workerCount: 2 },
    check: ({ json }) => expect(workers(json).count).toBe(2),
  },
  namePrefix: {
    props: { namePrefix: "acme" },
    check: ({ json }) => {
      expect(manager(json).display_name).toBe("acme-manager");
      expect(Object.values<any>(json.resource.oci_core_vcn)[0].display_name).toBe("acme-vcn");
    },
  },
  backups: {
    props: { backups: { region: "eu-frankfurt-1", userId: "ocid1.user.oc1..aaaareach", schedule: "30 4 * * 0", keepLatestCount: 3, restoreAtFirstBoot: false } },
    check: (s) => {
      const bucket = Object.values<any>(s.json.resource.oci_objectstorage_bucket)[0];
      // A random suffix of its own, drawn once (no keepers): two clusters of one prefix in a region never collide.
      const [suffixName, suffix] = Object.entries<any>(s.json.resource.random_id).find(([name]) => name.includes("Backups"))!;
      expect(suffix).toEqual({ byte_length: 4 });
      const name = `join("", ["dokploy-backups-", random_id.${suffixName}.hex])`;
      expect([bucket.name, bucket.access_type]).toEqual([`\${${name}}`, "NoPublicAccess"]);
      expect(Object.values<any>(s.json.resource.oci_identity_customer_secret_key)[0].user_id).toBe("ocid1.user.oc1..aaaareach");
      expect(managerConfig(s).backups).toMatchObject({ region: "eu-frankfurt-1", schedule: "30 4 * * 0", keepLatestCount: 3, restoreAtFirstBoot: false, enabled: true });
      // As Terraform gets it inside the manager's user_data: an expression, not a string with "$${" escaped.
      const userData = Object.values<any>(s.json.resource.oci_core_instance).map((instance) => instance.metadata.user_data).join("\n");
      expect(userData).toContain(`"bucket" = ${name},`);
      expect(userData).toMatch(/"endpoint" = join\("", \["https:\/\/", data\.oci_objectstorage_namespace\.\S+\.namespace, "\.compat\.objectstorage\.", "eu-frankfurt-1", "\.oraclecloud\.com"\]\)/);
    },
  },
  freeformTags: {
    props: { freeformTags: { team: "ops" } },
    check: ({ json }) => {
      expect(Object.values<any>(json.resource.oci_core_vcn)[0].freeform_tags).toEqual({ team: "ops" });
      // Every node also carries the release tag its agent reads; the manager the workers tag its reconciler reads.
      const release = { [RELEASE_TAG_KEY]: expect.stringMatching(/^[0-9a-f]{64}$/) };
      expect(workers(json).freeform_tags).toEqual({ team: "ops", ...release });
      expect(manager(json).freeform_tags).toEqual({ team: "ops", [WORKERS_TAG_KEY]: "worker:1", ...release });
      expect(Object.values<any>(json.resource.oci_objectstorage_bucket)[0].freeform_tags).toEqual({ team: "ops" });
    },
  },
};

describe("every DokployCluster prop reaches what it sets", () => {
  test.each(Object.entries(CASES))("%s", (_name, { props, withTailscaleKey, check }) => {
    check(synth(props, withTailscaleKey));
  });

  test("the props the cases rely on are not defaults (each case would fail if its prop were dropped)", () => {
    const defaults = synth({});
    for (const [name, { props, withTailscaleKey, check }] of Object.entries(CASES)) {
      if (name === "alwaysFree" || name === "tenancyKind" || name === "budget") {
        // Dropping these makes the cluster over budget: the synth itself fails.
        const { [name]: _dropped, ...rest } = props as Record<string, unknown>;
        expect(() => synth(rest as Partial<DokployClusterProps>, withTailscaleKey)).toThrow(/exceeds the free allowance/);
        continue;
      }
      if (name === "tailscale" || name === "adminAccess") continue; // need the key: covered by the bag-free type below
      expect(() => check(defaults)).toThrow();
    }
  });

  test("the nested bags are gone from the type: a value cannot be lost between two layers", () => {
    // @ts-expect-error manager settings are flat props now
    expect(() => synth({ manager: { dokployVersion: "v0.25.3" } })).not.toThrow();
    // @ts-expect-error network settings are flat props now
    expect(() => synth({ network: { namePrefix: "acme" } })).not.toThrow();
  });
});

describe("the budget precondition", () => {
  test("sizes from variables with Tailscale on: the pool keeps its Tailscale key checks beside the budget check", () => {
    const stack = new TerraformStack(Testing.app(), "budget-tailscale");
    const count = new TerraformVariable(stack, "worker_count", { type: "number" });
    const key = new TerraformVariable(stack, "ts_key", { type: "string", sensitive: true });
    new DokployCluster(stack, "Cluster", { ...BASE, workerCount: count.numberValue, tailscale: { authKey: key.stringValue, tags: ["tag:dokploy"] } });
    const json = JSON.parse(Testing.synth(stack));
    const messages: string[] = workers(json).lifecycle.precondition.map((check: any) => check.error_message);
    expect(messages.filter((message) => /exceeds the free allowance/.test(message))).toHaveLength(1);
    expect(messages.some((message) => /tailscale\.authKey/.test(message))).toBe(true);
  });

  test("with a second pool, the whole-cluster check moves to it and the first pool keeps only its own checks", () => {
    const stack = new TerraformStack(Testing.app(), "budget-two-pools");
    const count = new TerraformVariable(stack, "worker_count", { type: "number" });
    const key = new TerraformVariable(stack, "ts_key", { type: "string", sensitive: true });
    const cluster = new DokployCluster(stack, "Cluster", { ...BASE, workerCount: count.numberValue, tailscale: { authKey: key.stringValue, tags: ["tag:dokploy"] } });
    cluster.addWorkerPool("More", { namePrefix: "more", count: 0 });
    const json = JSON.parse(Testing.synth(stack));
    const more = instances(json).find(([name]) => name.includes("_More_"))![1];
    const budgetChecks = (node: any) => node.lifecycle.precondition.filter((check: any) => /exceeds/.test(check.error_message));
    expect(budgetChecks(workers(json))).toHaveLength(0);
    expect(budgetChecks(more)).toHaveLength(1);
    expect(budgetChecks(more)[0].error_message).toMatch(/workers "worker" \+ workers "more"/);
    expect(workers(json).lifecycle.precondition.length).toBeGreaterThan(0);
  });
});
