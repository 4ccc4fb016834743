/**
 * The app: the OCI stack that goes into the Resource Manager zip (and deploys with `cdktf deploy`).
 * Credentials never appear here: ORM supplies them, and a workstation uses ~/.oci/config.
 */
import { App, Fn, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { OciProvider } from "./.gen/providers/oci/provider";
import { DokployCluster } from "./constructs/oci/dokploy-cluster";
import { OrmOutput, OrmVariable } from "./lib/orm-schema";
import { StrongSecret } from "./lib/secret";

export const OCI_STACK_NAME = "dokploy-oci";

/** The stack ORM runs: variables are the Create Stack form, outputs the job page. */
export class DokployOciStack extends TerraformStack {
  public readonly cluster: DokployCluster;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    new OrmVariable(this, "tenancy_ocid", { type: "string", title: "Tenancy", group: "Hidden", visible: false, description: "Filled in by Resource Manager." });
    const region = new OrmVariable(this, "region", {
      type: "string",
      title: "Region",
      group: "Placement",
      ormType: "oci:identity:region:name",
      description: "Your home region: Always Free resources exist only there.",
    });
    const compartment = new OrmVariable(this, "compartment_ocid", {
      type: "string",
      title: "Compartment",
      group: "Placement",
      ormType: "oci:identity:compartment:id",
      description: "Compartment for the network and the nodes.",
    });
    const adminCidrs = new OrmVariable(this, "admin_cidrs", {
      type: "string",
      default: "0.0.0.0/0",
      title: "Admin CIDRs",
      group: "Access",
      description: "Comma-separated CIDR blocks allowed to reach SSH (22) and the Dokploy dashboard (3000). 0.0.0.0/0 is the whole internet.",
      pattern: "^\\s*\\d{1,3}(\\.\\d{1,3}){3}/\\d{1,2}(\\s*,\\s*\\d{1,3}(\\.\\d{1,3}){3}/\\d{1,2})*\\s*$",
    });

    const sshKeys = new OrmVariable(this, "ssh_public_keys", {
      type: "string",
      title: "SSH public keys",
      group: "Access",
      ormType: "oci:core:ssh:publickey",
      description: "Keys allowed to log in to every node as ubuntu. Several keys may be given.",
    });
    const adminEmail = new OrmVariable(this, "admin_email", {
      type: "string",
      title: "Dokploy admin email",
      group: "Dokploy",
      description: "The manager creates the Dokploy admin account with this email.",
      pattern: "^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$",
    });
    const adminPassword = new OrmVariable(this, "admin_password", {
      type: "string",
      default: "",
      sensitive: true,
      title: "Dokploy admin password",
      group: "Dokploy",
      description: "At least 8 characters. Leave empty to have one generated; it is shown (hidden until revealed) in the job outputs.",
      pattern: "^$|^.{8,}$",
    });
    const dokployVersion = new OrmVariable(this, "dokploy_version", {
      type: "string",
      default: "latest",
      title: "Dokploy version",
      group: "Dokploy",
      description: "A release tag such as v0.25.3, or latest.",
      pattern: "^(latest|canary|v?[0-9]+\\.[0-9]+\\.[0-9]+)$",
    });
    const adIndex = new OrmVariable(this, "availability_domain_index", {
      type: "number",
      default: 0,
      title: "Availability domain",
      group: "Placement",
      ormType: "integer",
      minimum: 0,
      maximum: 2,
      description: "0, 1 or 2. If OCI answers \"Out of host capacity\" for A1 instances, try another domain.",
    });

    const workerCount = new OrmVariable(this, "worker_count", {
      type: "number",
      default: 3,
      title: "Workers",
      group: "Cluster size",
      ormType: "integer",
      minimum: 0,
      maximum: 100,
      description: "Swarm workers besides the manager. 3 at the default size uses exactly the Always Free allowance.",
    });
    const ocpus = new OrmVariable(this, "node_ocpus", {
      type: "number",
      default: 1,
      title: "OCPUs per node",
      group: "Cluster size",
      ormType: "integer",
      minimum: 1,
      maximum: 4,
      description: "Always Free: 4 OCPUs in total over all nodes.",
    });
    const memory = new OrmVariable(this, "node_memory_in_gbs", {
      type: "number",
      default: 6,
      title: "Memory per node (GB)",
      group: "Cluster size",
      ormType: "integer",
      minimum: 1,
      maximum: 24,
      description: "Always Free: 24 GB in total over all nodes.",
    });
    const bootVolume = new OrmVariable(this, "node_boot_volume_in_gbs", {
      type: "number",
      default: 50,
      title: "Boot volume per node (GB)",
      group: "Cluster size",
      ormType: "integer",
      minimum: 50,
      maximum: 200,
      description: "Always Free: 200 GB of block storage in total, boot volumes included.",
    });

    new OciProvider(this, "oci", { region: region.stringValue });
    const generatedPassword = new StrongSecret(this, "GeneratedAdminPassword", { length: 32 });
    this.cluster = new DokployCluster(this, "Cluster", {
      compartmentId: compartment.stringValue,
      // ORM's key picker joins several keys with commas.
      sshPublicKeys: Fn.split(",", sshKeys.stringValue),
      adminEmail: adminEmail.stringValue,
      // coalesce skips the empty string: the generated password stands in when the field is left empty.
      adminPassword: Fn.coalesce([adminPassword.stringValue, generatedPassword.value]),
      dokployVersion: dokployVersion.stringValue,
      availabilityDomainIndex: adIndex.numberValue,
      adminCidrs: Fn.compact(Fn.split(",", Fn.replace(adminCidrs.stringValue, " ", ""))),
      workerCount: workerCount.numberValue,
      ocpusPerNode: ocpus.numberValue,
      memoryInGbsPerNode: memory.numberValue,
      bootVolumeSizeInGbsPerNode: bootVolume.numberValue,
    });
    const manager = this.cluster.manager;

    new OrmOutput(this, "dokploy_dashboard_url", {
      value: manager.dashboardUrl,
      title: "Dokploy dashboard",
      ormType: "link",
      displayText: "Open Dokploy",
      description: "Allow a few minutes after the job for Dokploy to install.",
    });
    new OrmOutput(this, "dokploy_admin_email", { value: manager.adminEmail, title: "Admin email", ormType: "copyableString" });
    new OrmOutput(this, "dokploy_admin_password", {
      value: manager.adminPassword,
      title: "Admin password",
      ormType: "copyableString",
      sensitive: true,
    });
    new OrmOutput(this, "manager_public_ip", { value: manager.publicIp, title: "Manager public IP", ormType: "copyableString" });
    new OrmOutput(this, "manager_private_ip", { value: manager.privateIp, title: "Manager private IP", ormType: "copyableString" });
    new OrmOutput(this, "worker_nodes", { value: this.cluster.workerNodes, title: "Workers (public and private IPs)", ormType: "json" });
  }
}

export function buildApp(outdir?: string): { app: App; stack: DokployOciStack } {
  const app = new App(outdir ? { outdir } : {});
  const stack = new DokployOciStack(app, OCI_STACK_NAME);
  return { app, stack };
}

if (require.main === module) {
  buildApp().app.synth();
}
