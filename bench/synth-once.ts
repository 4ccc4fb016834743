/**
 * One measured run for the synthesis benchmark: synth + validate + package a cluster with N workers, then print
 * {ms, maxRssKb, zipBytes} as JSON. Run in a fresh process per measurement so memory is its own.
 * Usage: node -r ./scripts/register.js bench/synth-once.ts <workers> <outdir>
 */
import * as fs from "fs";
import * as path from "path";
import { App, TerraformStack, Testing } from "cdktf";
import { OciProvider } from "../.gen/providers/oci/provider";
import { CLUSTER_DEFAULTS, DokployCluster } from "../constructs/oci/dokploy-cluster";
import { writeOrmPackage } from "../scripts/lib/orm-package";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ8w0XqjJcbZ4U0kqR1Yh1zGm9ZQ0j2qZr7tT8qv8Yp bench@local";

async function main(): Promise<void> {
  const workers = Number(process.argv[2]);
  const outdir = process.argv[3];
  const started = process.hrtime.bigint();
  const app = new App({ outdir });
  const stack = new TerraformStack(app, "bench");
  new OciProvider(stack, "oci", { region: "eu-frankfurt-1" });
  // Past the free allowance the budget check would refuse the stack; the cost of synthesis is what is measured.
  new DokployCluster(stack, "Cluster", {
    compartmentId: "ocid1.compartment.oc1..bench",
    sshPublicKeys: [KEY],
    adminEmail: "bench@example.com",
    workerCount: workers,
    alwaysFree: workers <= CLUSTER_DEFAULTS.workerCount,
  });
  const synthesized = JSON.parse(Testing.synth(stack));
  const zip = await writeOrmPackage({
    stack,
    synthesized,
    outFile: path.join(outdir, `bench-${workers}.zip`),
    schema: { title: "bench", description: "bench" },
    // Validation included: it is part of what `npm run package` costs.
  });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  fs.rmSync(zip.path, { force: true });
  console.log(JSON.stringify({ ms, maxRssKb: process.resourceUsage().maxRSS, zipBytes: zip.bytes }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
