/**
 * The app: the OCI stack that goes into the Resource Manager zip (and deploys with `cdktf deploy`).
 * Credentials never appear here: ORM supplies them, and a workstation uses ~/.oci/config.
 */
import { App, Fn, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { OciProvider } from "./.gen/providers/oci/provider";
import { ClusterNetwork } from "./constructs/oci/cluster-network";
import { OrmVariable } from "./lib/orm-schema";

export const OCI_STACK_NAME = "dokploy-oci";

/** The stack ORM runs: variables are the Create Stack form, outputs the job page. */
export class DokployOciStack extends TerraformStack {
  public readonly network: ClusterNetwork;

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

    new OciProvider(this, "oci", { region: region.stringValue });
    this.network = new ClusterNetwork(this, "Network", {
      compartmentId: compartment.stringValue,
      adminCidrs: Fn.compact(Fn.split(",", Fn.replace(adminCidrs.stringValue, " ", ""))),
    });
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
