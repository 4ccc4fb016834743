/**
 * The free-tier cluster with admin access over Tailscale only: every node joins your tailnet, and SSH (22) and the
 * Dokploy dashboard (3000) are closed to the internet. Open http://dokploy-manager:3000 from a tailnet device.
 */
import { App, TerraformOutput, TerraformStack, TerraformVariable } from "cdktf";
import { Construct } from "constructs";
import { CAPACITY_RETRY_DURATION_SECONDS, DokployCluster } from "dokploy-oci";
import { provider } from "dokploy-oci/providers/oci";

export class TailnetAdminClusterStack extends TerraformStack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    const compartment = new TerraformVariable(this, "compartment_ocid", { type: "string" });
    const sshKey = new TerraformVariable(this, "ssh_public_key", { type: "string" });
    const authKey = new TerraformVariable(this, "tailscale_auth_key", {
      type: "string",
      sensitive: true,
      description: "A reusable tskey-auth-… key, or a tskey-client-… OAuth secret allowed to assign tag:dokploy",
    });
    new provider.OciProvider(this, "oci", { region: "eu-frankfurt-1", retryDurationSeconds: CAPACITY_RETRY_DURATION_SECONDS });
    const cluster = new DokployCluster(this, "Cluster", {
      compartmentId: compartment.stringValue,
      sshPublicKeys: [sshKey.stringValue],
      adminEmail: "admin@example.com",
      tailscale: { authKey: authKey.stringValue, tags: ["tag:dokploy"], ssh: true },
      adminAccess: "tailnet",
    });
    new TerraformOutput(this, "dashboard_on_tailnet", { value: cluster.manager.tailnetDashboardUrl! });
    new TerraformOutput(this, "admin_password", { value: cluster.manager.adminPassword, sensitive: true });
  }
}

if (require.main === module) {
  const app = new App();
  new TailnetAdminClusterStack(app, "tailnet-admin-cluster");
  app.synth();
}
