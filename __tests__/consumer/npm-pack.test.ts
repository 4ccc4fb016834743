/**
 * The package as a user gets it: `npm pack`, then a stock `cdktf init --template=typescript` app built from the
 * template files of the cdktf-cli release matching our cdktf (fetched with `npm pack cdktf-cli@<version>`, from
 * npm's cache where it can), with the dependencies its init hook installs. The app imports `dokploy-oci` and
 * `dokploy-oci/providers/oci`, type-checks under the template's own tsconfig.json (CommonJS resolution, which ignores
 * `exports`), and synthesizes with the template's cdktf.json command; the result validates clean. Then the same app
 * on CDK Terrain (cdktn, the community continuation of the archived cdktf), installed the way the README says.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { validateStack } from "../../scripts/lib/validate";

jest.setTimeout(900_000);

const ROOT = path.join(__dirname, "..", "..");
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ8w0XqjJcbZ4U0kqR1Yh1zGm9ZQ0j2qZr7tT8qv8Yp consumer@test";
const TEMPLATE_FILES = ["package.json", "tsconfig.json", "cdktf.json", "main.ts"];

/** main.ts as a user would write it in the template's app: the cluster, and the swarm-side SSH proxy. */
const CONSUMER_MAIN = `import { Construct } from "constructs";
import { App, TerraformStack } from "cdktf";
import { DockerProvider } from "@cdktf/provider-docker/lib/provider";
import { DokployCluster, SshProxy } from "dokploy-oci";
import { provider } from "dokploy-oci/providers/oci";

class ClusterStack extends TerraformStack {
  public readonly cluster: DokployCluster;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    new provider.OciProvider(this, "oci", { region: "eu-frankfurt-1" });
    this.cluster = new DokployCluster(this, "Cluster", {
      compartmentId: "ocid1.compartment.oc1..consumer",
      sshPublicKeys: [${JSON.stringify(KEY)}],
      adminEmail: "me@example.com",
      dokployVersion: "v0.30.2",
      namePrefix: "consumer",
    });
  }
}

class AddonsStack extends TerraformStack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    new DockerProvider(this, "docker", { host: "ssh://ubuntu@203.0.113.10" });
    SshProxy.nextcloud(this, "NextcloudProxy", { targetService: "nextcloud", authorizedKeys: [${JSON.stringify(KEY)}] });
  }
}

const app = new App();
new ClusterStack(app, "consumer");
new AddonsStack(app, "addons");
app.synth();
`;

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, {
    cwd,
    encoding: "utf8",
    env: { ...process.env, npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false", CHECKPOINT_DISABLE: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** `npm pack --json` prints lifecycle output first; the JSON array is the last thing on stdout. */
function packed(output: string): { filename: string; size: number; files: Array<{ path: string }> } {
  return JSON.parse(output.slice(output.lastIndexOf("\n[\n") + 1))[0];
}

const versionOf = (name: string) => require(path.join(ROOT, "node_modules", name, "package.json")).version as string;

/** CDK Terrain's release the README's recipe names, and the constructs release inside its peer range. */
const CDKTN_VERSION = "0.24.0";
const CDKTN_CONSTRUCTS_VERSION = "10.7.0";

/** The stacks an app synthesized, its own folder written as <project> (the state path, the proxy's build context). */
function synthesizedStacks(project: string): Record<string, any> {
  const read = (name: string) => fs.readFileSync(path.join(project, "cdktf.out", "stacks", name, "cdk.tf.json"), "utf8").replaceAll(project, "<project>");
  return { consumer: JSON.parse(read("consumer")), addons: JSON.parse(read("addons")) };
}

describe("the npm package in a user's app", () => {
  let work: string;
  let manifestBefore: string;
  let ours: ReturnType<typeof packed>;
  beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "dokploy-oci-consumer-"));
    manifestBefore = fs.readFileSync(path.join(ROOT, "package.json"), "utf8");
    ours = packed(run("npm", ["pack", "--json", "--pack-destination", work], ROOT));
  });
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  test("a stock cdktf init TypeScript app: a consumer-clean package installs, type-checks, synthesizes and validates clean", async () => {
    // The developer's package.json is back as it was once the pack is done.
    expect(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).toBe(manifestBefore);
    const files = ours.files.map((file) => file.path);
    expect(files).toEqual(expect.arrayContaining(["templates/manager/bootstrap.sh", "lib/schemas/oracle-oci.json", "dist/constructs/index.js", "dist/.gen/providers/oci/index.d.ts"]));
    expect(files.filter((file) => /(^__tests__|^scripts|^bench|\.ts$(?<!\.d\.ts)|cdktf\.out|\.zip$|node_modules|\.package\.dev\.json)/.test(file))).toEqual([]);
    console.log(`packed ${ours.filename}: ${ours.size} bytes, ${files.length} files`);

    // The packed manifest: nothing that runs in the consumer's install, no dev tooling, cdktf as a range.
    const unpacked = path.join(work, "unpacked");
    fs.mkdirSync(unpacked);
    run("tar", ["-xzf", path.join(work, ours.filename), "-C", unpacked, "package/package.json"], work);
    const manifest = JSON.parse(fs.readFileSync(path.join(unpacked, "package", "package.json"), "utf8"));
    expect(manifest.scripts).toBeUndefined();
    expect(manifest.devDependencies).toBeUndefined();
    expect(manifest.peerDependencies.cdktf).toMatch(/^\^0\.\d+\.\d+$/);
    expect(manifest.typesVersions).toEqual({ "*": { "providers/oci": ["dist/.gen/providers/oci/index.d.ts"] } });

    // The template files of the cdktf-cli release that matches our cdktf, as `cdktf init` writes them.
    const cdktfVersion = versionOf("cdktf");
    const cli = packed(run("npm", ["pack", `cdktf-cli@${cdktfVersion}`, "--json", "--prefer-offline", "--pack-destination", work], work));
    const template = "package/bundle/templates/typescript";
    run("tar", ["-xzf", path.join(work, cli.filename), "-C", unpacked, ...TEMPLATE_FILES.map((file) => `${template}/${file}`)], work);
    const project = path.join(work, "app");
    fs.mkdirSync(project);
    for (const file of TEMPLATE_FILES) {
      // The init's own substitutions: the project name and the cdktf.json placeholders.
      const text = fs
        .readFileSync(path.join(unpacked, template, file), "utf8")
        .replace(/\{\{ \$base \}\}/g, "consumer")
        .replace("{{projectId}}", "00000000-0000-4000-8000-000000000000")
        .replace("{{sendCrashReports}}", "false")
        .replace("{{futureFlags}}", "");
      fs.writeFileSync(path.join(project, file), text);
    }
    const tsconfig = JSON.parse(fs.readFileSync(path.join(project, "tsconfig.json"), "utf8"));
    // The point of the test: the template's resolution is CommonJS/node10, which ignores package.json `exports`.
    expect(tsconfig.compilerOptions.module).toBe("CommonJS");
    expect(tsconfig.compilerOptions.moduleResolution).toBeUndefined();
    const cdktfJson = JSON.parse(fs.readFileSync(path.join(project, "cdktf.json"), "utf8"));
    expect(cdktfJson.app).toBe("npx ts-node main.ts");

    // What the init hook installs (cdktf, constructs@10; typescript, ts-node, @types/node as dev), at the versions
    // in npm's cache, plus our package and the Docker provider the add-ons use.
    run(
      "npm",
      [
        "install", "--prefer-offline", "--no-package-lock",
        path.join(work, ours.filename),
        `cdktf@${cdktfVersion}`,
        `constructs@${versionOf("constructs")}`,
        `@cdktf/provider-docker@${versionOf("@cdktf/provider-docker")}`,
        `typescript@${versionOf("typescript")}`,
        `ts-node@${versionOf("ts-node")}`,
        `@types/node@${versionOf("@types/node")}`,
      ],
      project,
    );
    fs.writeFileSync(path.join(project, "main.ts"), CONSUMER_MAIN);

    // Type-checks under the template's tsconfig (the imports resolve, the typings are complete).
    run("npx", ["tsc", "--noEmit"], project);
    // Synthesizes the way `cdktf synth` runs the app (cdktf.json's command).
    const [command, ...args] = cdktfJson.app.split(" ");
    run(command, args, project);
    const { consumer: json, addons } = synthesizedStacks(project);
    expect(json["//"].metadata.version).toBe(cdktfVersion);
    expect(await validateStack(json)).toEqual([]);
    expect(await validateStack(addons)).toEqual([]);
    expect(Object.keys(json.resource)).toEqual(expect.arrayContaining(["oci_core_instance", "oci_core_vcn", "random_password"]));
    expect(json.provider.oci).toEqual([expect.objectContaining({ region: "eu-frankfurt-1" })]);
    expect(Object.values<any>(json.resource.oci_core_vcn)[0].display_name).toBe("consumer-vcn");
    expect(Object.keys(addons.resource)).toEqual(expect.arrayContaining(["docker_service", "docker_secret", "docker_config", "docker_image"]));
    // The proxy's image is built from templates/ssh-proxy inside the installed package, not the current directory.
    expect(Object.values<any>(addons.resource.docker_image).map((image) => image.build.context)).toEqual([
      "<project>/node_modules/dokploy-oci/templates/ssh-proxy",
    ]);
  });

  test("on CDK Terrain through the README's npm alias and override: type-checks and synthesizes the stacks cdktf does", () => {
    /** An app with the README's package.json for `cdktf` (a version, or cdktn's alias), its main.ts type-checked and run. */
    const app = (name: string, cdktf: string, constructs: string) => {
      const project = path.join(work, name);
      fs.mkdirSync(project);
      const manifest = {
        name: "consumer",
        private: true,
        dependencies: { cdktf, constructs, "dokploy-oci": `file:${path.join(work, ours.filename)}`, "@cdktf/provider-docker": versionOf("@cdktf/provider-docker") },
        devDependencies: { typescript: versionOf("typescript"), "ts-node": versionOf("ts-node"), "@types/node": versionOf("@types/node") },
        // dokploy-oci and the prebuilt providers ask for cdktf ^0.21.0 as a peer: every cdktf is the app's own.
        overrides: { cdktf: "$cdktf" },
      };
      fs.writeFileSync(path.join(project, "package.json"), JSON.stringify(manifest, null, 2));
      fs.writeFileSync(path.join(project, "tsconfig.json"), JSON.stringify({ compilerOptions: { module: "CommonJS", target: "ES2018", strict: true, types: ["node"] } }));
      fs.writeFileSync(path.join(project, "main.ts"), CONSUMER_MAIN);
      run("npm", ["install", "--prefer-offline", "--no-package-lock"], project);
      run("npx", ["tsc", "--noEmit"], project);
      run("npx", ["ts-node", "main.ts"], project);
      // One cdktf in the app: the one dokploy-oci and the docker provider load is the app's own.
      const runtime = require.resolve("cdktf", { paths: [project] });
      for (const user of ["dokploy-oci", "@cdktf/provider-docker"]) expect(require.resolve("cdktf", { paths: [path.join(project, "node_modules", user)] })).toBe(runtime);
      return { runtime: require(path.join(project, "node_modules", "cdktf", "package.json")), stacks: synthesizedStacks(project) };
    };
    const onCdktf = app("on-cdktf", versionOf("cdktf"), versionOf("constructs"));
    const onCdktn = app("on-cdktn", `npm:cdktn@${CDKTN_VERSION}`, CDKTN_CONSTRUCTS_VERSION);
    expect([onCdktf.runtime.name, onCdktn.runtime.name, onCdktn.runtime.version]).toEqual(["cdktf", "cdktn", CDKTN_VERSION]);
    // The same Terraform, but for the version each runtime writes in its metadata.
    for (const stack of ["consumer", "addons"]) {
      expect(onCdktf.stacks[stack]["//"].metadata.version).toBe(versionOf("cdktf"));
      expect(onCdktn.stacks[stack]["//"].metadata.version).toBe(CDKTN_VERSION);
      onCdktn.stacks[stack]["//"].metadata.version = versionOf("cdktf");
    }
    expect(onCdktn.stacks).toEqual(onCdktf.stacks);
  });
});
