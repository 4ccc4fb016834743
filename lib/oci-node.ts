/**
 * What manager and worker instances share: the Ubuntu image and availability-domain lookups, size validation
 * for the shapes the library supports, and the instance resource itself.
 */
import { Fn, Precondition, TerraformCount, TerraformStack, Token } from "cdktf";
import { Construct } from "constructs";
import { CoreInstance } from "../.gen/providers/oci/core-instance";
import { DataOciCoreImages } from "../.gen/providers/oci/data-oci-core-images";
import { DataOciIdentityAvailabilityDomains } from "../.gen/providers/oci/data-oci-identity-availability-domains";
import { CloudConfig, OCI_METADATA_LIMIT_BYTES } from "./cloud-init";

export type UbuntuVersion = "22.04" | "24.04";
export const UBUNTU_VERSIONS: ReadonlyArray<UbuntuVersion> = ["22.04", "24.04"];
export const A1_FLEX = "VM.Standard.A1.Flex";
export const E2_MICRO = "VM.Standard.E2.1.Micro";

/** The size of one node, as the props name it. */
export interface NodeSize {
  readonly shape: string;
  readonly ocpus: number;
  readonly memoryInGbs: number;
  readonly bootVolumeSizeInGbs: number;
}

/** Checks a node's size against the shape's limits; values that are Terraform tokens are checked at plan time. */
export function validateNodeSize(size: NodeSize, propPrefix = ""): void {
  const known = (value: unknown) => !Token.isUnresolved(value);
  const { shape, ocpus, memoryInGbs, bootVolumeSizeInGbs } = size;
  if (known(shape) && shape === A1_FLEX) {
    if (known(ocpus) && !(Number.isInteger(ocpus) && ocpus >= 1 && ocpus <= 80)) {
      throw new Error(`${propPrefix}ocpus: ${ocpus} is not a whole number of OCPUs between 1 and 80 for ${A1_FLEX}`);
    }
    if (known(memoryInGbs) && !(Number.isInteger(memoryInGbs) && memoryInGbs >= 1 && memoryInGbs <= 512)) {
      throw new Error(`${propPrefix}memoryInGbs: ${memoryInGbs} is not a whole number of GB between 1 and 512 for ${A1_FLEX}`);
    }
    if (known(ocpus) && known(memoryInGbs) && (memoryInGbs < ocpus || memoryInGbs > 64 * ocpus)) {
      throw new Error(`${propPrefix}memoryInGbs: ${A1_FLEX} takes 1 to 64 GB per OCPU; ${memoryInGbs} GB does not fit ${ocpus} OCPU(s)`);
    }
  } else if (known(shape) && shape === E2_MICRO) {
    if (known(ocpus) && ocpus !== 1) throw new Error(`${propPrefix}ocpus: ${E2_MICRO} is a fixed shape; count it as 1 OCPU`);
    if (known(memoryInGbs) && memoryInGbs !== 1) throw new Error(`${propPrefix}memoryInGbs: ${E2_MICRO} has 1 GB`);
  } else if (known(shape) && !/^VM\.[A-Za-z0-9.]+$/.test(shape)) {
    throw new Error(`${propPrefix}shape: "${shape}" is not an OCI VM shape name like ${A1_FLEX}`);
  }
  if (known(bootVolumeSizeInGbs) && !(Number.isInteger(bootVolumeSizeInGbs) && bootVolumeSizeInGbs >= 50 && bootVolumeSizeInGbs <= 32768)) {
    throw new Error(`${propPrefix}bootVolumeSizeInGbs: ${bootVolumeSizeInGbs} must be a whole number of GB from 50 to 32768`);
  }
}

export function validateUbuntuVersion(version: string, prop = "ubuntuVersion"): void {
  if (!Token.isUnresolved(version) && !UBUNTU_VERSIONS.includes(version as UbuntuVersion)) {
    throw new Error(`${prop}: "${version}" is not supported; use one of ${UBUNTU_VERSIONS.join(", ")}`);
  }
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

export function validateAvailabilityDomainIndex(index: number, prop = "availabilityDomainIndex"): void {
  // Regions have 1 or 3 availability domains.
  if (!Token.isUnresolved(index) && !(Number.isInteger(index) && index >= 0 && index <= 2)) {
    throw new Error(`${prop}: ${index} is out of range; regions have 1 or 3 availability domains (0, 1 or 2)`);
  }
}

export interface NodeInstanceProps extends NodeSize {
  readonly compartmentId: string;
  readonly availabilityDomain: string;
  readonly faultDomain?: string;
  readonly displayName: string;
  readonly hostnameLabel: string;
  readonly imageId: string;
  readonly subnetId: string;
  readonly nsgIds: string[];
  readonly privateIp?: string;
  /** Newline-separated OpenSSH public keys. */
  readonly sshAuthorizedKeys: string;
  readonly cloudConfig: CloudConfig;
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
  const userDataBytes = props.cloudConfig.estimateUserDataBytes();
  if (userDataBytes > OCI_METADATA_LIMIT_BYTES - 4000) {
    throw new Error(`${props.displayName}: user_data is about ${userDataBytes} bytes; OCI allows ${OCI_METADATA_LIMIT_BYTES} for all metadata`);
  }
  const flexible = Token.isUnresolved(props.shape) || props.shape.includes(".Flex");
  return new CoreInstance(scope, id, {
    compartmentId: props.compartmentId,
    availabilityDomain: props.availabilityDomain,
    faultDomain: props.faultDomain,
    displayName: props.displayName,
    shape: props.shape,
    shapeConfig: flexible ? { ocpus: props.ocpus, memoryInGbs: props.memoryInGbs } : undefined,
    sourceDetails: {
      sourceType: "image",
      sourceId: props.imageId,
      // The provider takes the size as a string.
      bootVolumeSizeInGbs: Token.isUnresolved(props.bootVolumeSizeInGbs) ? Token.asString(props.bootVolumeSizeInGbs) : String(props.bootVolumeSizeInGbs),
    },
    createVnicDetails: {
      subnetId: props.subnetId,
      assignPublicIp: "true",
      hostnameLabel: props.hostnameLabel,
      nsgIds: props.nsgIds,
      privateIp: props.privateIp,
    },
    metadata: { ssh_authorized_keys: props.sshAuthorizedKeys, user_data: props.cloudConfig.renderUserData() },
    availabilityConfig: { recoveryAction: "RESTORE_INSTANCE" },
    preserveBootVolume: false,
    freeformTags: props.freeformTags,
    count: props.count,
    lifecycle: {
      ignoreChanges: ["source_details[0].source_id", "metadata"],
      ...(props.preconditions?.length ? { precondition: [...props.preconditions] } : {}),
    },
  });
}
