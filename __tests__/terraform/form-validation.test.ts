/**
 * The form's rules travel as Terraform validation blocks: `terraform apply -var ...` (and TF_VAR_) users get the
 * same checks as the Create Stack form. Proven with the real terraform on the ORM stack's own variable blocks.
 */
import { Testing } from "cdktf";
import { parse } from "yaml";
import { buildSchemaYaml } from "../../lib/orm-schema";
import { ormStackJson } from "../../scripts/lib/orm-package";
import { buildApp } from "../../main";
import { ormSchemaErrors } from "../helpers/orm";
import { applyAndReadOutputs, applyExpectingFailure } from "../helpers/terraform";

jest.setTimeout(120000);

const REQUIRED = {
  tenancy_ocid: "ocid1.tenancy.oc1..aaaa",
  region: "eu-frankfurt-1",
  compartment_ocid: "ocid1.compartment.oc1..aaaa",
  // Resource Manager fills it in (the backups bucket's Customer Secret Key belongs to this user).
  current_user_ocid: "ocid1.user.oc1..aaaa",
  ssh_public_keys: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ8w0XqjJcbZ4U0kqR1Yh1zGm9ZQ0j2qZr7tT8qv8Yp me@laptop",
  admin_email: "admin@example.com",
};

let stackJson: any;
let variablesOnly: any;
beforeAll(() => {
  stackJson = ormStackJson(JSON.parse(Testing.synth(buildApp().stack)));
  variablesOnly = { variable: stackJson.variable, output: { ok: { value: "yes" } } };
});

describe("variable validation blocks (real terraform)", () => {
  test("good values pass, including several CIDRs with spaces and edge octets", () => {
    const good = {
      ...REQUIRED,
      admin_cidrs: "203.0.113.7/32, 10.0.0.0/8,255.255.255.255/32,0.0.0.0/0",
      worker_count: "3",
      tenancy_kind: "pay-as-you-go",
      admin_access: "tailnet",
      admin_password: "long enough",
      dokploy_version: "v0.30.2",
      tailscale_tags: "tag:dokploy,tag:servers",
      node_boot_volume_in_gbs: "50",
      ubuntu_version: "22.04",
      backup_schedule: "15 2 * * 1-5",
      backup_keep_latest: "30",
    };
    expect(applyAndReadOutputs(variablesOnly, good).ok.value).toBe("yes");
  });

  test("every bad value is refused with the form's title and rule", () => {
    const output = applyExpectingFailure(variablesOnly, {
      ...REQUIRED,
      admin_cidrs: "300.1.1.1/32",
      admin_email: "nobody",
      worker_count: "1.5",
      node_ocpus: "5",
      tenancy_kind: "paid",
      admin_access: "vpn",
      backup_schedule: "daily; rm -rf /",
      backup_keep_latest: "0",
    }).replace(/\s+/g, " ");
    for (const message of [
      "Admin CIDRs: comma-separated IPv4 CIDR blocks such as 203.0.113.7/32 (octets 0-255 without leading zeros, prefix 0-32).",
      "Dokploy admin email: an email address such as admin@example.com (letters, digits, . _ + - before the @, a domain name after it; at most 254 characters).",
      "Workers: must be a whole number from 0 to 100.",
      "OCPUs per node: must be a whole number from 1 to 4.",
      "Tenancy kind: must be one of always-free, pay-as-you-go.",
      "Admin access: must be one of internet, tailnet.",
      'Backup schedule: a cron expression of five fields such as "0 3 * * *" (daily at 03:00 UTC).',
      "Backups kept: must be a whole number from 1 to 365.",
    ]) {
      expect(output).toContain(message);
    }
  });

  test("sensitive variables carry no validation block: Terraform would print the failing secret", () => {
    for (const name of ["admin_password", "tailscale_auth_key"]) {
      expect(stackJson.variable[name]).toMatchObject({ sensitive: true });
      expect(stackJson.variable[name].validation).toBeUndefined();
    }
  });

  test.each(["1.2.3.4/33", "1.2.3.256/32", "1.2.3.4", "1.2.3.4/32,", "01.2.3.4/32x"])("CIDR %s is refused", (cidr) => {
    expect(applyExpectingFailure(variablesOnly, { ...REQUIRED, admin_cidrs: cidr })).toMatch(/Admin CIDRs: comma-separated IPv4/);
  });

  test("every validation refers to its own variable only (Terraform 1.5)", () => {
    for (const [name, variable] of Object.entries<any>(stackJson.variable)) {
      for (const validation of variable.validation ?? []) {
        expect([...validation.condition.matchAll(/var\.(\w+)/g)].map((match) => match[1]).every((other: string) => other === name)).toBe(true);
      }
    }
  });
});

describe("the availability domain", () => {
  test("is ORM's picker (depends on the compartment); empty picks the region's first domain by index, never by a wrapping element()", () => {
    const { stack } = buildApp();
    const schema = parse(buildSchemaYaml(stack, stackJson, { title: "t", description: "d" }));
    expect(schema.variables.availability_domain).toMatchObject({
      type: "oci:identity:availabilitydomain:name",
      dependsOn: { compartmentId: "${compartment_ocid}" },
      required: false,
    });
    expect(ormSchemaErrors(buildSchemaYaml(stack, stackJson, { title: "t", description: "d" }))).toEqual([]);
    for (const instance of Object.values<any>(stackJson.resource.oci_core_instance)) {
      expect(instance.availability_domain).toBe(
        "${(length(var.availability_domain) < 1) ? data.oci_identity_availability_domains.AvailabilityDomains.availability_domains[0].name : var.availability_domain}",
      );
    }
  });
});
