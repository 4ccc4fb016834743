/**
 * Terraform 1.5 is the floor (OCI Resource Manager runs 1.5.x only): every stack the repo synthesizes states it in
 * required_version and uses no language feature added later. Checked, with the version that added each:
 *   removed blocks (1.7), import blocks with for_each (1.7), provider-defined functions `provider::` and the
 *   `core::` function namespace (1.8), issensitive() (1.8), variable validations that refer to other variables
 *   (1.9), templatestring() (1.9), ephemeral variables/outputs/resources and ephemeralasnull() (1.10),
 *   write-only attributes `*_wo` (1.11), import blocks with `identity` (1.12), `action` blocks and lifecycle
 *   action_trigger (1.14). Allowed, being 1.5 or older: check blocks, import blocks (1.5), moved blocks (1.1),
 *   terraform_data (1.4), pre/postconditions (1.2), nonsensitive (0.15). Every function called must also be a real
 *   built-in of the installed terraform (`terraform metadata functions -json`) and one of the functions written out
 *   below, each in Terraform 1.5's function reference: a function the stacks start to call fails the test until it is
 *   checked against 1.5 and added, whatever terraform is installed here.
 * No Terraform 1.5.x binary is on this machine or in ../shared (only the installed 1.11), and none can be fetched
 * offline, so the floor is checked by these lists and not by running 1.5 itself.
 */
import { execFileSync } from "child_process";
import * as semver from "semver";
import { TerraformStack, Testing } from "cdktf";
import { FreeTierClusterStack } from "../../examples/free-tier-cluster/main";
import { PaidWorkerPoolStack } from "../../examples/paid-worker-pool/main";
import { TailnetAdminClusterStack } from "../../examples/tailnet-admin-cluster/main";
import { TailscaleSidecarStack } from "../../examples/tailscale-sidecar/main";
import { ormStackJson } from "../../scripts/lib/orm-package";
import { TERRAFORM_REQUIRED_VERSION } from "../../lib/providers";
import { ADDONS, buildApp } from "../../main";
import { requireTerraform } from "../helpers/terraform";

jest.setTimeout(120000);

const TOP_LEVEL_1_5 = ["terraform", "provider", "variable", "locals", "resource", "data", "output", "module", "moved", "import", "check"];
const FUNCTIONS_AFTER_1_5 = ["issensitive", "templatestring", "ephemeralasnull"];
// What the stacks call today, each a Terraform 1.5 built-in.
const FUNCTIONS_IN_1_5 = new Set([
  "alltrue", "base64encode", "base64gzip", "can", "cidrhost", "coalesce", "compact", "concat", "contains", "element", "floor", "format",
  "join", "jsonencode", "length", "merge", "nonsensitive", "regex", "replace", "sensitive", "sha256", "split", "substr", "toset",
  "trimspace", "try", "one", "flatten",
]);

/** Every problem found, each naming where. */
function post15Features(json: any, builtins: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  for (const key of Object.keys(json)) if (!TOP_LEVEL_1_5.includes(key)) problems.push(`top-level block "${key}" is not Terraform 1.5`);
  for (const [name, variable] of Object.entries<any>(json.variable ?? {})) {
    if ("ephemeral" in variable) problems.push(`variable ${name}: ephemeral (1.10)`);
    for (const validation of variable.validation ?? []) {
      const others = [...String(validation.condition).matchAll(/\bvar\.([A-Za-z_][\w-]*)/g)].map((match) => match[1]).filter((other) => other !== name);
      if (others.length > 0) problems.push(`variable ${name}: validation refers to var.${others.join(", var.")} (1.9)`);
    }
  }
  for (const [name, output] of Object.entries<any>(json.output ?? {})) if ("ephemeral" in output) problems.push(`output ${name}: ephemeral (1.10)`);
  for (const [name, block] of Object.entries<any>(json.import ?? [])) {
    if ("for_each" in block) problems.push(`import ${name}: for_each (1.7)`);
    if ("identity" in block) problems.push(`import ${name}: identity (1.12)`);
  }
  for (const [type, named] of Object.entries<any>(json.resource ?? {})) {
    for (const [name, resource] of Object.entries<any>(named)) {
      for (const attribute of Object.keys(resource)) if (/_wo(_version)?$/.test(attribute)) problems.push(`${type}.${name}.${attribute}: write-only attribute (1.11)`);
      if (resource.lifecycle?.action_trigger) problems.push(`${type}.${name}: lifecycle.action_trigger (1.14)`);
    }
  }
  walkStrings(json, "", (where, text) => {
    if (!text.includes("${")) return;
    // Quoted literals inside an expression (scripts, YAML) are text, not calls.
    const code = text.replace(/"(?:[^"\\]|\\.)*"/g, '""');
    for (const match of code.matchAll(/([A-Za-z_][\w]*(?:::[\w]+)*)\s*\(/g)) {
      const fn = match[1];
      if (fn.includes("::")) problems.push(`${where}: ${fn}() is a namespaced function (provider:: or core::, 1.8)`);
      else if (FUNCTIONS_AFTER_1_5.includes(fn)) problems.push(`${where}: ${fn}() is newer than Terraform 1.5`);
      else if (!builtins.has(fn)) problems.push(`${where}: ${fn}() is not a Terraform function`);
      else if (!FUNCTIONS_IN_1_5.has(fn)) problems.push(`${where}: ${fn}() is not on the list of Terraform 1.5 functions checked so far`);
    }
  });
  return problems;
}

function walkStrings(value: any, where: string, visit: (where: string, text: string) => void): void {
  if (typeof value === "string") visit(where, value);
  else if (Array.isArray(value)) value.forEach((item, index) => walkStrings(item, `${where}[${index}]`, visit));
  else if (value !== null && typeof value === "object") for (const [key, inner] of Object.entries(value)) walkStrings(inner, where ? `${where}.${key}` : key, visit);
}

let builtins: Set<string>;
beforeAll(() => {
  requireTerraform();
  const metadata = JSON.parse(execFileSync("terraform", ["metadata", "functions", "-json"], { encoding: "utf8", env: { ...process.env, CHECKPOINT_DISABLE: "1" } }));
  builtins = new Set(Object.keys(metadata.function_signatures).filter((name) => !name.includes("::")));
});

const app = () => Testing.app();
const STACKS: Array<[string, () => TerraformStack, boolean]> = [
  ["the ORM stack", () => buildApp(undefined, ADDONS).stack, true],
  ["the add-ons stack", () => buildApp(undefined, ADDONS).addons, true],
  ["examples/free-tier-cluster", () => new FreeTierClusterStack(app(), "free"), true],
  ["examples/paid-worker-pool", () => new PaidWorkerPoolStack(app(), "paid"), true],
  ["examples/tailnet-admin-cluster", () => new TailnetAdminClusterStack(app(), "tailnet"), true],
  ["examples/tailscale-sidecar", () => new TailscaleSidecarStack(app(), "sidecar"), false],
];

describe("Terraform 1.5 is the floor", () => {
  test.each(STACKS)("%s uses nothing newer than Terraform 1.5", (_name, make, statesFloor) => {
    const json = ormStackJson(JSON.parse(Testing.synth(make())));
    if (statesFloor) expect(json.terraform.required_version).toBe(TERRAFORM_REQUIRED_VERSION);
    expect(post15Features(json, builtins)).toEqual([]);
  });

  test("the stated floor admits every 1.5.x and nothing older", () => {
    for (const version of ["1.5.0", "1.5.7", "1.11.4"]) expect([version, semver.satisfies(version, TERRAFORM_REQUIRED_VERSION)]).toEqual([version, true]);
    expect(semver.satisfies("1.4.7", TERRAFORM_REQUIRED_VERSION)).toBe(false);
  });

  test("the walk finds each listed feature", () => {
    const json = {
      removed: { from: "x.y" },
      variable: {
        a: { type: "string", ephemeral: true, validation: [{ condition: "${var.a != var.b}", error_message: "m" }] },
        b: { type: "string", validation: [{ condition: "${length(var.b) > 0}", error_message: "m" }] },
      },
      output: { o: { value: '${templatestring(local.t, {})} ${provider::oci::f("x")} ${issensitive(var.a)} ${nosuchfn(1)} ${join(",", ["log(x)"])} ${upper("a")}', ephemeral: true },
      },
      import: { i: { for_each: "${var.x}", to: "a.b", id: "c" } },
      resource: { oci_thing: { t: { password_wo: "x", lifecycle: { action_trigger: [] } } } },
    };
    expect(post15Features(json, builtins)).toEqual([
      'top-level block "removed" is not Terraform 1.5',
      "variable a: ephemeral (1.10)",
      "variable a: validation refers to var.b (1.9)",
      "output o: ephemeral (1.10)",
      "import i: for_each (1.7)",
      "oci_thing.t.password_wo: write-only attribute (1.11)",
      "oci_thing.t: lifecycle.action_trigger (1.14)",
      "output.o.value: templatestring() is newer than Terraform 1.5",
      "output.o.value: provider::oci::f() is a namespaced function (provider:: or core::, 1.8)",
      "output.o.value: issensitive() is newer than Terraform 1.5",
      "output.o.value: nosuchfn() is not a Terraform function",
      "output.o.value: upper() is not on the list of Terraform 1.5 functions checked so far",
    ]);
  });
});
