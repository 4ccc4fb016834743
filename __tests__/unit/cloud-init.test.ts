/**
 * lib/cloud-init.ts on its own: the cloud-config YAML, the user_data expression Terraform fills in, and the size
 * estimate, each written out by hand (the estimate: the same YAML gzipped at Terraform's level, base64).
 */
import { DefaultTokenResolver, StringConcat, TerraformStack, TerraformVariable, Testing, Tokenization } from "cdktf";
import { gzipSync } from "zlib";
import { CloudConfig } from "../../lib/cloud-init";

const stack = new TerraformStack(Testing.app(), "cloud-init");
const resolve = (value: unknown) => Tokenization.resolve(value, { scope: stack, preparing: false, resolver: new DefaultTokenResolver(new StringConcat()) });
const secret = new TerraformVariable(stack, "secret", { type: "string", sensitive: true }).stringValue;

const SCRIPT = { path: "/opt/x.sh", content: "echo hi\n", permissions: "0755" };
const RUN = [["systemctl", "start", "x"]];
const b64 = (text: string) => Buffer.from(text).toString("base64");
/** What gzip+base64 of `yaml` measures, as Terraform's base64gzip (Go's default level, 6) makes it. */
const userDataBytes = (yaml: string) => gzipSync(Buffer.from(yaml), { level: 6 }).toString("base64").length;
/** The documented stand-in for a Terraform value: 64 characters of the base64 of its token text, x-padded. */
const standIn = (token: string) => b64(JSON.stringify(token)).padEnd(64, "x").slice(0, 64);

/** The YAML of a node with node.json, optionally one Terraform-filled key file, the script and the command. */
function expectedYaml(nodeJsonB64: string, keyB64?: string): string {
  const terraformFile = (path: string, content: string) =>
    [`  - path: ${path}`, '    permissions: "0600"', "    owner: root:root", "    encoding: b64", `    content: "${content}"`];
  return [
    "#cloud-config",
    "ssh_pwauth: false",
    "disable_root: true",
    "write_files:",
    ...terraformFile("/etc/n.json", nodeJsonB64),
    ...(keyB64 === undefined ? [] : terraformFile("/etc/k", keyB64)),
    "  - path: /opt/x.sh",
    '    permissions: "0755"',
    "    owner: root:root",
    "    content: |",
    "      echo hi",
    "runcmd:",
    "  - - systemctl",
    "    - start",
    "    - x",
    "",
  ].join("\n");
}

describe("renderYaml", () => {
  test("boot commands come before the files, each an argument list; none given, no bootcmd", () => {
    const config = new CloudConfig({ configPath: "/etc/n.json", config: {}, files: [SCRIPT], bootCommands: [["sh", "-c", "test -e /a || rm -f /b"], ["true"]], runCommands: RUN });
    expect(config.renderYaml()).toContain('disable_root: true\nbootcmd:\n  - - sh\n    - -c\n    - test -e /a || rm -f /b\n  - - "true"\nwrite_files:\n');
    expect(new CloudConfig({ configPath: "/etc/n.json", config: {}, files: [SCRIPT], bootCommands: [], runCommands: RUN }).renderYaml()).not.toContain("bootcmd");
  });

  test("key-only SSH, node.json first (a placeholder, quoted), then the Terraform files, then the static ones, then runcmd", () => {
    const config = new CloudConfig({ configPath: "/etc/n.json", config: { a: 1 }, files: [SCRIPT], terraformFiles: [{ path: "/etc/k", content: secret, permissions: "0600" }], runCommands: RUN });
    expect(config.renderYaml()).toBe(expectedYaml("DOKPLOY_OCI_FILE_0_B64", "DOKPLOY_OCI_FILE_1_B64"));
  });

  test("a fill gives each Terraform file's base64; an empty one stays a quoted empty string, not a YAML null", () => {
    const config = new CloudConfig({ configPath: "/etc/n.json", config: {}, files: [SCRIPT], terraformFiles: [{ path: "/etc/k", content: secret, permissions: "0600" }], runCommands: RUN });
    expect(config.renderYaml((index) => (index === 0 ? "e30=" : ""))).toBe(expectedYaml("e30=", ""));
  });

  test("a config function is called at each render: a value added after construction is in", () => {
    const ports: number[] = [];
    const config = new CloudConfig({ configPath: "/etc/n.json", config: () => ({ ports: [...ports] }), files: [SCRIPT], runCommands: RUN });
    ports.push(443);
    expect(config.nodeConfig()).toEqual({ ports: [443] });
    expect(resolve(config.renderUserData())).toContain('base64encode(jsonencode({"ports" = [443]}))');
  });
});

test("renderUserData: the YAML with Terraform's base64 of each file in place, gzipped and base64-encoded by Terraform", () => {
  const config = new CloudConfig({ configPath: "/etc/n.json", config: { a: 1, s: secret }, files: [SCRIPT], terraformFiles: [{ path: "/etc/k", content: secret, permissions: "0600" }], runCommands: RUN });
  const [head, middle, tail] = expectedYaml("SPLIT", "SPLIT").split('"SPLIT"');
  const literal = (text: string) => JSON.stringify(text);
  expect(resolve(config.renderUserData())).toBe(
    `\${base64gzip(join("", [${literal(head + '"')}, base64encode(jsonencode({"a" = 1, "s" = var.secret})), ${literal('"' + middle + '"')}, base64encode(var.secret), ${literal('"' + tail)}]))}`,
  );
});

describe("estimateUserDataBytes", () => {
  test("literal values: the YAML with node.json's base64 in place", () => {
    const config = new CloudConfig({ configPath: "/etc/n.json", config: { a: 1, list: ["x", 2], nested: { b: null } }, files: [SCRIPT], runCommands: RUN });
    expect(config.estimateUserDataBytes()).toBe(userDataBytes(expectedYaml(b64('{"a":1,"list":["x",2],"nested":{"b":null}}'))));
  });

  test("each Terraform value is stood in for by 64 characters; text around it in a file is kept", () => {
    const password = new TerraformVariable(stack, "password", { type: "string", sensitive: true }).stringValue;
    // Values only: three values with no text between them are one value, cut to 64 characters.
    const joined = `${secret}${password}${secret}`;
    const config = new CloudConfig({
      configPath: "/etc/n.json",
      config: { s: secret, list: [password], joined },
      files: [SCRIPT],
      // The text around the values is long enough that standing in for the whole file would change the size.
      terraformFiles: [{ path: "/etc/k", content: `user=admin-of-the-cluster-${"0123456789abcdef".repeat(8)}\nsecret=${secret}\npassword=${password}\n`, permissions: "0600" }],
      runCommands: RUN,
    });
    const [s, p, j] = [standIn(secret), standIn(password), standIn(joined)];
    expect([s, p, j].map((sample) => sample.length)).toEqual([64, 64, 64]);
    // A file's literal text first, then its values' stand-ins, nothing between them.
    const keyFile = `user=admin-of-the-cluster-${"0123456789abcdef".repeat(8)}\nsecret=\npassword=\n${s}${p}`;
    expect(config.estimateUserDataBytes()).toBe(userDataBytes(expectedYaml(b64(`{"s":"${s}","list":["${p}"],"joined":"${j}"}`), b64(keyFile))));
  });
});
