/**
 * What manager and worker instances share: the Ubuntu image and availability-domain lookups, size validation
 * for the shapes the library supports, the boot (node.json, harden.sh, units, Tailscale) and the instance itself.
 */
import * as path from "path";
import { Fn, Lazy, Op, Precondition, TerraformCount, TerraformResource, TerraformStack, Token } from "cdktf";
import { Construct } from "constructs";
import { CoreInstance } from "../.gen/providers/oci/core-instance";
import { DataOciCoreImages } from "../.gen/providers/oci/data-oci-core-images";
import { DataOciIdentityAvailabilityDomains } from "../.gen/providers/oci/data-oci-identity-availability-domains";
import { CloudConfig, OCI_METADATA_LIMIT_BYTES, SSH_KEYS_RESERVE_BYTES } from "./cloud-init";
import { ORACLE_IDLE_RULE } from "./free-tier";
import { FIRST_BOOT_DONE_PATH, HostPort, NODE_CONFIG_PATH, NodeConfigBase, RELEASE_STATE_PATH, USAGE_STATE_DIR, systemdUnit } from "./host-contract";
import { IHostRelease, LOADER_CONFIG_PATH, LOADER_PATH, RELEASE_TAG_KEY, loaderConfigText, releaseNodeConfig } from "./host-release";
import { readHostFile } from "./templates";
import { UBUNTU_VERSION, UBUNTU_VERSIONS, checkNumber } from "./rules";
import { TailscaleHostConfig } from "./tailscale-node";
import { INSTANCE_METADATA_URL } from "./worker-identity";

export const A1_FLEX = "VM.Standard.A1.Flex";
export const E2_MICRO = "VM.Standard.E2.1.Micro";

/** What a user chooses about a node, manager or worker: one type, defaulted in one place (resolveNodeOptions). */
export interface NodeOptions {
  /** @default - VM.Standard.A1.Flex (Always Free Arm) */
  readonly shape?: string;
  /** @default - 1 */
  readonly ocpus?: number;
  /** @default - 6 */
  readonly memoryInGbs?: number;
  /** @default - 100 (two nodes use an Always Free tenancy's 200 GB of block storage) */
  readonly bootVolumeSizeInGbs?: number;
  /**
   * Ubuntu release of the image, looked up with oci_core_images: "24.04" or "22.04" (standard support to April 2027).
   * @default - "24.04"
   */
  readonly ubuntuVersion?: string;
  /** An image OCID instead of the lookup. @default - the newest Canonical Ubuntu image for the shape */
  readonly imageId?: string;
  /** Which availability domain, 0-based, looked up with oci_identity_availability_domains. @default - 0 */
  readonly availabilityDomainIndex?: number;
  /**
   * The availability domain's name (e.g. from ORM's picker), instead of `availabilityDomainIndex`.
   * @default - the domain at availabilityDomainIndex
   */
  readonly availabilityDomain?: string;
  /**
   * Age after which the node's daily cleanup removes stopped containers no swarm service owns, dangling images no
   * container uses, and build cache (a full boot volume stops the node). Tagged images are never removed.
   * @default - 24
   */
  readonly dockerPruneAfterHours?: number;
}

/** The defaults: 1 manager + 1 worker at this size is exactly an Always Free tenancy's 2 OCPUs / 12 GB / 200 GB. */
export const NODE_DEFAULTS = {
  shape: A1_FLEX,
  ocpus: 1,
  memoryInGbs: 6,
  bootVolumeSizeInGbs: 100,
  ubuntuVersion: UBUNTU_VERSIONS[0],
  availabilityDomainIndex: 0,
  dockerPruneAfterHours: 24,
} as const;

/** NodeOptions with every default applied. */
export interface ResolvedNodeOptions extends NodeOptions {
  readonly shape: string;
  readonly ocpus: number;
  readonly memoryInGbs: number;
  readonly bootVolumeSizeInGbs: number;
  readonly ubuntuVersion: string;
  readonly availabilityDomainIndex: number;
  readonly dockerPruneAfterHours: number;
  /** Checks of values only Terraform knows (a form's Ubuntu release), for the instance. */
  readonly planTimeChecks: ReadonlyArray<Precondition>;
}

/** The prop names the user wrote, where a construct names an option differently (DokployCluster's ocpusPerNode). */
export type NodeOptionNames = Partial<Record<keyof NodeOptions, string>>;

/**
 * Applies the defaults and checks the result against the shape's limits, naming each prop as `names` says (the
 * option's own name otherwise). Terraform values are checked at plan time.
 */
export function resolveNodeOptions(options: NodeOptions, names: NodeOptionNames = {}): ResolvedNodeOptions {
  const resolved: ResolvedNodeOptions = {
    ...options,
    shape: options.shape ?? NODE_DEFAULTS.shape,
    ocpus: options.ocpus ?? NODE_DEFAULTS.ocpus,
    memoryInGbs: options.memoryInGbs ?? NODE_DEFAULTS.memoryInGbs,
    bootVolumeSizeInGbs: options.bootVolumeSizeInGbs ?? NODE_DEFAULTS.bootVolumeSizeInGbs,
    ubuntuVersion: options.ubuntuVersion ?? NODE_DEFAULTS.ubuntuVersion,
    availabilityDomainIndex: options.availabilityDomainIndex ?? NODE_DEFAULTS.availabilityDomainIndex,
    dockerPruneAfterHours: options.dockerPruneAfterHours ?? NODE_DEFAULTS.dockerPruneAfterHours,
    planTimeChecks: [],
  };
  const name = (key: keyof NodeOptions) => names[key] ?? key;
  validateNodeSize(resolved, name);
  UBUNTU_VERSION.check(resolved.ubuntuVersion, name("ubuntuVersion"));
  // Regions have 1 or 3 availability domains.
  checkNumber(resolved.availabilityDomainIndex, name("availabilityDomainIndex"), { min: 0, max: 2, integer: true });
  checkNumber(resolved.dockerPruneAfterHours, name("dockerPruneAfterHours"), { min: 1, max: 8760, integer: true, unit: "hours" });
  const ubuntuCheck = UBUNTU_VERSION.planTimeCheck(resolved.ubuntuVersion, name("ubuntuVersion"));
  return { ...resolved, planTimeChecks: ubuntuCheck ? [ubuntuCheck] : [] };
}

function validateNodeSize(size: ResolvedNodeOptions, name: (key: keyof NodeOptions) => string): void {
  const known = (value: unknown) => !Token.isUnresolved(value);
  const { shape, ocpus, memoryInGbs, bootVolumeSizeInGbs } = size;
  if (known(shape) && shape === A1_FLEX) {
    checkNumber(ocpus, name("ocpus"), { min: 1, max: 80, integer: true, unit: `OCPUs for ${A1_FLEX}` });
    checkNumber(memoryInGbs, name("memoryInGbs"), { min: 1, max: 512, integer: true, unit: `GB for ${A1_FLEX}` });
    if (known(ocpus) && known(memoryInGbs) && (memoryInGbs < ocpus || memoryInGbs > 64 * ocpus)) {
      throw new Error(`${name("memoryInGbs")}: ${A1_FLEX} takes 1 to 64 GB per OCPU; ${memoryInGbs} GB does not fit ${ocpus} OCPU(s)`);
    }
  } else if (known(shape) && shape === E2_MICRO) {
    if (known(ocpus) && ocpus !== 1) throw new Error(`${name("ocpus")}: ${E2_MICRO} is a fixed shape; count it as 1 OCPU`);
    if (known(memoryInGbs) && memoryInGbs !== 1) throw new Error(`${name("memoryInGbs")}: ${E2_MICRO} has 1 GB`);
  } else if (known(shape) && !/^VM\.[A-Za-z0-9.]+$/.test(shape)) {
    throw new Error(`${name("shape")}: "${shape}" is not an OCI VM shape name like ${A1_FLEX}`);
  } else {
    checkNumber(ocpus, name("ocpus"), { min: 1, max: 256, unit: "OCPUs" });
    checkNumber(memoryInGbs, name("memoryInGbs"), { min: 1, max: 4096, unit: "GB" });
  }
  checkNumber(bootVolumeSizeInGbs, name("bootVolumeSizeInGbs"), { min: 50, max: 32768, integer: true, unit: "GB" });
}

/** How a node boots: what differs between a manager and a worker; nodeCloudConfig adds what they share. */
export interface NodeBootProps<T extends NodeConfigBase> {
  /** node.json's `role`, which the loader also reads (release.conf). */
  readonly role: T["role"];
  /** The node.json's own keys; called each time user_data is rendered (at synth). */
  readonly config: () => Omit<T, keyof NodeConfigBase>;
  /** The host firewall's open ports; called when user_data is rendered, so ports opened later are in it. */
  readonly hostPorts: () => HostPort[];
  /** The host release the node's loader installs (its programs and units; the role picks which units start). */
  readonly release: IHostRelease;
  /** The node's cleanup threshold (ResolvedNodeOptions.dockerPruneAfterHours). */
  readonly dockerPruneAfterHours: number;
  /** @default - no Tailscale on this node */
  readonly tailscale?: TailscaleHostConfig;
}

/** How often the usage sampler records a sample. */
export const USAGE_SAMPLE_SECONDS = 60;

/**
 * A node's cloud-config: node.json, the host release's loader with what it reads (release.conf) and the unit that
 * runs it at every boot until the first release is installed (templates/common/loader.sh); the release brings harden.sh and the role's units,
 * Tailscale's when node.json has a `tailscale` key. Every node blocks its containers from the instance metadata
 * service (harden.sh), which holds the node's credentials.
 */
export function nodeCloudConfig<T extends NodeConfigBase>(props: NodeBootProps<T>): CloudConfig {
  const tailscale = props.tailscale;
  const release = releaseNodeConfig(props.release);
  const loaderConfig = { path: LOADER_CONFIG_PATH, content: loaderConfigText(props.role, props.release.sha256, release), permissions: "0600" };
  return new CloudConfig({
    configPath: NODE_CONFIG_PATH,
    config: () => ({
      role: props.role,
      ...props.config(),
      hostPorts: props.hostPorts(),
      blockContainerMetadata: true,
      release,
      dockerCleanup: { pruneAfterHours: props.dockerPruneAfterHours },
      usage: {
        stateDir: USAGE_STATE_DIR,
        sampleSeconds: USAGE_SAMPLE_SECONDS,
        windowDays: ORACLE_IDLE_RULE.windowDays,
        idleThresholdPercent: ORACLE_IDLE_RULE.thresholdPercent,
        instanceMetadataUrl: INSTANCE_METADATA_URL,
      },
      ...(tailscale ? { tailscale: tailscale.config } : {}),
    }),
    files: [{ path: LOADER_PATH, content: readHostFile("common/loader.sh"), permissions: "0700" }, RELEASE_INSTALL_UNIT],
    terraformFiles: [loaderConfig, ...(tailscale ? [tailscale.keyFile] : [])],
    bootCommands: [FIRST_BOOT_REDONE],
    runCommands: [
      ["systemctl", "daemon-reload"],
      ["systemctl", "enable", "--now", "--no-block", RELEASE_INSTALL_UNIT_NAME],
      FIRST_BOOT_RECORDED,
    ],
  });
}

const RELEASE_INSTALL_UNIT_NAME = "dokploy-release-install.service";
const RELEASE_INSTALL_UNIT = systemdUnit(RELEASE_INSTALL_UNIT_NAME, `common/${RELEASE_INSTALL_UNIT_NAME}`);
/** cloud-init's "done for this instance" marker of each module. */
const CLOUD_INIT_INSTANCE_MARKERS = "/var/lib/cloud/instance/sem/config_*";
/**
 * A power cut during the first boot can leave files cloud-init had just written empty (ext4 writes data back later)
 * while its markers say done: on a real machine the SSH host keys and the runcmd script came back empty and the node
 * never finished. So until the first boot is on disk (FIRST_BOOT_RECORDED) or the host release is installed, each
 * boot clears the markers, and cloud-init does the whole first boot again.
 */
const FIRST_BOOT_REDONE = ["sh", "-c", `test -e ${FIRST_BOOT_DONE_PATH} || test -e ${RELEASE_STATE_PATH} || rm -f ${CLOUD_INIT_INSTANCE_MARKERS}`];
/** The first boot's last command: what it wrote reaches the disk, then is recorded as done (and that too). */
const FIRST_BOOT_RECORDED = [
  "sh",
  "-c",
  `systemctl is-enabled --quiet ${RELEASE_INSTALL_UNIT_NAME} && sync && mkdir -p ${path.posix.dirname(FIRST_BOOT_DONE_PATH)} && touch ${FIRST_BOOT_DONE_PATH} && sync`,
];

/** The instance tag naming the release a node should run: Terraform updates it in place, the node's agent follows. */
export function releaseTags(release: IHostRelease, tags: Record<string, string> | undefined): Record<string, string> {
  if (tags !== undefined && Token.isUnresolved(tags)) return Fn.merge([tags, { [RELEASE_TAG_KEY]: release.sha256 }]) as unknown as Record<string, string>;
  return { ...tags, [RELEASE_TAG_KEY]: release.sha256 };
}

/** The newest Canonical Ubuntu image for a shape (the shape filter picks aarch64 images for A1), one lookup per stack. */
export function ubuntuImageId(scope: Construct, compartmentId: string, version: string, shape: string): string {
  const stack = TerraformStack.of(scope);
  const id = `UbuntuImage-${version}-${shape}`.replace(/[^A-Za-z0-9-]/g, "-");
  const existing = stack.node.tryFindChild(id) as DataOciCoreImages | undefined;
  const images =
    existing ??
    new DataOciCoreImages(stack, id, {
      compartmentId,
      operatingSystem: "Canonical Ubuntu",
      operatingSystemVersion: version,
      shape,
      sortBy: "TIMECREATED",
      sortOrder: "DESC",
    });
  return images.images.get(0).id;
}

/**
 * The name of the availability domain at `index` (0-based) in the region, one lookup per stack. An index past the
 * region's domains is a plan-time error ("Invalid index"), never a silent wrap to another domain; `wrap` asks for
 * wrapping on purpose (spreading a pool over however many domains there are).
 */
export function availabilityDomainName(scope: Construct, compartmentId: string, index: number | string, wrap = false): string {
  const stack = TerraformStack.of(scope);
  const existing = stack.node.tryFindChild("AvailabilityDomains") as DataOciIdentityAvailabilityDomains | undefined;
  const domains = existing ?? new DataOciIdentityAvailabilityDomains(stack, "AvailabilityDomains", { compartmentId });
  if (wrap) return Fn.lookup(Fn.element(domains.availabilityDomains, Token.asNumber(index)), "name", "");
  return domains.availabilityDomains.get(Token.asNumber(index)).name;
}

export interface NodeInstanceProps {
  /** Shape, size, image and placement, defaults applied (resolveNodeOptions). */
  readonly node: ResolvedNodeOptions;
  readonly compartmentId: string;
  /** @default - node.availabilityDomain, else the domain at node.availabilityDomainIndex */
  readonly availabilityDomain?: string;
  readonly faultDomain?: string;
  readonly displayName: string;
  readonly hostnameLabel: string;
  readonly subnetId: string;
  readonly nsgIds: string[];
  readonly privateIp?: string;
  /** OpenSSH public keys for `ubuntu` (a Terraform list when they come from a variable). */
  readonly sshPublicKeys: string[];
  readonly cloudConfig: CloudConfig;
  /** The node's host release: its tag is set on the instance, which waits for the upload. */
  readonly release: IHostRelease;
  readonly freeformTags?: Record<string, string>;
  /** Several identical nodes from one resource (names and placement then use count.index). */
  readonly count?: TerraformCount;
  /** Checked by Terraform at plan time, e.g. the shape of a Tailscale key only Terraform knows. */
  readonly preconditions?: ReadonlyArray<Precondition>;
}

/**
 * One node. A new image or an edited user_data must not replace a running node (cloud-init runs once; the node
 * was set up from the first one), so both are ignored after creation.
 */
export function createNodeInstance(scope: Construct, id: string, props: NodeInstanceProps): CoreInstance {
  checkUserDataSize(props.cloudConfig, props.displayName);
  // Rendered at synth: ports opened and pools added after this construct still reach the node's config.
  const userData = Lazy.stringValue({
    produce: () => {
      checkUserDataSize(props.cloudConfig, props.displayName);
      return props.cloudConfig.renderUserData();
    },
  });
  const preconditions = [...(props.preconditions ?? []), ...props.node.planTimeChecks, ...sshKeysFitCheck(props)];
  const { node, compartmentId } = props;
  const flexible = Token.isUnresolved(node.shape) || node.shape.includes(".Flex");
  return new CoreInstance(scope, id, {
    compartmentId,
    availabilityDomain: props.availabilityDomain ?? node.availabilityDomain ?? availabilityDomainName(scope, compartmentId, node.availabilityDomainIndex),
    faultDomain: props.faultDomain,
    displayName: props.displayName,
    shape: node.shape,
    shapeConfig: flexible ? { ocpus: node.ocpus, memoryInGbs: node.memoryInGbs } : undefined,
    sourceDetails: {
      sourceType: "image",
      sourceId: node.imageId ?? ubuntuImageId(scope, compartmentId, node.ubuntuVersion, node.shape),
      // The provider takes the size as a string.
      bootVolumeSizeInGbs: Token.isUnresolved(node.bootVolumeSizeInGbs) ? Token.asString(node.bootVolumeSizeInGbs) : String(node.bootVolumeSizeInGbs),
    },
    createVnicDetails: {
      subnetId: props.subnetId,
      assignPublicIp: "true",
      hostnameLabel: props.hostnameLabel,
      nsgIds: props.nsgIds,
      privateIp: props.privateIp,
    },
    metadata: { ssh_authorized_keys: Fn.join("\n", props.sshPublicKeys), user_data: userData },
    availabilityConfig: { recoveryAction: "RESTORE_INSTANCE" },
    preserveBootVolume: false,
    freeformTags: releaseTags(props.release, props.freeformTags),
    dependsOn: [props.release.upload],
    count: props.count,
    lifecycle: {
      ignoreChanges: ["source_details[0].source_id", "metadata"],
      ...(preconditions.length ? { precondition: preconditions } : {}),
    },
  });
}

function checkUserDataSize(cloudConfig: CloudConfig, displayName: string): void {
  const bytes = cloudConfig.estimateUserDataBytes();
  if (bytes > OCI_METADATA_LIMIT_BYTES - SSH_KEYS_RESERVE_BYTES) {
    throw new Error(
      `${displayName}: user_data is about ${bytes} bytes; at most ${OCI_METADATA_LIMIT_BYTES - SSH_KEYS_RESERVE_BYTES} leaves ` +
        `${SSH_KEYS_RESERVE_BYTES} for the SSH keys within OCI's ${OCI_METADATA_LIMIT_BYTES}-byte metadata limit`,
    );
  }
}

/**
 * The SSH keys must fit in what user_data leaves of the metadata limit: checked now when they are literal, else by
 * Terraform at plan time (an ORM variable), so OCI never refuses the launch half-way through an apply.
 */
function sshKeysFitCheck(props: NodeInstanceProps): Precondition[] {
  const room = () => OCI_METADATA_LIMIT_BYTES - props.cloudConfig.estimateUserDataBytes();
  const problem = `the SSH public keys and the node's user_data together pass OCI's ${OCI_METADATA_LIMIT_BYTES}-byte metadata limit`;
  const keys = props.sshPublicKeys;
  if (!Token.isUnresolved(keys) && !keys.some((key) => Token.isUnresolved(key))) {
    const bytes = Buffer.byteLength(keys.join("\n"));
    if (bytes > room()) throw new Error(`sshPublicKeys: ${bytes} bytes of keys, ${room()} left: ${problem}; use fewer keys or ed25519 ones`);
    return [];
  }
  return [
    {
      condition: Op.lte(Fn.lengthOf(Fn.join("\n", keys)), Lazy.numberValue({ produce: room })),
      errorMessage: `sshPublicKeys: ${problem}; use fewer keys or ed25519 ones.`,
    },
  ];
}

/** Adds plan-time checks to a resource, after those it has: a check is never replaced by another. */
export function addPreconditions(resource: TerraformResource, ...checks: Precondition[]): void {
  resource.lifecycle = { ...resource.lifecycle, precondition: [...(resource.lifecycle?.precondition ?? []), ...checks] };
}

/** Removes checks added with addPreconditions (a cluster-wide check moving to the newest pool). */
export function removePreconditions(resource: TerraformResource, ...checks: Precondition[]): void {
  const kept = (resource.lifecycle?.precondition ?? []).filter((check) => !checks.includes(check));
  resource.lifecycle = { ...resource.lifecycle, precondition: kept.length ? kept : undefined };
}
