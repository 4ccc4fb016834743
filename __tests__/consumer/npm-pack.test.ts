/**
 * The package as a user gets it: `npm pack`, install the tarball into a fresh project (from npm's cache where it
 * can), synthesize a small cdktf app with it, and validate the result with the
 * package's own validator.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

jest.setTimeout(600_000);

const ROOT = path.join(__dirname, "..", "..");
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ8w0XqjJcbZ4U0kqR1Yh1zGm9ZQ0j2qZr7tT8qv8Yp consumer@test";

const CONSUMER_APP = `
const { App, TerraformStack } = require("cdktf");
const { DokployCluster, SshProxy, validateStack } = require("dokploy-oci");
const { DockerProvider } = require("@cdktf/provider-docker/lib/provider");
const { provider } = require("dokploy-oci/providers/oci");
const fs = require("fs");
const path = require("path");

const outdir = path.join(__dirname, "cdktf.out");
const app = new App({ outdir });
const stack = new TerraformStack(app, "consumer");
new provider.OciProvider(stack, "oci", { region: "eu-frankfurt-1" });
new DokployCluster(stack, "Cluster", {
  compartmentId: "ocid1.compartment.oc1..consumer",
  sshPublicKeys: [${JSON.stringify(KEY)}],
  adminEmail: "me@example.com",
});
const addons = new TerraformStack(app, "addons");
new DockerProvider(addons, "docker", { host: "ssh://ubuntu@203.0.113.10" });
SshProxy.nextcloud(addons, "NextcloudProxy", { targetService: "nextcloud", authorizedKeys: [${JSON.stringify(KEY)}] });
app.synth();
const read = (name) => JSON.parse(fs.readFileSync(path.join(outdir, "stacks", name, "cdk.tf.json"), "utf8"));
const json = read("consumer");
const addonsJson = read("addons");
Promise.all([validateStack(json), validateStack(addonsJson)]).then(([problems, addonProblems]) => {
  console.log(JSON.stringify({ problems, addonProblems, resources: Object.keys(json.resource), addonResources: Object.keys(addonsJson.resource),
    buildContexts: Object.values(addonsJson.resource.docker_image).map((image) => image.build.context) }));
});
`;

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, {
    cwd,
    encoding: "utf8",
    env: { ...process.env, npm_config_audit: "false", npm_config_fund: "false", CHECKPOINT_DISABLE: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

describe("the npm package in a fresh project", () => {
  let work: string;
  beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "dokploy-oci-consumer-"));
  });
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  test("packs only what consumers need, installs, synthesizes a cluster and validates clean", () => {
    // Lifecycle scripts (prepare, prepack) print to stdout before npm's JSON.
    const packOutput = run("npm", ["pack", "--json", "--pack-destination", work], ROOT);
    const packed = JSON.parse(packOutput.slice(packOutput.lastIndexOf("\n[\n") + 1))[0];
    const files: string[] = packed.files.map((file: { path: string }) => file.path);
    expect(files).toEqual(expect.arrayContaining(["templates/manager/bootstrap.sh", "lib/schemas/oracle-oci.json", "dist/constructs/index.js", "dist/.gen/providers/oci/index.js"]));
    expect(files.filter((file) => /(^__tests__|^scripts|\.ts$(?<!\.d\.ts)|cdktf\.out|\.zip$|node_modules)/.test(file))).toEqual([]);
    console.log(`packed ${packed.filename}: ${packed.size} bytes, ${files.length} files`);

    const project = path.join(work, "app");
    fs.mkdirSync(project);
    const cdktfVersion = require(path.join(ROOT, "node_modules", "cdktf", "package.json")).version;
    const constructsVersion = require(path.join(ROOT, "node_modules", "constructs", "package.json")).version;
    fs.writeFileSync(
      path.join(project, "package.json"),
      JSON.stringify({ name: "consumer", private: true, dependencies: { "dokploy-oci": `file:${path.join(work, packed.filename)}`, cdktf: cdktfVersion, constructs: constructsVersion } }),
    );
    // --prefer-offline: tarballs come from the cache `npm ci` filled, package documents from the registry when the
    // cache lacks them (a fresh machine's cache holds tarballs only, so --offline fails there with ERESOLVE).
    run("npm", ["install", "--prefer-offline", "--ignore-scripts", "--no-package-lock"], project);
    fs.writeFileSync(path.join(project, "app.js"), CONSUMER_APP);
    const result = JSON.parse(run("node", ["app.js"], project).trim().split("\n").pop()!);
    expect(result.problems).toEqual([]);
    expect(result.resources).toEqual(expect.arrayContaining(["oci_core_instance", "oci_core_vcn", "random_password"]));
    expect(result.addonProblems).toEqual([]);
    // The proxy's image is built from templates/ssh-proxy inside the installed package, not the current directory.
    expect(result.addonResources).toEqual(expect.arrayContaining(["docker_service", "docker_secret", "docker_config", "docker_image"]));
    expect(result.buildContexts).toEqual([path.join(project, "node_modules", "dokploy-oci", "templates", "ssh-proxy")]);
  });
});
