import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { TerraformOutput, TerraformStack, Testing } from "cdktf";
import { parse } from "yaml";
import { writeOrmPackage } from "../../scripts/lib/orm-package";
import { buildRelease } from "../../lib/host-release";
import { createHash } from "crypto";
import { OrmOutput, OrmVariable } from "../../lib/orm-schema";
import { buildApp } from "../../main";
import { ormSchemaErrors, readZip, readZipBytes } from "../helpers/orm";


const SCHEMA = { title: "Test stack", description: "A stack for tests." };
let outDir: string;

beforeEach(() => {
  outDir = fs.mkdtempSync(path.join(os.tmpdir(), "orm-package-"));
});
afterEach(() => fs.rmSync(outDir, { recursive: true, force: true }));

async function packageApp() {
  const { stack } = buildApp();
  const synthesized = JSON.parse(Testing.synth(stack));
  synthesized.terraform.backend = { local: { path: "/home/someone/terraform.tfstate" } };
  const result = await writeOrmPackage({ stack, synthesized, outFile: path.join(outDir, "stack.zip"), schema: SCHEMA });
  return { result, entries: await readZip(result.path) };
}

describe("the ORM zip of the main stack", () => {
  test("carries the host release at the path its object's source names (relative to the zip's root), byte for byte", async () => {
    const { result } = await packageApp();
    const bytes = await readZipBytes(result.path);
    const upload = Object.values<any>(JSON.parse(bytes.get("main.tf.json")!.toString()).resource.oci_objectstorage_object)[0];
    expect(upload.source).toMatch(/^assets\/[^/]+\/[^/]+\/[0-9a-f]{64}\.tar\.gz$/);
    const release = bytes.get(upload.source)!;
    expect(createHash("sha256").update(release).digest("hex")).toBe(upload.object.replace(/\.tar\.gz$/, ""));
    expect(release.equals(buildRelease().bytes)).toBe(true);
  });

  test("holds exactly the stack JSON without backend, one .tf file, schema.yaml and the host release", async () => {
    const { result, entries } = await packageApp();
    const stackJsonText = entries.get("main.tf.json")!;
    const upload = Object.values<any>(JSON.parse(stackJsonText).resource.oci_objectstorage_object)[0];
    expect([...entries.keys()]).toEqual(["main.tf.json", "README.tf", "schema.yaml", upload.source]);
    expect(result.bytes).toBe(fs.statSync(result.path).size);
    const stackJson = JSON.parse(entries.get("main.tf.json")!);
    expect(stackJson.terraform.backend).toBeUndefined();
    expect(stackJson.terraform.required_providers.oci.source).toBe("oracle/oci");
    expect(entries.get("README.tf")!.split("\n").filter((line) => line && !line.startsWith("#"))).toEqual([]);
  });

  test("the provider block carries the region and a 30-minute retry window for capacity errors, never credentials", async () => {
    const { entries } = await packageApp();
    const providers = JSON.parse(entries.get("main.tf.json")!).provider.oci;
    expect(providers).toEqual([{ region: "${var.region}", retry_duration_seconds: 1800 }]);
  });

  test("schema.yaml passes Oracle's meta schema and describes every variable", async () => {
    const { entries } = await packageApp();
    const schemaYaml = entries.get("schema.yaml")!;
    expect(ormSchemaErrors(schemaYaml)).toEqual([]);
    const schema = parse(schemaYaml);
    const stackVariables = Object.keys(JSON.parse(entries.get("main.tf.json")!).variable);
    expect(Object.keys(schema.variables).sort()).toEqual(stackVariables.sort());
    expect(schema.variables.compartment_ocid.type).toBe("oci:identity:compartment:id");
    expect(schema.variables.region.type).toBe("oci:identity:region:name");
    expect(schema.variables.tenancy_ocid.visible).toBe(false);
    const hidden = schema.variableGroups.find((group: any) => group.title === "Hidden");
    expect(hidden).toMatchObject({ visible: false, variables: expect.arrayContaining(["${tenancy_ocid}"]) });
    const grouped = schema.variableGroups.flatMap((group: any) => group.variables.map((ref: string) => ref.slice(2, -1))).sort();
    expect(grouped).toEqual(stackVariables.sort());
  });

  test("the meta-schema check is not a rubber stamp: a wrong schemaVersion or a bare group entry fails it", () => {
    expect(ormSchemaErrors("schemaVersion: 9.9.9\nvariables: {}\n")).not.toEqual([]);
    expect(ormSchemaErrors("schemaVersion: 1.1.0\nvariables: {}\nvariableGroups:\n  - title: A\n    variables: [compartment_ocid]\n")).toEqual([
      '/variableGroups/0/variables/0 must match format "variablereference"',
    ]);
  });
});

describe("schema.yaml types", () => {
  function stackWithVariable(config: ConstructorParameters<typeof OrmVariable>[2]) {
    const stack = new TerraformStack(Testing.app(), "typed");
    const variable = new OrmVariable(stack, "thing", config);
    new TerraformOutput(stack, "echo", { value: variable.value });
    return stack;
  }

  test("sensitive strings become password fields and links keep their display text", async () => {
    const stack = new TerraformStack(Testing.app(), "typed");
    new OrmVariable(stack, "admin_password", { type: "string", sensitive: true, default: "", title: "Password", group: "Admin" });
    new OrmOutput(stack, "dashboard", { value: "http://x:3000", title: "Dashboard", ormType: "link", displayText: "Open Dokploy" });
    new OrmOutput(stack, "secret", { value: "s", sensitive: true, title: "Secret" });
    const result = await writeOrmPackage({ stack, synthesized: JSON.parse(Testing.synth(stack)), outFile: path.join(outDir, "t.zip"), schema: SCHEMA });
    const schemaYaml = (await readZip(result.path)).get("schema.yaml")!;
    expect(ormSchemaErrors(schemaYaml)).toEqual([]);
    const schema = parse(schemaYaml);
    expect(schema.variables.admin_password).toMatchObject({ type: "password", sensitive: true, required: false });
    expect(schema.outputs.dashboard).toMatchObject({ type: "link", displayText: "Open Dokploy" });
    expect(schema.outputs.secret).toMatchObject({ type: "string", sensitive: true });
  });

  test("a variable type the form cannot express is an error naming the variable", async () => {
    const stack = stackWithVariable({ type: "map(string)", default: {}, title: "Tags", group: "Other" });
    await expect(
      writeOrmPackage({ stack, synthesized: JSON.parse(Testing.synth(stack)), outFile: path.join(outDir, "t.zip"), schema: SCHEMA }),
    ).rejects.toThrow(/variable thing: Terraform type map\(string\) has no field in ORM's schema.yaml/);
    expect(fs.readdirSync(outDir)).toEqual([]);
  });

  test("a plain TerraformVariable without a form field is an error naming it", async () => {
    const stack = new TerraformStack(Testing.app(), "plain");
    const { TerraformVariable } = await import("cdktf");
    const v = new TerraformVariable(stack, "forgotten", { type: "string", default: "" });
    new TerraformOutput(stack, "echo", { value: v.value });
    await expect(
      writeOrmPackage({ stack, synthesized: JSON.parse(Testing.synth(stack)), outFile: path.join(outDir, "t.zip"), schema: SCHEMA }),
    ).rejects.toThrow(/variable forgotten: declare it as an OrmVariable/);
  });
});

describe("a stack that fails validation", () => {
  test("stops with the validator's messages and leaves no zip, no partial file, and an older zip untouched", async () => {
    const { stack } = buildApp();
    const synthesized = JSON.parse(Testing.synth(stack));
    synthesized.output = { leak: { value: 'echo "${HOME}"' } };
    const outFile = path.join(outDir, "stack.zip");
    await expect(writeOrmPackage({ stack, synthesized, outFile, schema: SCHEMA })).rejects.toThrow(/output\.leak\.value: "\$\{HOME\}" refers to nothing/);
    expect(fs.readdirSync(outDir)).toEqual([]);

    fs.writeFileSync(outFile, "previous");
    await expect(writeOrmPackage({ stack, synthesized, outFile, schema: SCHEMA })).rejects.toThrow();
    expect(fs.readdirSync(outDir)).toEqual(["stack.zip"]);
    expect(fs.readFileSync(outFile, "utf8")).toBe("previous");
  });
});

describe("npm run package (the main job)", () => {
  test("prints progress and ends with the zip's path, size and stacks", () => {
    const root = path.join(__dirname, "..", "..");
    const output = execFileSync("npm", ["run", "--silent", "package"], { cwd: root, encoding: "utf8", env: { ...process.env, CI: "true" } });
    expect(output).toMatch(/synthesizing dokploy-oci/);
    expect(output).toMatch(/validating/);
    expect(output).toMatch(/wrote dist\/dokploy-oci\.zip \(\d+ bytes\): main\.tf\.json, README\.tf, schema\.yaml/);
    expect(output).toMatch(/stacks in the zip: dokploy-oci/);
    expect(fs.existsSync(path.join(root, "dist", "dokploy-oci.zip"))).toBe(true);
  });

  // After the test above (same file, so never in parallel with it): it replaces the zip that test wrote.
  test("a run that fails removes an older zip, so dist/ never holds one that does not match the sources", () => {
    const root = path.join(__dirname, "..", "..");
    const zip = path.join(root, "dist", "dokploy-oci.zip");
    fs.mkdirSync(path.dirname(zip), { recursive: true });
    fs.writeFileSync(zip, "an older zip");
    let failure: any;
    try {
      execFileSync("npm", ["run", "--silent", "package"], { cwd: root, encoding: "utf8", env: { ...process.env, CI: "true", DOKPLOY_ADDONS: "no-such-addon" }, stdio: "pipe" });
    } catch (error) {
      failure = error;
    }
    expect(failure?.status).toBe(1);
    expect(failure.stderr).toMatch(/package failed: DOKPLOY_ADDONS: "no-such-addon" is not one of/);
    expect(fs.existsSync(zip)).toBe(false);
  });
});
