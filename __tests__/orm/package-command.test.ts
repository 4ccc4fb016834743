/**
 * The README's first command as a user runs it: `npm run package` in a copy of the package (node_modules and .gen
 * linked, sandbox/package-copy.ts), the progress it prints, the zip it writes, and a run that fails on a prop the
 * user got wrong. The zip's contents are tested in detail by package.test.ts; here, that the command makes it.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { OCI_STACK_NAME } from "../../main";
import { PackageCopy } from "../../sandbox/package-copy";
import { readZip } from "../helpers/orm";

let copy: PackageCopy;
beforeAll(() => {
  copy = new PackageCopy();
});
afterAll(() => copy?.dispose());

const zipFile = () => path.join(copy.root, "dist", `${OCI_STACK_NAME}.zip`);

function npmRunPackage(): { status: number | null; stdout: string; stderr: string } {
  // The default stack: DOKPLOY_ADDONS picks the add-ons stack's pieces, which are not in the zip.
  const env: NodeJS.ProcessEnv = { ...process.env, npm_config_update_notifier: "false" };
  delete env.DOKPLOY_ADDONS;
  const result = spawnSync("npm", ["run", "--silent", "package"], { cwd: copy.root, encoding: "utf8", env });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test("writes dist/dokploy-oci.zip with the stack, schema.yaml and the host release, each step shown, nothing else printed", async () => {
  const { status, stdout, stderr } = npmRunPackage();
  expect({ status, stderr }).toEqual({ status: 0, stderr: "" });
  const lines = stdout.trimEnd().split("\n");
  expect(lines).toEqual([
    expect.stringMatching(/^\[\d+\.\ds\] synthesizing dokploy-oci$/),
    expect.stringMatching(/^\[\d+\.\ds\] synthesized \d+ resources; validating against the oracle\/oci schema and checking references$/),
    expect.stringMatching(/^\[\d+\.\ds\] wrote dist\/dokploy-oci\.zip \(\d+ bytes\): main\.tf\.json, README\.tf, schema\.yaml, assets\/\S+\/[0-9a-f]{64}\.tar\.gz$/),
    "stacks in the zip: dokploy-oci",
  ]);
  const bytes = Number(/\((\d+) bytes\)/.exec(lines[2])![1]);
  expect(fs.statSync(zipFile()).size).toBe(bytes);
  const entries = await readZip(zipFile());
  expect([...entries.keys()]).toEqual(lines[2].slice(lines[2].indexOf("): ") + 3).split(", "));
  const stack = JSON.parse(entries.get("main.tf.json")!);
  expect(stack.terraform.backend).toBeUndefined();
  expect(Object.keys(stack.resource)).toEqual(expect.arrayContaining(["oci_core_instance", "oci_core_vcn", "oci_objectstorage_object"]));
});

test("a prop the user got wrong: the run fails naming it, and leaves no zip behind, not even the older one", () => {
  fs.mkdirSync(path.dirname(zipFile()), { recursive: true });
  fs.writeFileSync(zipFile(), "an older zip");
  const main = path.join(copy.root, "main.ts");
  const text = fs.readFileSync(main, "utf8");
  const at = "      compartmentId: compartment.stringValue,\n";
  expect(text.split(at)).toHaveLength(2);
  fs.writeFileSync(main, text.replace(at, `${at}      namePrefix: "Dokploy_Prod",\n`));
  const { status, stdout, stderr } = npmRunPackage();
  expect(status).toBe(1);
  expect(stderr).toMatch(/^package failed: namePrefix: "Dokploy_Prod" .*1 to 21 lowercase letters, digits and dashes/m);
  expect(stdout).not.toContain("wrote");
  expect(fs.existsSync(zipFile())).toBe(false);
});
