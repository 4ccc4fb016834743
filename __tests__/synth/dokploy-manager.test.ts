import { randomBytes } from "crypto";
import { TerraformStack, TerraformVariable, Testing } from "cdktf";
import { gunzipSync } from "zlib";
import { parse } from "yaml";
import { CoreInstance } from "../../.gen/providers/oci/core-instance";
import { DataOciCoreImages } from "../../.gen/providers/oci/data-oci-core-images";
import { ClusterNetwork } from "../../constructs/oci/cluster-network";
import { DokployManager, DokployManagerProps, TESTED_DOKPLOY_VERSION } from "../../constructs/oci/dokploy-manager";
import { CloudConfig, OCI_METADATA_LIMIT_BYTES, SSH_KEYS_RESERVE_BYTES } from "../../lib/cloud-init";
import { LOADER_CONFIG_PATH, LOADER_PATH, releaseEntries } from "../../lib/host-release";
import { ormStackJson } from "../../scripts/lib/orm-package";
import { readTemplate } from "../../lib/templates";
import { validateStack } from "../../scripts/lib/validate";
import { cloudInitSchemaCheck } from "../helpers/cloud-init";
import { leftOutLines, notComments, pythonAst, templateText } from "../helpers/shipped-text";
import { openSshPublicKey } from "../helpers/ssh-keys";
import { applyAndReadOutputs, applyExpectingFailure } from "../helpers/terraform";


const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ8w0XqjJcbZ4U0kqR1Yh1zGm9ZQ0j2qZr7tT8qv8Yp user@laptop";

function synthManager(props: Partial<DokployManagerProps> = {}) {
  const stack = new TerraformStack(Testing.app(), "test");
  const network = new ClusterNetwork(stack, "Network", { compartmentId: "ocid1.compartment.oc1..test", adminCidrs: ["203.0.113.0/24"] });
  const manager = new DokployManager(stack, "Manager", {
    compartmentId: "ocid1.compartment.oc1..test",
    network,
    sshPublicKeys: [KEY],
    adminEmail: "admin@example.com",
    ...props,
  });
  return { stack, network, manager, synthesized: Testing.synth(stack) };
}

describe("DokployManager synth", () => {
  test("an Always Free A1 instance (1 OCPU / 6 GB / 100 GB, the one node default) with a fixed private IP in the manager NSG", () => {
    const { synthesized } = synthManager();
    expect(synthesized).toHaveResourceWithProperties(CoreInstance, {
      shape: "VM.Standard.A1.Flex",
      shape_config: { ocpus: 1, memory_in_gbs: 6 },
      source_details: expect.objectContaining({ source_type: "image", boot_volume_size_in_gbs: "100" }),
      create_vnic_details: expect.objectContaining({ private_ip: "10.0.0.10", assign_public_ip: "true", hostname_label: "manager" }),
      lifecycle: { ignore_changes: ["source_details[0].source_id", "metadata"] },
    });
    expect(synthesized).toHaveDataSourceWithProperties(DataOciCoreImages, {
      operating_system: "Canonical Ubuntu",
      operating_system_version: "24.04",
      shape: "VM.Standard.A1.Flex",
      sort_by: "TIMECREATED",
      sort_order: "DESC",
    });
    const instance = Object.values<any>(JSON.parse(synthesized).resource.oci_core_instance)[0];
    expect(instance.create_vnic_details.nsg_ids).toEqual([expect.stringMatching(/oci_core_network_security_group\.Network_ManagerNsg/)]);
    expect(instance.availability_domain).toMatch(/data\.oci_identity_availability_domains\.AvailabilityDomains/);
  });

  test("the token server and swarm ports are never open to the internet; 22 and 3000 only to admin CIDRs", () => {
    const { synthesized } = synthManager();
    const rules = Object.values<any>(JSON.parse(synthesized).resource.oci_core_network_security_group_security_rule);
    const port = (rule: any) => rule.tcp_options?.destination_port_range.min ?? rule.udp_options?.destination_port_range.min;
    const fromInternet = rules.filter((rule) => rule.source === "0.0.0.0/0").map(port).sort();
    expect(fromInternet).toEqual([443, 80]);
    expect(rules.filter((rule) => [22, 3000].includes(port(rule))).map((rule) => rule.source)).toEqual(["203.0.113.0/24", "203.0.113.0/24"]);
    const token = rules.filter((rule) => port(rule) === 9999);
    expect(token).toHaveLength(1);
    expect(token[0]).toMatchObject({ source_type: "NETWORK_SECURITY_GROUP", source: expect.stringMatching(/WorkerNsg/) });
  });

  test("the token server secret and the admin password are generated, sensitive values", () => {
    const { synthesized } = synthManager();
    const passwords = JSON.parse(synthesized).resource.random_password;
    expect(Object.values<any>(passwords).map((p) => p.length).sort()).toEqual([32, 64]);
    expect(JSON.parse(synthesized).provider.random).toBeDefined();
  });

  test("synthesizes clean against the provider schemas", async () => {
    const { synthesized } = synthManager();
    expect(await validateStack(JSON.parse(synthesized))).toEqual([]);
  });
});

describe("the manager's cloud-config", () => {
  test("passes `cloud-init schema` and carries node.json, the loader, what it reads and its unit; the programs are in the release", () => {
    const { manager } = synthManager();
    const yaml = manager.cloudConfig.renderYaml(() => Buffer.from("{}").toString("base64"));
    const check = cloudInitSchemaCheck(yaml);
    expect(check).toMatchObject({ ok: true });
    const document = parse(yaml.replace(/^#cloud-config\n/, ""));
    const files = new Map<string, any>(document.write_files.map((file: any) => [file.path, file]));
    expect([...files.keys()]).toEqual(["/etc/dokploy-oci/node.json", "/etc/dokploy-oci/release.conf", LOADER_PATH, "/etc/systemd/system/dokploy-release-install.service"]);
    expect(LOADER_CONFIG_PATH).toBe("/etc/dokploy-oci/release.conf");
    // Expectations from the template files and python's parser, not from readHostFile, which makes this text.
    const loader: string = files.get(LOADER_PATH).content;
    expect(loader.split("\n").slice(0, 2)).toEqual(["#!/usr/bin/env bash", "set -Eeuo pipefail"]);
    expect(notComments(leftOutLines(templateText("common/loader.sh"), loader))).toEqual([]);
    // node.json holds secrets; release.conf the releases bucket's pre-authenticated URL, a read capability.
    expect(files.get("/etc/dokploy-oci/node.json").permissions).toBe("0600");
    expect(files.get("/etc/dokploy-oci/release.conf").permissions).toBe("0600");
    expect(document.runcmd.slice(0, 2)).toEqual([["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", "--no-block", "dokploy-release-install.service"]]);
    // The first boot is redone until it is on disk (behaviour/first-boot.test.ts).
    expect(document.runcmd[2].slice(-1)[0]).toMatch(/ && touch \/var\/lib\/dokploy-oci\/first-boot\.done && sync$/);
    expect(document.bootcmd).toHaveLength(1);
  });

  test("the release carries the host library, every program and unit, and the metadata guard's units", () => {
    const entries = new Map(releaseEntries().map((entry) => [entry.path, entry]));
    const library = entries.get("lib/host-lib.sh")!.content;
    expect(library.split("\n")[0]).toBe("# shellcheck shell=bash");
    expect(notComments(leftOutLines(templateText("common/host-lib.sh"), library))).toEqual([]);
    const bootstrap = entries.get("bin/manager-bootstrap.sh")!;
    expect(bootstrap.mode).toBe(0o700);
    expect(bootstrap.content.split("\n").slice(0, 2)).toEqual(["#!/usr/bin/env bash", "set -Eeuo pipefail"]);
    expect(notComments(leftOutLines(templateText("manager/bootstrap.sh"), bootstrap.content))).toEqual([]);
    expect(bootstrap.content.length).toBeLessThan(templateText("manager/bootstrap.sh").length);
    expect(pythonAst(entries.get("bin/token-server.py")!.content)).toBe(pythonAst(templateText("manager/token-server.py")));
    // docker.service waits for the guard and fails without it; the slice exists before the saved rules return.
    const unit = (name: string) => entries.get(`systemd/${name}`)!.content;
    expect(unit("docker.service.d/dokploy-metadata-guard.conf")).toMatch(/^Requires=dokploy-metadata-guard\.service$/m);
    expect(unit("dokploy-metadata-guard.service")).toMatch(/^ExecStart=\/opt\/dokploy-oci\/bin\/harden\.sh --metadata-only$/m);
    expect(unit("dokploy-metadata-guard.service")).toMatch(/^Before=docker\.service$/m);
    expect(unit("netfilter-persistent.service.d/dokploy-containers-slice.conf")).toMatch(/^After=dokploy_containers\.slice$/m);
    expect(entries.get("roles/manager")!.content.split("\n")).toContain("dokploy-manager-setup.service --no-block");
  });

  test("installs the Dokploy release the real-Dokploy suite tested, unless dokployVersion says otherwise", () => {
    const version = (props: Partial<DokployManagerProps>) => synthManager(props).manager.cloudConfig.nodeConfig().dokploy.version;
    expect(TESTED_DOKPLOY_VERSION).toBe("v0.30.2");
    expect(version({})).toBe(TESTED_DOKPLOY_VERSION);
    expect(version({ dokployVersion: "latest" })).toBe("latest");
  });

  test("a broken cloud-config is caught by the same check (the check can fail)", () => {
    expect(cloudInitSchemaCheck("#cloud-config\nwrite_files: 7\n").ok).toBe(false);
  });

  test(`user_data leaves room for SSH keys under OCI's ${OCI_METADATA_LIMIT_BYTES}-byte metadata limit`, () => {
    const { manager } = synthManager();
    const bytes = manager.cloudConfig.estimateUserDataBytes();
    console.log(`manager user_data: about ${bytes} bytes (gzip+base64)`);
    expect(bytes).toBeLessThan(OCI_METADATA_LIMIT_BYTES - SSH_KEYS_RESERVE_BYTES);
  });

  test("the estimate counts a Terraform-filled file's own text around the values in it (release.conf's lines)", () => {
    const stack = new TerraformStack(Testing.app(), "estimate");
    const url = new TerraformVariable(stack, "url", { type: "string" }).stringValue;
    const withFile = (content: string) =>
      new CloudConfig({ configPath: "/c.json", config: {}, files: [], terraformFiles: [{ path: "/f", content, permissions: "0600" }], runCommands: [] }).estimateUserDataBytes();
    // 1,500 random bytes as hex: at least 2,000 characters of base64 once gzipped, whatever gzip does.
    const text = randomBytes(1500).toString("hex");
    expect(withFile(`${text}\nurl=${url}\n`) - withFile(url)).toBeGreaterThan(2000);
  });

  test("SSH keys that do not fit beside user_data are refused: at synth when literal, by terraform when a variable", () => {
    const rsa = openSshPublicKey("rsa-4096", "admin@laptop");
    const tooMany = Array.from({ length: 45 }, () => rsa);
    expect(() => synthManager({ sshPublicKeys: tooMany })).toThrow(/sshPublicKeys: \d+ bytes of keys, \d+ left: .*32000-byte metadata limit/);
    expect(() => synthManager({ sshPublicKeys: [rsa, rsa] })).not.toThrow();

    const stack = new TerraformStack(Testing.app(), "keys");
    const network = new ClusterNetwork(stack, "Network", { compartmentId: "c" });
    const keys = new TerraformVariable(stack, "keys", { type: "list(string)" });
    new DokployManager(stack, "Manager", { compartmentId: "c", network, sshPublicKeys: keys.listValue, adminEmail: "a@example.com" });
    const instance = Object.values<any>(JSON.parse(Testing.synth(stack)).resource.oci_core_instance)[0];
    const check = instance.lifecycle.precondition.find((candidate: any) => /sshPublicKeys/.test(candidate.error_message));
    // The same condition, evaluated by real terraform on a provider-free resource.
    const config = {
      variable: { keys: { type: "list(string)" } },
      resource: { terraform_data: { check: { input: true, lifecycle: { precondition: [check] } } } },
    };
    expect(() => applyAndReadOutputs(config, { keys: JSON.stringify([rsa, rsa]) })).not.toThrow();
    expect(applyExpectingFailure(config, { keys: JSON.stringify(tooMany) })).toMatch(/Resource precondition failed[\s\S]*sshPublicKeys/);
  });

  test("terraform renders user_data that decodes to the same files and the config with Terraform's values", () => {
    const stack = new TerraformStack(Testing.app(), "userdata");
    const secret = new TerraformVariable(stack, "secret", { type: "string" });
    const cloudConfig = new CloudConfig({
      configPath: "/etc/dokploy-oci/node.json",
      config: { secret: secret.stringValue, nested: { text: 'quote " dollar ${x} %{y}' }, list: [1, 2] },
      files: [{ path: "/opt/dokploy-oci/bin/manager-bootstrap.sh", content: readTemplate("manager/bootstrap.sh"), permissions: "0700" }],
      runCommands: [["echo", "done"]],
    });
    const { TerraformOutput } = require("cdktf");
    new TerraformOutput(stack, "user_data", { value: cloudConfig.renderUserData() });
    const hardSecret = `s3cr"et\\$\${x}%{y}é`;
    const outputs = applyAndReadOutputs(ormStackJson(JSON.parse(Testing.synth(stack))), { secret: hardSecret });
    const yaml = gunzipSync(Buffer.from(outputs.user_data.value as string, "base64")).toString("utf8");
    expect(yaml.startsWith("#cloud-config\n")).toBe(true);
    const document = parse(yaml);
    expect(document.write_files[1].content).toBe(readTemplate("manager/bootstrap.sh"));
    const config = JSON.parse(Buffer.from(document.write_files[0].content, "base64").toString("utf8"));
    expect(config).toEqual({ secret: hardSecret, nested: { text: 'quote " dollar ${x} %{y}' }, list: [1, 2] });
    expect(cloudInitSchemaCheck(yaml).ok).toBe(true);
  });
});

describe("DokployManager bad input", () => {
  test.each([
    [{ adminEmail: "not-an-email" }, /adminEmail: "not-an-email" is not allowed; use an email address/],
    [{ sshPublicKeys: [] }, /sshPublicKeys: give at least one OpenSSH public key/],
    [{ sshPublicKeys: ["ssh-dss AAAA"] }, /sshPublicKeys\[0\]: not an OpenSSH public key/],
    [{ ocpus: 0 }, /ocpus: 0 is out of range; use a whole number of OCPUs for VM\.Standard\.A1\.Flex from 1 to 80/],
    [{ ocpus: 2, memoryInGbs: 200 }, /memoryInGbs: VM\.Standard\.A1\.Flex takes 1 to 64 GB per OCPU/],
    [{ bootVolumeSizeInGbs: 20 }, /bootVolumeSizeInGbs: 20 is out of range; use a whole number of GB from 50 to 32768/],
    [{ ubuntuVersion: "20.04" }, /ubuntuVersion: "20\.04" is not allowed; use one of 24\.04, 22\.04/],
    [{ availabilityDomainIndex: 3 }, /availabilityDomainIndex: 3 is out of range/],
    [{ adminPassword: "short" }, /adminPassword: the secret must be at least 8 characters/],
    [{ hostNumber: 255 }, /hostNumber: host number 255 is outside 10\.0\.0\.0\/24/],
    [{ tokenServerPort: 80 }, /tokenServerPort: 80 is not a port number \(a whole number from 1024 to 65535/],
  ])("%j is refused naming the prop", (props, message) => {
    expect(() => synthManager(props as Partial<DokployManagerProps>)).toThrow(message);
  });
});

describe("TokenServer secret", () => {
  function tokenServerWith(secret: string) {
    const { TokenServer } = require("../../constructs/oci/token-server");
    const stack = new TerraformStack(Testing.app(), "token");
    const network = new ClusterNetwork(stack, "Network", { compartmentId: "c" });
    return new TokenServer(stack, "TokenServer", { network, privateIp: "10.0.0.10", secret });
  }

  test("a supplied secret must be long enough and fit in an HTTP header", () => {
    expect(() => tokenServerWith("short")).toThrow(/tokenServerSecret: the secret must be at least 32 characters \(got 5\)/);
    expect(() => tokenServerWith(`${"a".repeat(40)} with spaces`)).toThrow(/tokenServerSecret: use printable ASCII characters without spaces/);
    expect(() => tokenServerWith(`${"a".repeat(40)}é`)).toThrow(/tokenServerSecret: use printable ASCII/);
    expect(tokenServerWith(`${"a".repeat(40)}!"#$%&'()*+`).secret).toMatch(/^a{40}/);
  });
});
