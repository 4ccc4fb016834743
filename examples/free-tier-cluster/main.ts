/**
 * The default Always Free cluster in your own cdktf app: 1 manager + 1 worker at 1 OCPU / 6 GB / 100 GB each (an
 * Always Free tenancy's whole 2 OCPUs / 12 GB / 200 GB), admin access from one address.
 * Copy it into a `cdktf init --template=typescript` app after `npm install dokploy-oci` (then cdktf deploy); in this
 * repo: npm run build && npx ts-node --transpile-only examples/free-tier-cluster/main.ts.
 */
import { App, TerraformOutput, TerraformStack, TerraformVariable } from "cdktf";
import { Construct } from "constructs";
import { CAPACITY_RETRY_DURATION_SECONDS, DokployCluster } from "dokploy-oci";
import { provider } from "dokploy-oci/providers/oci";

export class FreeTierClusterStack extends TerraformStack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    const compartment = new TerraformVariable(this, "compartment_ocid", { type: "string" });
    const sshKey = new TerraformVariable(this, "ssh_public_key", { type: "string" });
    new provider.OciProvider(this, "oci", { region: "eu-frankfurt-1", retryDurationSeconds: CAPACITY_RETRY_DURATION_SECONDS });
    const cluster = new DokployCluster(this, "Cluster", {
      compartmentId: compartment.stringValue,
      sshPublicKeys: [sshKey.stringValue],
      adminEmail: "admin@example.com",
      adminCidrs: ["203.0.113.7/32"],
    });
    new TerraformOutput(this, "dashboard_url", { value: cluster.manager.dashboardUrl });
    new TerraformOutput(this, "admin_password", { value: cluster.manager.adminPassword, sensitive: true });
    new TerraformOutput(this, "workers", { value: cluster.workerNodes });
  }
}

if (require.main === module) {
  const app = new App();
  new FreeTierClusterStack(app, "free-tier-cluster");
  app.synth();
}
