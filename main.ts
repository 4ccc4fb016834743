/**
 * The app: the OCI stack that goes into the Resource Manager zip (and deploys with `cdktf deploy`).
 * Credentials never appear here: ORM supplies them, and a workstation uses ~/.oci/config.
 */
import { App, Fn, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { OciProvider } from "./.gen/providers/oci/provider";
import { ClusterNetwork } from "./constructs/oci/cluster-network";
import { DokployManager } from "./constructs/oci/dokploy-manager";
import { OrmOutput, OrmVariable } from "./lib/orm-schema";
import { StrongSecret } from "./lib/secret";

export const OCI_STACK_NAME = "dokploy-oci";

/** The stack ORM runs: variables are the Create Stack form, outputs the job page. */
export class DokployOciStack extends TerraformStack {
  public readonly network: ClusterNetwork;
  public readonly manager: DokployManager;

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

    new OciProvider(this, "oci", { region: region.stringValue });
    this.network = new ClusterNetwork(this, "Network", {
      compartmentId: compartment.stringValue,
      adminCidrs: Fn.compact(Fn.split(",", Fn.replace(adminCidrs.stringValue, " ", ""))),
    });
    const generatedPassword = new StrongSecret(this, "GeneratedAdminPassword", { length: 32 });
    this.manager = new DokployManager(this, "Manager", {
      compartmentId: compartment.stringValue,
      network: this.network,
      // ORM's key picker joins several keys with commas.
      sshPublicKeys: Fn.split(",", sshKeys.stringValue),
      adminEmail: adminEmail.stringValue,
      // coalesce skips the empty string: the generated password stands in when the field is left empty.
      adminPassword: Fn.coalesce([adminPassword.stringValue, generatedPassword.value]),
      dokployVersion: dokployVersion.stringValue,
      availabilityDomainIndex: adIndex.numberValue,
    });

    new OrmOutput(this, "dokploy_dashboard_url", {
      value: this.manager.dashboardUrl,
      title: "Dokploy dashboard",
      ormType: "link",
      displayText: "Open Dokploy",
      description: "Allow a few minutes after the job for Dokploy to install.",
    });
    new OrmOutput(this, "dokploy_admin_email", { value: this.manager.adminEmail, title: "Admin email", ormType: "copyableString" });
    new OrmOutput(this, "dokploy_admin_password", {
      value: this.manager.adminPassword,
      title: "Admin password",
      ormType: "copyableString",
      sensitive: true,
    });
    new OrmOutput(this, "manager_public_ip", { value: this.manager.publicIp, title: "Manager public IP", ormType: "copyableString" });
    new OrmOutput(this, "manager_private_ip", { value: this.manager.privateIp, title: "Manager private IP", ormType: "copyableString" });
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
