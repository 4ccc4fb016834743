/**
 * The free cluster on a Pay As You Go tenancy plus a paid pool of bigger workers (e.g. for builds). The tenancy
 * kind says the budget assumes the older 4 OCPUs / 24 GB free amount, so the free pool has 3 workers at 50 GB
 * boot volumes (anything over the free amount is billed); the paid pool does not count against the budget.
 */
import { App, TerraformOutput, TerraformStack, TerraformVariable } from "cdktf";
import { Construct } from "constructs";
import { CAPACITY_RETRY_DURATION_SECONDS, DokployCluster } from "dokploy-oci";
import { provider } from "dokploy-oci/providers/oci";

export class PaidWorkerPoolStack extends TerraformStack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    const compartment = new TerraformVariable(this, "compartment_ocid", { type: "string" });
    const sshKey = new TerraformVariable(this, "ssh_public_key", { type: "string" });
    new provider.OciProvider(this, "oci", { region: "eu-frankfurt-1", retryDurationSeconds: CAPACITY_RETRY_DURATION_SECONDS });
    const cluster = new DokployCluster(this, "Cluster", {
      compartmentId: compartment.stringValue,
      sshPublicKeys: [sshKey.stringValue],
      adminEmail: "admin@example.com",
      tenancyKind: "pay-as-you-go",
      workerCount: 3,
      bootVolumeSizeInGbsPerNode: 50,
      workerServerType: "build",
    });
    cluster.addWorkerPool("Builders", {
      namePrefix: "builder",
      count: 2,
      ocpus: 4,
      memoryInGbs: 24,
      bootVolumeSizeInGbs: 100,
      alwaysFree: false,
    });
    new TerraformOutput(this, "dashboard_url", { value: cluster.manager.dashboardUrl });
    new TerraformOutput(this, "workers", { value: cluster.workerNodes });
  }
}

if (require.main === module) {
  const app = new App();
  new PaidWorkerPoolStack(app, "paid-worker-pool");
  app.synth();
}
