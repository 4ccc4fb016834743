/**
 * The free cluster plus a pay-as-you-go pool of bigger workers (e.g. for builds). The paid pool does not count
 * against the Always Free budget; the free part is still checked.
 */
import { App, TerraformOutput, TerraformStack, TerraformVariable } from "cdktf";
import { Construct } from "constructs";
import { OciProvider } from "../../.gen/providers/oci/provider";
import { DokployCluster } from "../../constructs";

export class PaidWorkerPoolStack extends TerraformStack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    const compartment = new TerraformVariable(this, "compartment_ocid", { type: "string" });
    const sshKey = new TerraformVariable(this, "ssh_public_key", { type: "string" });
    new OciProvider(this, "oci", { region: "eu-frankfurt-1" });
    const cluster = new DokployCluster(this, "Cluster", {
      compartmentId: compartment.stringValue,
      sshPublicKeys: [sshKey.stringValue],
      adminEmail: "admin@example.com",
      manager: { workerServerType: "build" },
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
