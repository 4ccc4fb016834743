/**
 * The plan-time twins of lib/rules.ts, proven with the real terraform binary: for a hostile corpus, Terraform's
 * verdict (the condition an ORM variable's validation block or a construct's precondition uses) equals the verdict
 * the construct gives at synth time, value by value; and the ORM form's variables refuse the same values with the
 * form's title.
 */
import { DataResource, TerraformStack, TerraformVariable, Testing } from "cdktf";
import { cidrListCondition, parseCidr } from "../../lib/cidr";
import { ormStackJson } from "../../scripts/lib/orm-package";
import { DOKPLOY_VERSION, EMAIL, INSTALLER_URL, NAME_PREFIX, TextRule, UBUNTU_VERSION, checkSshPublicKey, planTimeChecks, sshKeyListCondition } from "../../lib/rules";
import { buildApp } from "../../main";
import { ACCEPTED_EMAILS, REFUSED_EMAILS } from "../helpers/email-addresses";
import { openSshPublicKey } from "../helpers/ssh-keys";
import { applyAndReadOutputs, applyExpectingFailure } from "../helpers/terraform";

jest.setTimeout(300_000);

const ED25519 = openSshPublicKey("ed25519", "me@laptop");
const RSA = openSshPublicKey("rsa-4096", "ops@desk");
const ECDSA = openSshPublicKey("ecdsa-521");
const [, ED_BODY] = ED25519.split(" ");
const [, RSA_BODY] = RSA.split(" ");

const TEXT_CORPUS: Record<string, [TextRule, string[]]> = {
  namePrefix: [NAME_PREFIX, ["a", "acme", "my-prefix1", "a".repeat(21), "", "A", "1abc", "abc-", "a".repeat(22), "a${x}", "a%{x}", "a b", "a\nb", "ab_c", "äb"]],
  installerUrl: [
    INSTALLER_URL,
    ["https://dokploy.com/install.sh", "https://m.example.com:8443/a.sh?x=1", "http://dokploy.com/install.sh", "file:///etc/passwd", "https://", "https://x/$(id)", "https://x/`id`", "https://x/${y}", "https://x\n", " https://x"],
  ],
  dokployVersion: [DOKPLOY_VERSION, ["latest", "canary", "v0.30.2", "0.30.2", "v0.30", "v0.30.2-rc1", "v0.30.2\n", "LATEST", "v0.30.2; id", ""]],
  adminEmail: [EMAIL, [...ACCEPTED_EMAILS, ...REFUSED_EMAILS].map(([, email]) => email)],
  ubuntuVersion: [UBUNTU_VERSION, ["24.04", "22.04", "20.04", "26.04", "24.10", "24x04", "24.04\n", " 24.04", "24.04; id", ""]],
};
const CIDR_CORPUS = ["0.0.0.0/0", "10.0.0.0/8", "203.0.113.7/32", "255.255.255.255/32", "010.0.0.0/8", "10.00.0.0/16", "10.0.0.0/08", "10.0.0.1/24", "203.0.113.7/24", "1.2.3.4/33", "256.0.0.0/8", "10.0.0.0", "10.0.0.0/8\n"];
const SSH_CORPUS = [
  ED25519,
  RSA,
  ECDSA,
  `  ${ED25519} `,
  "ssh-ed25519",
  "ssh-ed25519 AAAA",
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5",
  `ssh-ed25519 ${ED_BODY.slice(0, 60)}`,
  `ssh-ed25519 ${ED_BODY}AAAA`,
  `ssh-ed25519 ${RSA_BODY}`,
  `ssh-rsa ${ED_BODY}`,
  `ssh-dss ${ED_BODY}`,
  `${ED25519}\nssh-ed25519 ${ED_BODY} attacker`,
  `command="id" ${ED25519}`,
];

const synthOk = (check: () => void) => {
  try {
    check();
    return true;
  } catch {
    return false;
  }
};

describe("Terraform's verdict equals the construct's, value by value (real terraform)", () => {
  test("text rules, CIDR blocks and SSH keys", () => {
    const config: any = { variable: {}, output: {} };
    for (const [name, [rule, values]] of Object.entries(TEXT_CORPUS)) {
      config.variable[name] = { type: "list(string)", default: values };
      config.output[name] = { value: `\${[for v in var.${name} : ${rule.terraformCondition("v")}]}` };
    }
    config.variable.cidrs = { type: "list(string)", default: CIDR_CORPUS };
    config.output.cidrs = { value: `\${[for v in var.cidrs : ${cidrListCondition("[v]")}]}` };
    config.variable.keys = { type: "list(string)", default: SSH_CORPUS };
    config.output.keys = { value: `\${[for v in var.keys : ${sshKeyListCondition("[v]")}]}` };
    const outputs = applyAndReadOutputs(config);

    for (const [name, [rule, values]] of Object.entries(TEXT_CORPUS)) {
      const atSynth = values.map((value) => synthOk(() => rule.check(value, name)));
      expect({ name, verdicts: outputs[name].value }).toEqual({ name, verdicts: atSynth });
      // The corpus holds both kinds, so agreement is not agreement on "all good" or "all bad".
      expect(atSynth).toContain(true);
      expect(atSynth).toContain(false);
    }
    const cidrsAtSynth = CIDR_CORPUS.map((cidr) => synthOk(() => parseCidr(cidr, "adminCidrs[0]")));
    expect(outputs.cidrs.value).toEqual(cidrsAtSynth);
    expect(cidrsAtSynth.filter(Boolean)).toHaveLength(4);
    const keysAtSynth = SSH_CORPUS.map((key) => synthOk(() => checkSshPublicKey(key, "sshPublicKeys[0]")));
    // The plan-time form checks the shape (type, encoded type header, base64 groups, ed25519's exact length); the
    // synth-time check also decodes the body. For this corpus both say the same.
    expect(outputs.keys.value).toEqual(keysAtSynth);
    expect(keysAtSynth.filter(Boolean)).toHaveLength(4);
  });
});

describe("a Terraform value fed into a prop is checked at plan time, naming the prop", () => {
  test("preconditions from planTimeChecks pass good values and stop bad ones without repeating them", () => {
    const stack = new TerraformStack(Testing.app(), "plan-time");
    const version = new TerraformVariable(stack, "dokploy_version", { type: "string" });
    const url = new TerraformVariable(stack, "installer_url", { type: "string" });
    const ubuntu = new TerraformVariable(stack, "ubuntu_version", { type: "string", default: "24.04" });
    new DataResource(stack, "node", {
      input: { checked: true },
      lifecycle: {
        precondition: planTimeChecks([DOKPLOY_VERSION, version.stringValue, "dokployVersion"], [INSTALLER_URL, url.stringValue, "installerUrl"], [UBUNTU_VERSION, ubuntu.stringValue, "ubuntuVersion"]),
      },
    });
    const { TerraformOutput } = require("cdktf");
    new TerraformOutput(stack, "ok", { value: "yes" });
    const config = ormStackJson(JSON.parse(Testing.synth(stack)));
    expect(applyAndReadOutputs(config, { dokploy_version: "v0.30.2", installer_url: "https://dokploy.com/install.sh" }).ok.value).toBe("yes");
    const failed = applyExpectingFailure(config, { dokploy_version: "0.30.2; id", installer_url: "https://dokploy.com/install.sh" }).replace(/\s+/g, " ");
    expect(failed).toMatch(/dokployVersion: the value is not allowed; use latest, canary or a release tag/);
    const badUrl = applyExpectingFailure(config, { dokploy_version: "latest", installer_url: "http://evil.example/x.sh" }).replace(/\s+/g, " ");
    expect(badUrl).toMatch(/installerUrl: the value is not allowed; use an https:\/\/ URL/);
    const okUbuntu = { dokploy_version: "latest", installer_url: "https://dokploy.com/install.sh" };
    expect(applyAndReadOutputs(config, { ...okUbuntu, ubuntu_version: "22.04" }).ok.value).toBe("yes");
    const badUbuntu = applyExpectingFailure(config, { ...okUbuntu, ubuntu_version: "26.04" }).replace(/\s+/g, " ");
    expect(badUbuntu).toMatch(/ubuntuVersion: the value is not allowed; use one of 24\.04, 22\.04/);
  });
});

describe("the ORM form's variables refuse what the constructs refuse (real terraform)", () => {
  const REQUIRED = {
    tenancy_ocid: "ocid1.tenancy.oc1..aaaa",
    region: "eu-frankfurt-1",
    compartment_ocid: "ocid1.compartment.oc1..aaaa",
    // Resource Manager fills it in (the backups bucket's Customer Secret Key belongs to this user).
    current_user_ocid: "ocid1.user.oc1..aaaa",
    ssh_public_keys: ED25519,
    admin_email: "admin@example.com",
  };
  let variablesOnly: any;
  beforeAll(() => {
    const stackJson = ormStackJson(JSON.parse(Testing.synth(buildApp().stack)));
    variablesOnly = { variable: stackJson.variable, output: { ok: { value: "yes" } } };
  });

  test("good values pass: several real keys of every kind, CIDRs with spaces", () => {
    const good = { ...REQUIRED, ssh_public_keys: [ED25519, RSA, ECDSA].join(","), admin_cidrs: "203.0.113.0/24, 198.51.100.7/32", dokploy_version: "latest" };
    expect(applyAndReadOutputs(variablesOnly, good).ok.value).toBe("yes");
  });

  test.each([
    ["a CIDR with host bits", { admin_cidrs: "203.0.113.7/24" }, /Admin CIDRs: each CIDR block must be a network address/],
    ["a CIDR with a leading zero", { admin_cidrs: "10.0.0.0/8,010.0.0.0/8" }, /Admin CIDRs: comma-separated IPv4 CIDR blocks/],
    ["a key that is only a prefix", { ssh_public_keys: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5" }, /SSH public keys: each key must be a whole OpenSSH public key line/],
    ["a second key cut short", { ssh_public_keys: `${ED25519},ssh-rsa AAAAB3NzaC1y` }, /SSH public keys: each key must be a whole OpenSSH public key line/],
    ["an rsa body named ed25519", { ssh_public_keys: `ssh-ed25519 ${RSA_BODY}` }, /SSH public keys: each key must be a whole OpenSSH public key line/],
    ["a version without its v", { dokploy_version: "0.30.2" }, /Dokploy version: latest, canary or a release tag/],
    ["a version with shell after it", { dokploy_version: "v0.30.2;id" }, /Dokploy version: latest, canary or a release tag/],
    ["an Ubuntu release the stack does not look up", { ubuntu_version: "26.04" }, /Ubuntu release: must be one of 24\.04, 22\.04/],
  ])("%s", (_name, values, message) => {
    expect(applyExpectingFailure(variablesOnly, { ...REQUIRED, ...values }).replace(/\s+/g, " ")).toMatch(message);
  });
});
