/**
 * The real-machine lab's addresses and the state its services read at every request (lab-services.ts), shaped as
 * OCI's instance metadata service v2 answers (docs.oracle.com "Getting Instance Metadata"; the fields cloud-init's
 * Oracle datasource reads: ../shared/research/vm-lab.md).
 */

/** The subnet's gateway, as on a VCN (its .1), where the lab's installer server and Dokploy forward listen. */
export const LAB_SERVER_IP = "10.0.0.1";
export const LAB_PREFIX_LENGTH = 24;
export const IMDS_ADDRESS = "169.254.169.254";

export interface ImdsInstance {
  readonly document: Record<string, unknown>;
  readonly vnic: Record<string, unknown>;
}

export interface LabState {
  /** By the machine's private address. */
  readonly instances: Record<string, ImdsInstance>;
  /** Until `until` (ms since the epoch) the metadata service answers 500 to the machines at these addresses. */
  readonly imdsFailing?: { readonly until: number; readonly for: readonly string[] };
  /** The installer server drops this many connections before it answers (a mirror down for a while). */
  readonly installersFailFirst?: number;
}

export interface InstanceSpec {
  readonly name: string;
  readonly privateIp: string;
  readonly mac: string;
  /** The instance's metadata as Terraform renders it: user_data (base64 gzip) and ssh_authorized_keys. */
  readonly metadata: Record<string, string>;
  readonly freeformTags: Record<string, string>;
}

/** The instance document and VNIC of one machine, with the values OCI gives an A1 instance in a free tenancy. */
export function imdsInstance(spec: InstanceSpec): ImdsInstance {
  const id = `ocid1.instance.oc1.eu-frankfurt-1.lab${spec.name.replace(/[^a-z0-9]/g, "")}`;
  return {
    document: {
      availabilityDomain: "Uocm:EU-FRANKFURT-1-AD-1",
      faultDomain: "FAULT-DOMAIN-1",
      compartmentId: "ocid1.compartment.oc1..lab",
      displayName: spec.name,
      hostname: spec.name,
      id,
      image: "ocid1.image.oc1.eu-frankfurt-1.lab",
      metadata: spec.metadata,
      region: "eu-frankfurt-1",
      canonicalRegionName: "eu-frankfurt-1",
      ociAdName: "eu-frankfurt-1-ad-1",
      shape: "VM.Standard.A1.Flex",
      shapeConfig: { ocpus: 1, memoryInGBs: 6, networkingBandwidthInGbps: 1, maxVnicAttachments: 2 },
      state: "Running",
      timeCreated: Date.now(),
      freeformTags: spec.freeformTags,
      definedTags: {},
    },
    vnic: {
      vnicId: `${id}.vnic`,
      privateIp: spec.privateIp,
      vlanTag: 0,
      macAddr: spec.mac,
      virtualRouterIp: LAB_SERVER_IP,
      subnetCidrBlock: `10.0.0.0/${LAB_PREFIX_LENGTH}`,
      nicIndex: 0,
    },
  };
}
