import { AssetType, Fn, TerraformAsset, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { Id } from "@cdktf/provider-random/lib/id";
import { DataOciObjectstorageNamespace } from "../../.gen/providers/oci/data-oci-objectstorage-namespace";
import { ObjectstorageBucket } from "../../.gen/providers/oci/objectstorage-bucket";
import { ObjectstorageObject } from "../../.gen/providers/oci/objectstorage-object";
import { ObjectstoragePreauthrequest } from "../../.gen/providers/oci/objectstorage-preauthrequest";
import { HostReleaseArtifact, IHostRelease, hostReleaseFile } from "../../lib/host-release";
import { ensureRandomProvider } from "../../lib/providers";
import { NAME_PREFIX } from "../../lib/rules";

/**
 * When the nodes' read access to the releases bucket ends: a fixed date, so that a plan never changes it (a new
 * expiry would replace the pre-authenticated request and change the URL every node keeps in its node.json).
 */
export const RELEASE_READ_ACCESS_EXPIRES = "2099-12-31T00:00:00Z";

export interface HostReleaseProps {
  /** Compartment of the releases bucket. */
  readonly compartmentId: string;
  /** The bucket is `<namePrefix>-releases-<8 random hex digits>` (bucket names are unique per tenancy and region). @default - "dokploy" */
  readonly namePrefix?: string;
  /** @default - no tags */
  readonly freeformTags?: Record<string, string>;
}

/**
 * The cluster's host release in Object Storage: a private bucket of its own that holds nothing but releases
 * (`<sha256>.tar.gz`, built from templates/ at synth: same templates, same object), and a read-only
 * pre-authenticated request for reading objects in that bucket only (no listing). Nodes need no IAM policy to fetch
 * it. The URL exposes the host programs, which are public in this package; never a secret (node.json, backups and
 * credentials live elsewhere).
 */
export class HostRelease extends Construct implements IHostRelease {
  /** The release of the stack: the one a construct gets when it is given none. */
  static of(scope: Construct, compartmentId: string): HostRelease {
    const stack = TerraformStack.of(scope);
    return (stack.node.tryFindChild("HostRelease") as HostRelease | undefined) ?? new HostRelease(stack, "HostRelease", { compartmentId });
  }

  public readonly sha256: string;
  public readonly url: string;
  public readonly upload: ObjectstorageObject;
  public readonly bucket: ObjectstorageBucket;
  public readonly readAccess: ObjectstoragePreauthrequest;
  public readonly artifact: HostReleaseArtifact;

  constructor(scope: Construct, id: string, props: HostReleaseProps) {
    super(scope, id);
    const prefix = props.namePrefix ?? "dokploy";
    NAME_PREFIX.check(prefix, "namePrefix");
    const { artifact, file } = hostReleaseFile();
    this.artifact = artifact;
    this.sha256 = artifact.sha256;
    ensureRandomProvider(this);
    const suffix = new Id(this, "BucketSuffix", { byteLength: 4 });
    const namespace = new DataOciObjectstorageNamespace(this, "Namespace", { compartmentId: props.compartmentId }).namespace;
    this.bucket = new ObjectstorageBucket(this, "Bucket", {
      compartmentId: props.compartmentId,
      namespace,
      name: `${prefix}-releases-${suffix.hex}`,
      accessType: "NoPublicAccess",
      freeformTags: props.freeformTags,
    });
    const asset = new TerraformAsset(this, "Archive", { path: file, type: AssetType.FILE });
    this.upload = new ObjectstorageObject(this, "Object", {
      namespace,
      bucket: this.bucket.name,
      object: artifact.objectName,
      source: asset.path,
      contentType: "application/gzip",
      // The new release is in the bucket before the old one goes (nodes keep theirs locally anyway).
      lifecycle: { createBeforeDestroy: true },
    });
    this.readAccess = new ObjectstoragePreauthrequest(this, "ReadAccess", {
      namespace,
      bucket: this.bucket.name,
      name: `${prefix}-nodes-read-releases`,
      accessType: "AnyObjectRead",
      bucketListingAction: "Deny",
      timeExpires: RELEASE_READ_ACCESS_EXPIRES,
    });
    // full_path is the whole URL; its host with access_uri (the path to append object names to, ending in /o/).
    this.url = Fn.format("%s%s", [Fn.regex("^https://[^/]+", this.readAccess.fullPath), this.readAccess.accessUri]);
  }
}
