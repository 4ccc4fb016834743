/**
 * The main job (npm run package): synthesize the OCI stack, validate it, and write dist/<stack>.zip for
 * OCI Resource Manager. A run that fails (synthesis or validation) stops here and leaves no zip behind, not even
 * an older one.
 */
import * as fs from "fs";
import * as path from "path";
import { buildApp, OCI_STACK_NAME } from "../main";
import { writeOrmPackage } from "./lib/orm-package";
import { defaultSchemas } from "./lib/validate";

async function main(): Promise<void> {
  const started = Date.now();
  const root = path.join(__dirname, "..");
  const outdir = path.join(root, "dist", "cdktf.out");
  const step = (text: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${text}`);

  // An older zip goes first: whatever fails below, dist/ never holds a zip that does not match the sources.
  const outFile = path.join(root, "dist", `${OCI_STACK_NAME}.zip`);
  // Checked against the newest oracle/oci schema too when the shared inputs are beside the repo.
  const newestOciSchema = path.join(root, "..", "shared", "schemas", "oracle-oci-8.28.0.core.json");
  const extraSchemas = fs.existsSync(newestOciSchema) ? [newestOciSchema] : [];
  fs.rmSync(outFile, { force: true });
  step(`synthesizing ${OCI_STACK_NAME}`);
  fs.mkdirSync(outdir, { recursive: true });
  const { app, stack } = buildApp(outdir);
  app.synth();
  const stackFile = path.join(outdir, "stacks", OCI_STACK_NAME, "cdk.tf.json");
  const synthesized = JSON.parse(fs.readFileSync(stackFile, "utf8"));
  const resources = Object.values<any>(synthesized.resource ?? {}).reduce((sum, named) => sum + Object.keys(named).length, 0);
  step(`synthesized ${resources} resources; validating against the oracle/oci schema and checking references`);

  const result = await writeOrmPackage({
    stack,
    synthesized,
    outFile,
    validation: { schemas: defaultSchemas(extraSchemas) },
    schema: {
      title: "Dokploy on Oracle Cloud Always Free",
      description: "A Dokploy cluster on Docker Swarm: one manager and a pool of workers that set themselves up.",
    },
  });
  step(`wrote ${path.relative(process.cwd(), result.path)} (${result.bytes} bytes): ${result.entries.join(", ")}`);
  console.log(`stacks in the zip: ${OCI_STACK_NAME}`);
}

main().catch((error) => {
  console.error(`package failed: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
});
