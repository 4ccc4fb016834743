/**
 * The real `terraform validate` with the real oracle/oci provider (../shared/providers) on the ORM zip's
 * main.tf.json, the add-ons stack and every example: no error and no warning but the dev-override notice.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { TerraformOutput, TerraformStack, Testing } from "cdktf";
import { OciProvider } from "../../.gen/providers/oci/provider";
import { FreeTierClusterStack } from "../../examples/free-tier-cluster/main";
import { PaidWorkerPoolStack } from "../../examples/paid-worker-pool/main";
import { TailnetAdminClusterStack } from "../../examples/tailnet-admin-cluster/main";
import { TailscaleSidecarStack } from "../../examples/tailscale-sidecar/main";
import { stackAssets, writeOrmPackage } from "../../scripts/lib/orm-package";
import { ADDONS, buildApp } from "../../main";
import { A1_FLEX, E2_MICRO, ubuntuImageId } from "../../lib/oci-node";
import { UBUNTU_VERSIONS } from "../../lib/rules";
import { validateWithRealProvider, withStandIns } from "../helpers/oci-provider";
import { readZipBytes } from "../helpers/orm";

// Loading the 280 MB provider takes seconds to tens of seconds on a busy 2-core machine.
jest.setTimeout(300000);

const DEV_OVERRIDE_NOTICE = "Provider development overrides are in effect";

function expectCleanValidate(stackJson: any, files: ReadonlyArray<[string, Buffer]> = []): void {
  const { valid, diagnostics } = validateWithRealProvider(stackJson, files);
  const unexpected = diagnostics.filter((diagnostic) => diagnostic.summary !== DEV_OVERRIDE_NOTICE);
  expect(unexpected.map((d) => `${d.severity}: ${d.summary}: ${d.detail ?? ""}`)).toEqual([]);
  expect(valid).toBe(true);
}

/** The ORM zip's main.tf.json and every other entry of the zip (the host release), as ORM unpacks them. */
async function ormZip(): Promise<{ json: any; files: Array<[string, Buffer]> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "orm-validate-"));
  try {
    const { stack } = buildApp(undefined, ADDONS);
    const result = await writeOrmPackage({
      stack,
      synthesized: JSON.parse(Testing.synth(stack)),
      outFile: path.join(dir, "stack.zip"),
      schema: { title: "t", description: "d" },
    });
    const entries = await readZipBytes(result.path);
    return { json: JSON.parse(entries.get("main.tf.json")!.toString()), files: [...entries].filter(([name]) => name !== "main.tf.json") };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const ormZipStackJson = async () => (await ormZip()).json;

describe("real terraform validate with oracle/oci 8.28.0", () => {
  test("the ORM zip's main.tf.json, with the host release where the zip puts it (the provider checks the upload's source)", async () => {
    const { json, files } = await ormZip();
    expect(files.map(([name]) => name)).toEqual(expect.arrayContaining([expect.stringMatching(/^assets\/.*\.tar\.gz$/)]));
    expectCleanValidate(json, files);
    // Without the release beside it, the provider refuses the stack: the zip must carry it.
    expect(validateWithRealProvider(json).diagnostics.map((d) => d.summary).join("\n")).toMatch(/cannot get file information for the specified source/);
  });

  test("the add-ons stack (docker resources as stand-ins)", () => {
    expectCleanValidate(JSON.parse(Testing.synth(buildApp(undefined, ADDONS).addons)));
  });

  test.each([
    ["free-tier-cluster", (app: any) => new FreeTierClusterStack(app, "free")],
    ["paid-worker-pool", (app: any) => new PaidWorkerPoolStack(app, "paid")],
    ["tailnet-admin-cluster", (app: any) => new TailnetAdminClusterStack(app, "tailnet")],
    ["tailscale-sidecar", (app: any) => new TailscaleSidecarStack(app, "sidecar")],
  ])("examples/%s", (_name, make) => {
    const stack = make(Testing.app());
    expectCleanValidate(JSON.parse(Testing.synth(stack)), stackAssets(stack));
  });

  test("is not a rubber stamp: an unknown attribute and an output derived from a sensitive value fail", async () => {
    const original = await ormZipStackJson();
    const unknownAttribute = JSON.parse(JSON.stringify(original));
    Object.values<any>(unknownAttribute.resource.oci_core_vcn)[0].no_such_attribute = "x";
    const first = validateWithRealProvider(unknownAttribute);
    expect(first.valid).toBe(false);
    expect(first.diagnostics.map((d) => d.summary)).toContain("Extraneous JSON object property");
    const leak = JSON.parse(JSON.stringify(original));
    leak.output.leak = { value: '${length(var.admin_password) >= 1 ? "set" : "empty"}' };
    const second = validateWithRealProvider(leak);
    expect(second.valid).toBe(false);
    expect(second.diagnostics.map((d) => d.summary)).toContain("Output refers to sensitive values");
  });

  test("stand-ins keep every reference: random values become variables of type any", async () => {
    const json = withStandIns(await ormZipStackJson());
    expect(Object.keys(json.resource).every((type) => type.startsWith("oci_"))).toBe(true);
    expect(Object.keys(json.terraform.required_providers)).toEqual(["oci"]);
    expect(JSON.stringify(json)).not.toMatch(/(?<![\w.])random_password\./);
    const standIns = Object.keys(json.variable).filter((name) => name.startsWith("standin_"));
    expect(standIns.length).toBeGreaterThanOrEqual(2);
    for (const name of standIns) expect(JSON.stringify(json)).toContain(`var.${name}.`);
  });

  test("the image lookup: Canonical Ubuntu of each offered release for each shape, arguments the provider accepts", () => {
    const stack = new TerraformStack(Testing.app(), "images");
    new OciProvider(stack, "oci", { region: "eu-frankfurt-1" });
    for (const version of UBUNTU_VERSIONS) {
      for (const shape of [A1_FLEX, E2_MICRO]) {
        new TerraformOutput(stack, `image-${version}-${shape}`.replace(/\W/g, "-"), { value: ubuntuImageId(stack, "ocid1.compartment.oc1..x", version, shape) });
      }
    }
    const json = JSON.parse(Testing.synth(stack));
    const lookups = Object.values<any>(json.data.oci_core_images).map(({ operating_system, operating_system_version, shape, sort_by, sort_order }) => [
      operating_system,
      operating_system_version,
      shape,
      sort_by,
      sort_order,
    ]);
    expect(lookups.sort()).toEqual([
      ["Canonical Ubuntu", "22.04", "VM.Standard.A1.Flex", "TIMECREATED", "DESC"],
      ["Canonical Ubuntu", "22.04", "VM.Standard.E2.1.Micro", "TIMECREATED", "DESC"],
      ["Canonical Ubuntu", "24.04", "VM.Standard.A1.Flex", "TIMECREATED", "DESC"],
      ["Canonical Ubuntu", "24.04", "VM.Standard.E2.1.Micro", "TIMECREATED", "DESC"],
    ]);
    expectCleanValidate(json);
    // The same lookup with a filter argument the provider does not have is refused.
    Object.values<any>(json.data.oci_core_images)[0].os_version = "24.04";
    expect(validateWithRealProvider(json).valid).toBe(false);
  });
});
