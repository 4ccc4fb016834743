/**
 * The app: the OCI stack that goes into the Resource Manager zip (and deploys with `cdktf deploy`), and the
 * add-ons stack that deploys swarm-side constructs to the running cluster through Docker over SSH.
 * Credentials never appear here: ORM supplies them, a workstation uses ~/.oci/config and its SSH agent.
 */
import { App, Fn, Op, TerraformOutput, TerraformStack, TerraformVariable } from "cdktf";
import { Construct } from "constructs";
import { Container } from "@cdktf/provider-docker/lib/container";
import { Image } from "@cdktf/provider-docker/lib/image";
import { DockerProvider } from "@cdktf/provider-docker/lib/provider";
import { OciProvider } from "./.gen/providers/oci/provider";
import { DockerSocketProxy } from "./constructs/docker/docker-socket-proxy";
import { SshProxy } from "./constructs/docker/ssh-proxy";
import { TailscaleSidecar } from "./constructs/docker/tailscale-sidecar";
import { CLUSTER_DEFAULTS, DokployCluster } from "./constructs/oci/dokploy-cluster";
import { TESTED_DOKPLOY_VERSION } from "./constructs/oci/dokploy-manager";
import { DEFAULT_TENANCY_KIND, FREE_OBJECT_STORAGE_GBS, TENANCY_KINDS, TenancyKind } from "./lib/free-tier";
import { CIDR_PATTERN, cidrListCondition } from "./lib/cidr";
import { OrmOutput, OrmVariable } from "./lib/orm-schema";
import { BACKUP_SCHEDULE, DOKPLOY_VERSION, EMAIL, UBUNTU_VERSIONS, sshKeyListCondition } from "./lib/rules";
import { BACKUP_KEEP_LATEST_RANGE, DEFAULT_BACKUP_KEEP_LATEST, DEFAULT_BACKUP_SCHEDULE } from "./constructs/oci/backup-bucket";
import { NODE_DEFAULTS, addPreconditions, availabilityDomainName } from "./lib/oci-node";
import { CAPACITY_RETRY_DURATION_SECONDS, requireTerraformFloor } from "./lib/providers";
import { StrongSecret } from "./lib/secret";

export const OCI_STACK_NAME = "dokploy-oci";

export const ADDONS_STACK_NAME = "dokploy-addons";

/** The add-ons a user can switch on; DOKPLOY_ADDONS (comma-separated) picks them, all by default. */
export const ADDONS = ["ssh-proxy", "tailscale-sidecar", "socket-proxy"] as const;
export type Addon = (typeof ADDONS)[number];

/** The stack ORM runs: variables are the Create Stack form, outputs the job page. */
export class DokployOciStack extends TerraformStack {
  public readonly cluster: DokployCluster;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    new OrmVariable(this, "tenancy_ocid", { type: "string", title: "Tenancy", group: "Hidden", visible: false, description: "Filled in by Resource Manager." });
    const currentUser = new OrmVariable(this, "current_user_ocid", { type: "string", title: "Current user", group: "Hidden", visible: false, description: "Filled in by Resource Manager." });
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
      pattern: `^\\s*${CIDR_PATTERN}(\\s*,\\s*${CIDR_PATTERN})*\\s*$`,
      patternMessage: "comma-separated IPv4 CIDR blocks such as 203.0.113.7/32 (octets 0-255 without leading zeros, prefix 0-32)",
      // The nodes' firewall refuses a block with host bits at boot: refuse it at plan time instead.
      checks: [{ condition: (ref) => cidrListCondition(formList(ref)), errorMessage: "each CIDR block must be a network address (no host bits), e.g. 203.0.113.0/24 rather than 203.0.113.7/24." }],
    });

    const sshKeys = new OrmVariable(this, "ssh_public_keys", {
      type: "string",
      title: "SSH public keys",
      group: "Access",
      ormType: "oci:core:ssh:publickey",
      description: "Keys allowed to log in to every node as ubuntu. Several keys may be given.",
      checks: [{ condition: (ref) => sshKeyListCondition(`compact(split(",", ${ref}))`), errorMessage: "each key must be a whole OpenSSH public key line (ssh-ed25519, ssh-rsa or ecdsa, then its base64 body)." }],
    });
    const adminEmail = new OrmVariable(this, "admin_email", {
      type: "string",
      title: "Dokploy admin email",
      group: "Dokploy",
      description: "The manager creates the Dokploy admin account with this email.",
      pattern: EMAIL.pattern,
      patternMessage: EMAIL.allowed,
      maxLength: EMAIL.maxLength,
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
      default: TESTED_DOKPLOY_VERSION,
      title: "Dokploy version",
      group: "Dokploy",
      description: `The release this stack was tested with is ${TESTED_DOKPLOY_VERSION}. Another tag, or latest, installs a Dokploy its setup scripts were not tested against.`,
      pattern: DOKPLOY_VERSION.pattern,
      patternMessage: DOKPLOY_VERSION.allowed,
    });
    const availabilityDomain = new OrmVariable(this, "availability_domain", {
      type: "string",
      default: "",
      title: "Availability domain",
      group: "Placement",
      ormType: "oci:identity:availabilitydomain:name",
      dependsOnCompartmentVariable: "compartment_ocid",
      description:
        `Where the nodes run; empty: the region's first. A1 capacity is often short: an instance launch that OCI answers "Out of host capacity" is retried for ${CAPACITY_RETRY_DURATION_SECONDS / 60} minutes. ` +
        "If the apply still fails, choose another domain here, or fewer OCPUs per node, or apply again later: nodes already created are kept.",
    });

    const tenancyKind = new OrmVariable(this, "tenancy_kind", {
      type: "string",
      default: DEFAULT_TENANCY_KIND,
      title: "Tenancy kind",
      group: "Cluster size",
      ormType: "enum",
      enum: [...TENANCY_KINDS],
      description:
        "always-free: a free-only tenancy, whose Arm (A1) allowance is 2 OCPUs and 12 GB in total since June 2026. " +
        "pay-as-you-go: only if your tenancy is upgraded; the budget then allows the older 4 OCPUs and 24 GB, which " +
        "Oracle's pricing pages still call free but its Always Free page does not: anything over the free amount is billed. " +
        "Both: 200 GB of block storage.",
    });
    const workerCount = new OrmVariable(this, "worker_count", {
      type: "number",
      default: CLUSTER_DEFAULTS.workerCount,
      title: "Workers",
      group: "Cluster size",
      ormType: "integer",
      minimum: 0,
      maximum: 100,
      description: "Swarm workers besides the manager. 1 at the default size uses exactly an Always Free tenancy's allowance; pay-as-you-go allows 3. Change it on a running stack and apply: new workers join and are registered in Dokploy, removed ones are drained and deregistered.",
    });
    const ocpus = new OrmVariable(this, "node_ocpus", {
      type: "number",
      default: CLUSTER_DEFAULTS.ocpusPerNode,
      title: "OCPUs per node",
      group: "Cluster size",
      ormType: "integer",
      minimum: 1,
      maximum: 4,
      description: "A1 OCPUs free in total over all nodes: 2 (always-free tenancy) or 4 (pay-as-you-go).",
    });
    const memory = new OrmVariable(this, "node_memory_in_gbs", {
      type: "number",
      default: CLUSTER_DEFAULTS.memoryInGbsPerNode,
      title: "Memory per node (GB)",
      group: "Cluster size",
      ormType: "integer",
      minimum: 1,
      maximum: 24,
      description: "A1 memory free in total over all nodes: 12 GB (always-free tenancy) or 24 GB (pay-as-you-go).",
    });
    const bootVolume = new OrmVariable(this, "node_boot_volume_in_gbs", {
      type: "number",
      default: CLUSTER_DEFAULTS.bootVolumeSizeInGbsPerNode,
      title: "Boot volume per node (GB)",
      group: "Cluster size",
      ormType: "integer",
      minimum: 50,
      maximum: 200,
      description: "Both tenancy kinds: 200 GB of block storage free in total, boot volumes included (100 each for a manager and one worker; 50 each for four nodes).",
    });

    const ubuntuVersion = new OrmVariable(this, "ubuntu_version", {
      type: "string",
      default: NODE_DEFAULTS.ubuntuVersion,
      title: "Ubuntu release",
      group: "Cluster size",
      ormType: "enum",
      enum: [...UBUNTU_VERSIONS],
      description: "The nodes' image: the newest Canonical Ubuntu image of this release for the shape. 22.04's standard support ends in April 2027. Changing it on a running stack changes no node (a node keeps the image it was created from).",
    });

    const tailscaleKey = new OrmVariable(this, "tailscale_auth_key", {
      type: "string",
      default: "",
      sensitive: true,
      title: "Tailscale auth key",
      group: "Private access",
      description: "Optional. A tskey-auth-… key (reusable) or a tskey-client-… OAuth secret (needs tags): every node joins your tailnet.",
      pattern: "^$|^tskey-[A-Za-z0-9-]+(\\?[a-z=&]+)?$",
    });
    const tailscaleTags = new OrmVariable(this, "tailscale_tags", {
      type: "string",
      default: "",
      title: "Tailscale tags",
      group: "Private access",
      description: "Comma-separated, e.g. tag:dokploy (required with an OAuth secret; your tailnet policy must let the key assign them).",
      pattern: "^$|^tag:[A-Za-z][A-Za-z0-9-]*(,tag:[A-Za-z][A-Za-z0-9-]*)*$",
      patternMessage: "empty, or comma-separated tags such as tag:dokploy",
    });
    const tailscaleSsh = new OrmVariable(this, "tailscale_ssh", {
      type: "bool",
      default: false,
      title: "Tailscale SSH",
      group: "Private access",
      description: "Let tailnet users SSH in through Tailscale SSH (your tailnet policy decides who).",
    });
    const adminAccess = new OrmVariable(this, "admin_access", {
      type: "string",
      default: "internet",
      title: "Admin access",
      group: "Private access",
      ormType: "enum",
      enum: ["internet", "tailnet"],
      description: "tailnet: SSH and the dashboard are closed to the internet (Admin CIDRs are ignored); reach them over Tailscale.",
    });
    const backupsEnabled = new OrmVariable(this, "backups_enabled", {
      type: "bool",
      default: true,
      title: "Back up Dokploy",
      group: "Backups",
      description:
        "Dokploy's database and configuration go to a private bucket <name>-backups-<8 random hex digits>, with a Customer Secret Key of your user (OCI allows two per user). " +
        "Off: no bucket, no key, and a lost manager loses every project, domain, certificate and registered server in Dokploy.",
    });
    const backupSchedule = new OrmVariable(this, "backup_schedule", {
      type: "string",
      default: DEFAULT_BACKUP_SCHEDULE,
      title: "Backup schedule",
      group: "Backups",
      description: "Cron, in UTC: minute hour day month weekday. The default backs up daily at 03:00.",
      pattern: BACKUP_SCHEDULE.pattern,
      patternMessage: BACKUP_SCHEDULE.allowed,
      maxLength: BACKUP_SCHEDULE.maxLength,
    });
    const backupKeep = new OrmVariable(this, "backup_keep_latest", {
      type: "number",
      default: DEFAULT_BACKUP_KEEP_LATEST,
      title: "Backups kept",
      group: "Backups",
      ormType: "integer",
      minimum: BACKUP_KEEP_LATEST_RANGE.min,
      maximum: BACKUP_KEEP_LATEST_RANGE.max,
      description: `Dokploy deletes older ones after each backup. A small cluster's backup is a few MB: the default stays far inside Always Free's ${FREE_OBJECT_STORAGE_GBS} GB of Object Storage (npm run status fails its check when the kept backups would not).`,
    });
    const restoreAtFirstBoot = new OrmVariable(this, "restore_latest_backup", {
      type: "bool",
      default: true,
      title: "Restore the latest backup at first boot",
      group: "Backups",
      description: "A new manager (one Oracle reclaimed, or one you replaced) brings Dokploy back from the newest backup in the bucket; with none, it starts empty.",
    });
    // cdktf 0.21 renders a falsy literal in an operator as `undefined`, so compare with 1, not 0. Whether a key
    // was given is no secret, and a value derived from the sensitive key would make every output that depends on
    // it sensitive too (Terraform 1.10+ carries sensitivity through conditionals).
    const tailscaleEnabled = Fn.nonsensitive(Op.gte(Fn.lengthOf(tailscaleKey.stringValue), 1));
    const tailnetOnly = Op.eq(adminAccess.stringValue, "tailnet");

    // ORM honours the provider block: an "Out of host capacity" launch is retried for the whole window.
    new OciProvider(this, "oci", { region: region.stringValue, retryDurationSeconds: CAPACITY_RETRY_DURATION_SECONDS });
    const generatedPassword = new StrongSecret(this, "GeneratedAdminPassword", { length: 32 });
    this.cluster = new DokployCluster(this, "Cluster", {
      compartmentId: compartment.stringValue,
      // ORM's key picker joins several keys with commas.
      sshPublicKeys: Fn.split(",", sshKeys.stringValue),
      adminEmail: adminEmail.stringValue,
      // coalesce skips the empty string: the generated password stands in when the field is left empty.
      adminPassword: Fn.coalesce([adminPassword.stringValue, generatedPassword.value]),
      dokployVersion: dokployVersion.stringValue,
      // The picker's name, or the region's first domain when left empty (`< 1`: cdktf renders a literal 0 as undefined).
      availabilityDomain: Fn.conditional(Op.lt(Fn.lengthOf(availabilityDomain.stringValue), 1), availabilityDomainName(this, compartment.stringValue, 0), availabilityDomain.stringValue),
      adminCidrs: adminCidrsFromForm(adminCidrs.stringValue, adminAccess.stringValue),
      tailscale: {
        authKey: tailscaleKey.stringValue,
        tags: Fn.compact(Fn.split(",", Fn.replace(tailscaleTags.stringValue, " ", ""))),
        ssh: tailscaleSsh.booleanValue,
        enabled: tailscaleEnabled,
      },
      tenancyKind: tenancyKind.stringValue as TenancyKind,
      workerCount: workerCount.numberValue,
      ocpusPerNode: ocpus.numberValue,
      memoryInGbsPerNode: memory.numberValue,
      bootVolumeSizeInGbsPerNode: bootVolume.numberValue,
      ubuntuVersion: ubuntuVersion.stringValue,
      backups: {
        enabled: backupsEnabled.booleanValue,
        region: region.stringValue,
        userId: currentUser.stringValue,
        schedule: backupSchedule.stringValue,
        keepLatestCount: backupKeep.numberValue,
        restoreAtFirstBoot: restoreAtFirstBoot.booleanValue,
      },
    });
    const manager = this.cluster.manager;
    addPreconditions(manager.instance, {
      condition: Op.or(Op.not(tailnetOnly), tailscaleEnabled),
      errorMessage: "Admin access \"tailnet\" closes SSH and the dashboard to the internet: give a Tailscale auth key too.",
    });

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
    new OrmOutput(this, "dokploy_tailnet_url", {
      value: Fn.conditional(tailscaleEnabled, manager.tailnetDashboardUrl!, "Tailscale is not configured"),
      title: "Dokploy on your tailnet",
      ormType: "copyableString",
    });
    new OrmOutput(this, "host_release_sha256", {
      value: this.cluster.release.sha256,
      title: "Host release",
      ormType: "copyableString",
      description: "The release of host programs every node runs (its instances' dokploy-oci-release tag).",
    });
    new OrmOutput(this, "host_release_url", {
      value: this.cluster.release.url,
      title: "Host releases (read-only URL)",
      ormType: "copyableString",
      description: "Read-only access to the releases bucket: the host programs, never a secret. npm run status --release-url uses it.",
    });
    new OrmOutput(this, "backups_bucket", {
      value: Fn.conditional(backupsEnabled.booleanValue, this.cluster.backups!.bucketName, "backups are off"),
      title: "Backups bucket",
      ormType: "copyableString",
      description: "The private bucket that holds Dokploy's backups (empty it before a destroy, or keep it).",
    });
    new OrmOutput(this, "worker_nodes", { value: this.cluster.workerNodes, title: "Workers (public and private IPs)", ormType: "json" });
  }
}

/**
 * Swarm-side constructs deployed to the running cluster: `cdktf deploy dokploy-addons` with Docker reaching the
 * manager over SSH (your SSH agent's key; the user must be in the docker group, or use root).
 */
export class DokployAddonsStack extends TerraformStack {
  constructor(scope: Construct, id: string, addons: ReadonlyArray<Addon>) {
    super(scope, id);
    requireTerraformFloor(this);
    const host = new TerraformVariable(this, "manager_host", {
      type: "string",
      description: "The manager's address (output manager_public_ip, or its tailnet name).",
    });
    const user = new TerraformVariable(this, "manager_ssh_user", { type: "string", default: "root", description: "SSH user on the manager with access to Docker." });
    new DockerProvider(this, "docker", {
      host: `ssh://${user.stringValue}@${host.stringValue}`,
      sshOpts: ["-o", "StrictHostKeyChecking=accept-new", "-o", "ServerAliveInterval=30"],
    });

    if (addons.includes("ssh-proxy")) {
      const keys = new TerraformVariable(this, "ssh_proxy_authorized_keys", {
        type: "list(string)",
        description: "ed25519 public keys of the clients allowed to run the whitelisted commands.",
      });
      // It names Docker objects, so it is known at synth time: the swarm service running Nextcloud.
      const targetService = process.env.DOKPLOY_SSH_PROXY_TARGET ?? "nextcloud";
      const proxy = SshProxy.nextcloud(this, "NextcloudSshProxy", { targetService, authorizedKeys: keys.listValue });
      new TerraformOutput(this, "ssh_proxy_address", { value: proxy.address, description: "host:port for clients on the proxy's overlay network" });
    }
    if (addons.includes("tailscale-sidecar")) {
      const authKey = new TerraformVariable(this, "tailscale_auth_key", { type: "string", sensitive: true, description: "Tailscale auth key for the sidecar." });
      const sidecar = new TailscaleSidecar(this, "WhoamiTailscale", { authKey: authKey.stringValue, hostname: "whoami", tags: ["tag:dokploy"], serve: { localPort: 80 } });
      const image = new Image(this, "WhoamiImage", { name: "traefik/whoami:v1.11.0", keepLocally: true });
      sidecar.attach(new Container(this, "Whoami", { name: "whoami", image: image.imageId, restart: "unless-stopped" }));
    }
    if (addons.includes("socket-proxy")) {
      // Read-only API sections: enough for dashboards and monitoring; nothing that can start a container.
      const socketProxy = new DockerSocketProxy(this, "DockerSocketProxy", { api: { containers: true, info: true, services: true, tasks: true, nodes: true } });
      new TerraformOutput(this, "docker_host_for_clients", { value: socketProxy.dockerHost, description: "DOCKER_HOST for containers on the proxy's network" });
    }
  }
}

/**
 * The form's comma-separated CIDRs as a list, or an empty one (22/3000 open to nobody) when admin access is
 * "tailnet": admins then come in over Tailscale.
 */
export function adminCidrsFromForm(cidrsText: string, adminAccess: string): string[] {
  const cidrs = Fn.compact(Fn.split(",", Fn.replace(cidrsText, " ", "")));
  return Fn.conditional(Op.eq(adminAccess, "tailnet"), [], cidrs);
}

/** The form's comma-separated list at `ref` as a Terraform list expression (the same split adminCidrsFromForm does). */
function formList(ref: string): string {
  return `compact(split(",", replace(${ref}, " ", "")))`;
}

/** Reads DOKPLOY_ADDONS ("ssh-proxy,socket-proxy", "none"); refuses names it does not know. */
export function selectedAddons(value = process.env.DOKPLOY_ADDONS): Addon[] {
  if (value === undefined || value.trim() === "") return [...ADDONS];
  const names = value.split(",").map((name) => name.trim()).filter((name) => name && name !== "none");
  for (const name of names) {
    if (!ADDONS.includes(name as Addon)) throw new Error(`DOKPLOY_ADDONS: "${name}" is not one of ${ADDONS.join(", ")} (or none)`);
  }
  return names as Addon[];
}

export function buildApp(outdir?: string, addons: ReadonlyArray<Addon> = selectedAddons()): { app: App; stack: DokployOciStack; addons: DokployAddonsStack } {
  const app = new App(outdir ? { outdir } : {});
  const stack = new DokployOciStack(app, OCI_STACK_NAME);
  return { app, stack, addons: new DokployAddonsStack(app, ADDONS_STACK_NAME, addons) };
}

if (require.main === module) {
  buildApp().app.synth();
}
