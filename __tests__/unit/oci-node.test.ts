/**
 * lib/oci-node.ts on its own: the node options' defaults and limits per shape (each message written out), the
 * release tag, the image and availability-domain lookups, the shared boot and the instance, on a small stack with a
 * stand-in host release. Expected values are written out.
 */
import { DefaultTokenResolver, StringConcat, TerraformResource, TerraformStack, TerraformVariable, Testing, Tokenization } from "cdktf";
import {
  NodeOptions,
  addPreconditions,
  availabilityDomainName,
  createNodeInstance,
  nodeCloudConfig,
  releaseTags,
  removePreconditions,
  resolveNodeOptions,
  ubuntuImageId,
} from "../../lib/oci-node";
import { NodeConfigBase } from "../../lib/host-contract";
import { tailscaleHostConfig } from "../../lib/tailscale-node";
import { openSshPublicKey } from "../helpers/ssh-keys";

const SHA = "ab".repeat(32);
function newStack() {
  const stack = new TerraformStack(Testing.app(), "node");
  const resolve = (value: unknown) => Tokenization.resolve(value, { scope: stack, preparing: false, resolver: new DefaultTokenResolver(new StringConcat()) });
  const upload = new TerraformResource(stack, "upload", { terraformResourceType: "null_resource" });
  return { stack, resolve, release: { sha256: SHA, url: "https://objectstorage.example.com/p/x/o/", upload } };
}

describe("resolveNodeOptions", () => {
  test("the defaults: an Always Free A1 node of 1 OCPU, 6 GB, 100 GB, Ubuntu 24.04, the first domain, cleanup after 24 h", () => {
    expect(resolveNodeOptions({})).toEqual({
      shape: "VM.Standard.A1.Flex",
      ocpus: 1,
      memoryInGbs: 6,
      bootVolumeSizeInGbs: 100,
      ubuntuVersion: "24.04",
      availabilityDomainIndex: 0,
      dockerPruneAfterHours: 24,
      planTimeChecks: [],
    });
  });

  test("given values are kept, other options too", () => {
    const given: NodeOptions = { shape: "VM.Standard.E4.Flex", ocpus: 2, memoryInGbs: 16, bootVolumeSizeInGbs: 60, ubuntuVersion: "22.04", availabilityDomainIndex: 2, dockerPruneAfterHours: 1, imageId: "ocid1.image.oc1..x", availabilityDomain: "AD-3" };
    expect(resolveNodeOptions(given)).toEqual({ ...given, planTimeChecks: [] });
  });

  const refused = (options: NodeOptions, message: string, names = {}) => expect(() => resolveNodeOptions(options, names)).toThrow(message);
  const accepted = (options: NodeOptions) => expect(() => resolveNodeOptions(options)).not.toThrow();

  test("A1.Flex: 1 to 80 whole OCPUs, 1 to 512 whole GB, 1 to 64 GB per OCPU", () => {
    accepted({ ocpus: 80, memoryInGbs: 512 });
    accepted({ ocpus: 2, memoryInGbs: 2 });
    accepted({ ocpus: 2, memoryInGbs: 128 });
    accepted({ ocpus: 1, memoryInGbs: 1 });
    refused({ ocpus: 0 }, "ocpus: 0 is out of range; use a whole number of OCPUs for VM.Standard.A1.Flex from 1 to 80");
    refused({ ocpus: 81, memoryInGbs: 100 }, "ocpus: 81 is out of range");
    refused({ ocpus: 1.5 }, "ocpus: 1.5 is out of range");
    refused({ memoryInGbs: 513, ocpus: 10 }, "memoryInGbs: 513 is out of range; use a whole number of GB for VM.Standard.A1.Flex from 1 to 512");
    refused({ ocpus: 2, memoryInGbs: 1 }, "memoryInGbs: VM.Standard.A1.Flex takes 1 to 64 GB per OCPU; 1 GB does not fit 2 OCPU(s)");
    refused({ ocpus: 2, memoryInGbs: 129 }, "memoryInGbs: VM.Standard.A1.Flex takes 1 to 64 GB per OCPU; 129 GB does not fit 2 OCPU(s)");
  });

  test("the props are named as the caller says", () => {
    refused({ ocpus: 2, memoryInGbs: 1 }, "memoryGbPerNode: VM.Standard.A1.Flex takes", { memoryInGbs: "memoryGbPerNode" });
    refused({ ocpus: 0 }, "ocpusPerNode: 0 is out of range", { ocpus: "ocpusPerNode" });
    refused({ shape: "BM.x" }, 'nodeShape: "BM.x" is not', { shape: "nodeShape" });
  });

  test("E2.1.Micro: a fixed 1 OCPU and 1 GB", () => {
    accepted({ shape: "VM.Standard.E2.1.Micro", ocpus: 1, memoryInGbs: 1 });
    refused({ shape: "VM.Standard.E2.1.Micro", ocpus: 2, memoryInGbs: 1 }, "ocpus: VM.Standard.E2.1.Micro is a fixed shape; count it as 1 OCPU");
    refused({ shape: "VM.Standard.E2.1.Micro", memoryInGbs: 2 }, "memoryInGbs: VM.Standard.E2.1.Micro has 1 GB");
    // The A1 defaults do not fit it.
    refused({ shape: "VM.Standard.E2.1.Micro" }, "memoryInGbs: VM.Standard.E2.1.Micro has 1 GB");
  });

  test("other VM shapes: 1 to 256 OCPUs, 1 to 4096 GB, fractions allowed; a name that is no VM shape is refused", () => {
    accepted({ shape: "VM.Standard.E4.Flex", ocpus: 256, memoryInGbs: 4096 });
    accepted({ shape: "VM.Standard3.Flex", ocpus: 1.5, memoryInGbs: 2.5 });
    accepted({ shape: "VM.Standard.E4.Flex", ocpus: 1, memoryInGbs: 100 });
    refused({ shape: "VM.Standard.E4.Flex", ocpus: 257 }, "ocpus: 257 is out of range; use a number of OCPUs from 1 to 256");
    refused({ shape: "VM.Standard.E4.Flex", ocpus: 0.9 }, "ocpus: 0.9 is out of range");
    refused({ shape: "VM.Standard.E4.Flex", memoryInGbs: 4097 }, "memoryInGbs: 4097 is out of range; use a number of GB from 1 to 4096");
    refused({ shape: "VM.Standard.E4.Flex", memoryInGbs: 0.5 }, "memoryInGbs: 0.5 is out of range");
    refused({ shape: "BM.Standard.E4.128" }, 'shape: "BM.Standard.E4.128" is not an OCI VM shape name like VM.Standard.A1.Flex');
    refused({ shape: "VM.Standard E4" }, 'shape: "VM.Standard E4" is not');
    refused({ shape: "xVM.Standard.E4" }, 'shape: "xVM.Standard.E4" is not');
    refused({ shape: "VM.Standard.E4;" }, 'shape: "VM.Standard.E4;" is not');
  });

  test("Terraform values: a Terraform shape gets the general limits; Terraform sizes are left to Terraform", () => {
    const { stack } = newStack();
    const shape = new TerraformVariable(stack, "shape", { type: "string" }).stringValue;
    const ocpus = new TerraformVariable(stack, "ocpus", { type: "number" }).numberValue;
    accepted({ shape, ocpus: 1.5, memoryInGbs: 4096 });
    refused({ shape, ocpus: 257 }, "ocpus: 257 is out of range; use a number of OCPUs from 1 to 256");
    accepted({ ocpus, memoryInGbs: 512 });
    accepted({ shape: "VM.Standard.E2.1.Micro", ocpus, memoryInGbs: 1 });
    const memory = new TerraformVariable(stack, "memory", { type: "number" }).numberValue;
    accepted({ ocpus: 80, memoryInGbs: memory });
    accepted({ shape: "VM.Standard.E2.1.Micro", ocpus: 1, memoryInGbs: memory });
  });

  test("the boot volume: 50 to 32768 whole GB", () => {
    accepted({ bootVolumeSizeInGbs: 50 });
    accepted({ bootVolumeSizeInGbs: 32768 });
    refused({ bootVolumeSizeInGbs: 49 }, "bootVolumeSizeInGbs: 49 is out of range; use a whole number of GB from 50 to 32768");
    refused({ bootVolumeSizeInGbs: 32769 }, "bootVolumeSizeInGbs: 32769 is out of range");
    refused({ bootVolumeSizeInGbs: 60.5 }, "bootVolumeSizeInGbs: 60.5 is out of range");
  });

  test("Ubuntu release, availability domain index and cleanup age", () => {
    refused({ ubuntuVersion: "26.04" }, 'ubuntuVersion: "26.04" is not allowed; use one of 24.04, 22.04');
    accepted({ availabilityDomainIndex: 2 });
    refused({ availabilityDomainIndex: 3 }, "availabilityDomainIndex: 3 is out of range; use a whole number from 0 to 2");
    refused({ availabilityDomainIndex: -1 }, "availabilityDomainIndex: -1 is out of range");
    refused({ availabilityDomainIndex: 0.5 }, "availabilityDomainIndex: 0.5 is out of range");
    accepted({ dockerPruneAfterHours: 8760 });
    refused({ dockerPruneAfterHours: 0 }, "dockerPruneAfterHours: 0 is out of range; use a whole number of hours from 1 to 8760");
    refused({ dockerPruneAfterHours: 8761 }, "dockerPruneAfterHours: 8761 is out of range");
    refused({ dockerPruneAfterHours: 1.5 }, "dockerPruneAfterHours: 1.5 is out of range");
  });

  test("a Terraform Ubuntu release is checked at plan time, under the name the caller gives", () => {
    const { stack, resolve } = newStack();
    const version = new TerraformVariable(stack, "ubuntu", { type: "string" }).stringValue;
    const checks = resolveNodeOptions({ ubuntuVersion: version }, { ubuntuVersion: "ubuntuRelease" }).planTimeChecks;
    expect(checks.map((check) => [resolve(check.condition), check.errorMessage])).toEqual([
      ['${can(regex("^(24\\\\.04|22\\\\.04)$", var.ubuntu))}', "ubuntuRelease: the value is not allowed; use one of 24.04, 22.04."],
    ]);
  });
});

describe("lookups and tags", () => {
  test("releaseTags: the release's tag beside the user's, also when the user's are a Terraform map", () => {
    const { stack, resolve, release } = newStack();
    expect(releaseTags(release, undefined)).toEqual({ "dokploy-oci-release": SHA });
    expect(releaseTags(release, { team: "ops" })).toEqual({ team: "ops", "dokploy-oci-release": SHA });
    const tags = new TerraformVariable(stack, "tags", { type: "map(string)" }).value as Record<string, string>;
    expect(resolve(releaseTags(release, tags))).toBe(`\${merge(var.tags, {"dokploy-oci-release" = "${SHA}"})}`);
  });

  test("ubuntuImageId: the newest Canonical Ubuntu image for the shape, one lookup per release and shape", () => {
    const { stack, resolve } = newStack();
    expect(resolve(ubuntuImageId(stack, "c", "24.04", "VM.Standard.A1.Flex"))).toBe("${data.oci_core_images.UbuntuImage-24-04-VM-Standard-A1-Flex.images[0].id}");
    ubuntuImageId(stack, "c", "24.04", "VM.Standard.A1.Flex");
    ubuntuImageId(stack, "c", "22.04", "VM.Standard.A1.Flex");
    const images = JSON.parse(Testing.synth(stack)).data.oci_core_images;
    expect(images).toEqual({
      "UbuntuImage-24-04-VM-Standard-A1-Flex": {
        compartment_id: "c",
        operating_system: "Canonical Ubuntu",
        operating_system_version: "24.04",
        shape: "VM.Standard.A1.Flex",
        sort_by: "TIMECREATED",
        sort_order: "DESC",
      },
      "UbuntuImage-22-04-VM-Standard-A1-Flex": expect.objectContaining({ operating_system_version: "22.04" }),
    });
  });

  test("availabilityDomainName: the domain at an index (past the region's: a plan error), or wrapped on purpose; one lookup", () => {
    const { stack, resolve } = newStack();
    expect(resolve(availabilityDomainName(stack, "c", 1))).toBe("${data.oci_identity_availability_domains.AvailabilityDomains.availability_domains[1].name}");
    expect(resolve(availabilityDomainName(stack, "c", 4, true))).toBe('${element(data.oci_identity_availability_domains.AvailabilityDomains.availability_domains, 4).name}');
    expect(JSON.parse(Testing.synth(stack)).data.oci_identity_availability_domains).toEqual({ AvailabilityDomains: { compartment_id: "c" } });
  });

  test("addPreconditions keeps what was there; removePreconditions takes only the given ones, and leaves none as none", () => {
    const { stack } = newStack();
    const resource = new TerraformResource(stack, "r", { terraformResourceType: "null_resource" });
    const [a, b, c] = ["a", "b", "c"].map((name) => ({ condition: true, errorMessage: name }));
    addPreconditions(resource, a);
    addPreconditions(resource, b, c);
    expect(resource.lifecycle?.precondition).toEqual([a, b, c]);
    removePreconditions(resource, b);
    expect(resource.lifecycle?.precondition).toEqual([a, c]);
    removePreconditions(resource, a, c);
    expect(resource.lifecycle).toEqual({ precondition: undefined });
  });
});

describe("the boot and the instance", () => {
  type Config = NodeConfigBase & { role: "worker"; extra: string };
  const boot = (release: ReturnType<typeof newStack>["release"], ports: () => NodeConfigBase["hostPorts"] = () => []) =>
    nodeCloudConfig<Config>({ role: "worker", config: () => ({ extra: "x" }), hostPorts: ports, release, dockerPruneAfterHours: 12 });

  test("node.json: the role, the node's keys, ports as they are at render time, the metadata guard, the release, upkeep", () => {
    const { release } = newStack();
    const ports: NodeConfigBase["hostPorts"] = [];
    const cloudConfig = boot(release, () => ports);
    ports.push({ protocol: "tcp", port: 80, sources: "0.0.0.0/0" });
    expect(cloudConfig.nodeConfig()).toEqual({
      role: "worker",
      extra: "x",
      hostPorts: [{ protocol: "tcp", port: 80, sources: "0.0.0.0/0" }],
      blockContainerMetadata: true,
      release: {
        url: "https://objectstorage.example.com/p/x/o/",
        maxBytes: 8388608,
        downloadTimeoutSeconds: 120,
        instanceMetadataUrl: "http://169.254.169.254/opc/v2/instance/",
        tag: "dokploy-oci-release",
        intervalSeconds: 30,
        healthSeconds: 60,
      },
      dockerCleanup: { pruneAfterHours: 12 },
      usage: { stateDir: "/var/lib/dokploy-oci/usage", sampleSeconds: 60, windowDays: 7, idleThresholdPercent: 20, instanceMetadataUrl: "http://169.254.169.254/opc/v2/instance/" },
    });
  });

  test("the files: node.json and release.conf (0600, Terraform-filled), the loader (0700) and its unit; the first boot redone until it is on disk", () => {
    const { release } = newStack();
    const yaml = boot(release).renderYaml();
    const paths = [...yaml.matchAll(/^ {2}- path: (\S+)\n {4}permissions: "(\d+)"/gm)].map((match) => `${match[1]} ${match[2]}`);
    expect(paths).toEqual(["/etc/dokploy-oci/node.json 0600", "/etc/dokploy-oci/release.conf 0600", "/opt/dokploy-oci/loader.sh 0700", "/etc/systemd/system/dokploy-release-install.service 0644"]);
    expect(yaml).toMatch(
      /\nruncmd:\n {2}- - systemctl\n {4}- daemon-reload\n {2}- - systemctl\n {4}- enable\n {4}- --now\n {4}- --no-block\n {4}- dokploy-release-install.service\n {2}- - sh\n {4}- -c\n {4}- systemctl is-enabled --quiet dokploy-release-install.service && sync && mkdir -p \/var\/lib\/dokploy-oci && touch \/var\/lib\/dokploy-oci\/first-boot.done && sync\n$/,
    );
    // Before write_files, at every boot (behaviour/first-boot.test.ts runs both commands).
    expect(yaml).toContain(
      "disable_root: true\nbootcmd:\n  - - sh\n    - -c\n    - test -e /var/lib/dokploy-oci/first-boot.done || test -e /var/lib/dokploy-oci/release.json || rm -f /var/lib/cloud/instance/sem/config_*\nwrite_files:\n",
    );
    expect(yaml).toContain("    content: |\n      #!/usr/bin/env bash\n");
  });

  test("the instance: size, image, network, keys and user_data, ignored after creation; the release tag and upload", () => {
    const { stack, release } = newStack();
    const key = openSshPublicKey("ed25519", "me@laptop");
    createNodeInstance(stack, "Node", {
      node: resolveNodeOptions({ bootVolumeSizeInGbs: 60 }),
      compartmentId: "c",
      displayName: "node-1",
      hostnameLabel: "node1",
      subnetId: "subnet",
      nsgIds: ["nsg"],
      sshPublicKeys: [key],
      cloudConfig: boot(release),
      release,
    });
    const instance = JSON.parse(Testing.synth(stack)).resource.oci_core_instance.Node;
    expect({ ...instance, metadata: undefined }).toEqual({
      compartment_id: "c",
      availability_domain: "${data.oci_identity_availability_domains.AvailabilityDomains.availability_domains[0].name}",
      display_name: "node-1",
      shape: "VM.Standard.A1.Flex",
      shape_config: { ocpus: 1, memory_in_gbs: 6 },
      source_details: { source_type: "image", source_id: "${data.oci_core_images.UbuntuImage-24-04-VM-Standard-A1-Flex.images[0].id}", boot_volume_size_in_gbs: "60" },
      create_vnic_details: { subnet_id: "subnet", assign_public_ip: "true", hostname_label: "node1", nsg_ids: ["nsg"] },
      availability_config: { recovery_action: "RESTORE_INSTANCE" },
      preserve_boot_volume: false,
      freeform_tags: { "dokploy-oci-release": SHA },
      depends_on: ["null_resource.upload"],
      lifecycle: { ignore_changes: ["source_details[0].source_id", "metadata"] },
      metadata: undefined,
    });
    expect(instance.metadata.ssh_authorized_keys).toBe(`\${join("\\n", ["${key}"])}`);
    expect(instance.metadata.user_data).toMatch(/^\$\{base64gzip\(join\("", \["#cloud-config\\n/);
  });

  test("a fixed shape gets no shape_config; given image, domain and placement win; preconditions are kept", () => {
    const { stack, release } = newStack();
    const check = { condition: true, errorMessage: "given" };
    createNodeInstance(stack, "Node", {
      node: resolveNodeOptions({ shape: "VM.Standard.E2.1.Micro", ocpus: 1, memoryInGbs: 1, imageId: "image", availabilityDomain: "AD-2" }),
      compartmentId: "c",
      faultDomain: "FAULT-DOMAIN-2",
      displayName: "n",
      hostnameLabel: "n",
      subnetId: "s",
      nsgIds: [],
      privateIp: "10.0.0.5",
      sshPublicKeys: [openSshPublicKey("ed25519")],
      cloudConfig: boot(release),
      release,
      preconditions: [check],
    });
    const instance = JSON.parse(Testing.synth(stack)).resource.oci_core_instance.Node;
    expect(instance.shape_config).toBeUndefined();
    expect(instance.source_details.source_id).toBe("image");
    expect(instance.availability_domain).toBe("AD-2");
    expect(instance.fault_domain).toBe("FAULT-DOMAIN-2");
    expect(instance.create_vnic_details.private_ip).toBe("10.0.0.5");
    expect(instance.lifecycle.precondition).toEqual([{ condition: true, error_message: "given" }]);
  });

  test("the instance's own availability domain wins over the node's", () => {
    const { stack, release } = newStack();
    createNodeInstance(stack, "Node", {
      node: resolveNodeOptions({ availabilityDomain: "AD-2" }),
      availabilityDomain: "AD-3",
      compartmentId: "c",
      displayName: "n",
      hostnameLabel: "n",
      subnetId: "s",
      nsgIds: [],
      sshPublicKeys: [openSshPublicKey("ed25519")],
      cloudConfig: boot(release),
      release,
    });
    expect(JSON.parse(Testing.synth(stack)).resource.oci_core_instance.Node.availability_domain).toBe("AD-3");
  });

  test("SSH keys that do not fit beside user_data are refused now; Terraform keys are checked at plan time", () => {
    const { stack, release } = newStack();
    const cloudConfig = boot(release);
    const base = { node: resolveNodeOptions({}), compartmentId: "c", displayName: "n", hostnameLabel: "n", subnetId: "s", nsgIds: [], cloudConfig, release };
    // The keys' bytes, newlines between them, against 32,000 less user_data's estimate (the constructs check each key).
    const room = 32000 - cloudConfig.estimateUserDataBytes();
    const half = Math.floor(room / 2);
    expect(() => createNodeInstance(stack, "Exact", { ...base, sshPublicKeys: ["x".repeat(half), "y".repeat(room - half - 1)] })).not.toThrow();
    expect(() => createNodeInstance(stack, "Over", { ...base, sshPublicKeys: ["x".repeat(half), "y".repeat(room - half)] })).toThrow(
      `sshPublicKeys: ${room + 1} bytes of keys, ${room} left: the SSH public keys and the node's user_data together pass OCI's 32000-byte metadata limit; use fewer keys or ed25519 ones`,
    );
    expect(JSON.parse(Testing.synth(stack)).resource.oci_core_instance.Exact.lifecycle).toEqual({ ignore_changes: ["source_details[0].source_id", "metadata"] });
    const keys = new TerraformVariable(stack, "keys", { type: "list(string)" }).listValue;
    const key = new TerraformVariable(stack, "key", { type: "string" }).stringValue;
    createNodeInstance(stack, "Node", { ...base, sshPublicKeys: keys });
    // One key only Terraform knows, among literal ones: the whole list is checked at plan time.
    createNodeInstance(stack, "Mixed", { ...base, sshPublicKeys: ["x".repeat(room), key] });
    const instances = JSON.parse(Testing.synth(stack)).resource.oci_core_instance;
    const [check] = instances.Node.lifecycle.precondition;
    expect(check).toEqual({
      condition: `\${(length(join("\\n", var.keys)) <= ${room})}`,
      error_message: "sshPublicKeys: the SSH public keys and the node's user_data together pass OCI's 32000-byte metadata limit; use fewer keys or ed25519 ones.",
    });
    expect(instances.Mixed.lifecycle.precondition).toEqual([{ ...check, condition: `\${(length(join("\\n", ["${"x".repeat(room)}", var.key])) <= ${room})}` }]);
  });

  test("Tailscale on the node: its section in node.json, its key file filled in by Terraform", () => {
    const { stack, release, resolve } = newStack();
    const authKey = new TerraformVariable(stack, "ts_key", { type: "string", sensitive: true }).stringValue;
    const tailscale = tailscaleHostConfig({ authKey, tags: ["tag:a"] }, "worker-1");
    const cloudConfig = nodeCloudConfig<Config>({ role: "worker", config: () => ({ extra: "x" }), hostPorts: () => [], release, dockerPruneAfterHours: 12, tailscale });
    expect(cloudConfig.nodeConfig().tailscale).toEqual(tailscale.config);
    expect(cloudConfig.renderYaml()).toContain('  - path: /etc/dokploy-oci/tailscale.key\n    permissions: "0600"\n    owner: root:root\n    encoding: b64\n    content: "DOKPLOY_OCI_FILE_2_B64"\n');
    expect(resolve(cloudConfig.renderUserData())).toContain(`base64encode(sensitive(can(regex("^tskey-client-[^?]*$", var.ts_key))`);
  });

  test("user_data between the limit less the keys' reserve and the limit itself is refused", () => {
    const { stack, release } = newStack();
    // Random text does not compress: sized so that the estimate lands between 29,750 and 32,000 bytes.
    const noise = require("crypto").randomBytes(16200).toString("base64");
    const cloudConfig = nodeCloudConfig<Config>({ role: "worker", config: () => ({ extra: noise }), hostPorts: () => [], release, dockerPruneAfterHours: 12 });
    const bytes = cloudConfig.estimateUserDataBytes();
    expect(bytes).toBeGreaterThan(29750);
    expect(bytes).toBeLessThan(32000);
    expect(() =>
      createNodeInstance(stack, "Node", { node: resolveNodeOptions({}), compartmentId: "c", displayName: "worker-9", hostnameLabel: "n", subnetId: "s", nsgIds: [], sshPublicKeys: ["k"], cloudConfig, release }),
    ).toThrow(`worker-9: user_data is about ${bytes} bytes; at most 29750 leaves 2250 for the SSH keys within OCI's 32000-byte metadata limit`);
  });

  test("user_data of exactly what the limit leaves for the keys (29,750 bytes) is taken; one byte more is refused", () => {
    const instance = (bytes: number) => () => {
      const { stack, release } = newStack();
      const cloudConfig = nodeCloudConfig<Config>({ role: "worker", config: () => ({ extra: "x" }), hostPorts: () => [], release, dockerPruneAfterHours: 12 });
      // The estimate stands in for a user_data of that size: random text never compresses to an exact length.
      jest.spyOn(cloudConfig, "estimateUserDataBytes").mockReturnValue(bytes);
      createNodeInstance(stack, "Node", { node: resolveNodeOptions({}), compartmentId: "c", displayName: "worker-9", hostnameLabel: "n", subnetId: "s", nsgIds: [], sshPublicKeys: ["k"], cloudConfig, release });
    };
    expect(instance(29750)).not.toThrow();
    expect(instance(29751)).toThrow("worker-9: user_data is about 29751 bytes; at most 29750 leaves 2250");
  });

  test("user_data past what the metadata limit leaves for keys is refused, naming the node and the figures", () => {
    const { stack, release } = newStack();
    // Random text does not compress: about 40,000 base64 characters.
    const noise = require("crypto").randomBytes(30000).toString("base64");
    const cloudConfig = nodeCloudConfig<Config>({ role: "worker", config: () => ({ extra: noise }), hostPorts: () => [], release, dockerPruneAfterHours: 12 });
    expect(() =>
      createNodeInstance(stack, "Node", { node: resolveNodeOptions({}), compartmentId: "c", displayName: "worker-9", hostnameLabel: "n", subnetId: "s", nsgIds: [], sshPublicKeys: [openSshPublicKey("ed25519")], cloudConfig, release }),
    ).toThrow(/^worker-9: user_data is about \d+ bytes; at most 29750 leaves 2250 for the SSH keys within OCI's 32000-byte metadata limit$/);
  });
});
