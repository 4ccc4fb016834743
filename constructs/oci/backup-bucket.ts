import { Fn, IResolvable, TerraformResource, Token, ref } from "cdktf";
import { Construct } from "constructs";
import { Id } from "@cdktf/provider-random/lib/id";
import { DataOciIdentityCustomerSecretKeys } from "../../.gen/providers/oci/data-oci-identity-customer-secret-keys";
import { DataOciObjectstorageNamespace } from "../../.gen/providers/oci/data-oci-objectstorage-namespace";
import { IdentityCustomerSecretKey } from "../../.gen/providers/oci/identity-customer-secret-key";
import { ObjectstorageBucket } from "../../.gen/providers/oci/objectstorage-bucket";
import { BackupsHostConfig } from "../../lib/host-contract";
import { addPreconditions } from "../../lib/oci-node";
import { ensureRandomProvider } from "../../lib/providers";
import { BACKUP_SCHEDULE, OCI_REGION, OCI_USER_ID, checkNumber, planTimeChecks } from "../../lib/rules";

/** OCI allows two Customer Secret Keys per user. */
export const MAX_CUSTOMER_SECRET_KEYS = 2;
/** Daily at 03:00 UTC. */
export const DEFAULT_BACKUP_SCHEDULE = "0 3 * * *";
/** A week of daily backups: a few MB each for a small cluster, far inside Always Free's 20 GB. */
export const DEFAULT_BACKUP_KEEP_LATEST = 7;
export const BACKUP_KEEP_LATEST_RANGE = { min: 1, max: 365, integer: true } as const;

export interface BackupBucketProps {
  readonly compartmentId: string;
  /** The region the bucket is in (the S3 endpoint names it), e.g. "eu-frankfurt-1". */
  readonly region: string;
  /**
   * OCID of the OCI user who gets the Customer Secret Key the backups use (Resource Manager's current_user_ocid).
   * @default - none: give accessKey and secretKey instead
   */
  readonly userId?: string;
  /**
   * A Customer Secret Key you created yourself: its access key, and (sensitive) its secret. Both or neither.
   * @default - a key created for userId
   */
  readonly accessKey?: string;
  /** @default - the created key's secret */
  readonly secretKey?: string;
  /** Cron expression, in UTC, of Dokploy's web-server backup. @default - "0 3 * * *" (daily at 03:00) */
  readonly schedule?: string;
  /** How many backups Dokploy keeps in the bucket (older ones are deleted after each backup). @default - 7 */
  readonly keepLatestCount?: number;
  /**
   * A new manager restores the newest backup in the bucket at its first boot (a bucket with none: it starts empty).
   * @default - true
   */
  readonly restoreAtFirstBoot?: boolean | IResolvable;
  /**
   * Whether anything is created: false leaves out the bucket and the key (may be a Terraform bool).
   * @default - true
   */
  readonly enabled?: boolean | IResolvable;
  /** The bucket is `<namePrefix>-backups-<8 random hex digits>` (bucket names are unique per tenancy and region). @default - "dokploy" */
  readonly namePrefix?: string;
  /** @default - no tags */
  readonly freeformTags?: Record<string, string>;
}

/**
 * A private Object Storage bucket for Dokploy's own backups (its database and /etc/dokploy) and the S3 credentials
 * Dokploy uses for it: a Customer Secret Key, created for a user or brought along. The bucket holds nothing else and
 * never gets a pre-authenticated request.
 */
export class BackupBucket extends Construct {
  public readonly bucket: ObjectstorageBucket;
  /** The bucket's name. */
  public readonly bucketName: string;
  /** https://<namespace>.compat.objectstorage.<region>.oraclecloud.com (path-style S3). */
  public readonly endpoint: string;
  private readonly config: BackupsHostConfig;

  constructor(scope: Construct, id: string, props: BackupBucketProps) {
    super(scope, id);
    const schedule = props.schedule ?? DEFAULT_BACKUP_SCHEDULE;
    BACKUP_SCHEDULE.check(schedule, "schedule");
    OCI_REGION.check(props.region, "region");
    const keepLatestCount = props.keepLatestCount ?? DEFAULT_BACKUP_KEEP_LATEST;
    checkNumber(keepLatestCount, "keepLatestCount", BACKUP_KEEP_LATEST_RANGE);
    const ownKey = props.accessKey !== undefined || props.secretKey !== undefined;
    if (ownKey && (props.accessKey === undefined || props.secretKey === undefined)) {
      throw new Error("accessKey, secretKey: give both (a Customer Secret Key's access key and its secret), or neither");
    }
    if (!ownKey && props.userId === undefined) {
      throw new Error("userId: give the OCID of the user whose Customer Secret Key the backups use, or accessKey and secretKey of a key you created");
    }
    if (props.userId !== undefined) OCI_USER_ID.check(props.userId, "userId");
    const enabled = props.enabled ?? true;
    // Terraform's count: 1, or 0 when a Terraform bool switches backups off (a literal false creates nothing).
    const count: number = Token.isUnresolved(enabled) ? Fn.conditional(enabled, 1, 0) : enabled ? 1 : 0;

    // Read whether or not backups are on (a read creates nothing): the endpoint in node.json is never null, which
    // Terraform's join would refuse at plan time.
    const namespace = new DataOciObjectstorageNamespace(this, "Namespace", { compartmentId: props.compartmentId }).namespace;
    ensureRandomProvider(this);
    // Made once, with no keepers, and without the count: the name stays the same for the stack's life, also across
    // backups switched off and on again.
    const suffix = new Id(this, "BucketSuffix", { byteLength: 4 });
    const name = (...rest: string[]) => Fn.join("", [`${props.namePrefix ?? "dokploy"}-backups-`, suffix.hex, ...rest]);
    this.bucketName = name();
    this.bucket = new ObjectstorageBucket(this, "Resource", {
      compartmentId: props.compartmentId,
      namespace,
      name: this.bucketName,
      accessType: "NoPublicAccess",
      freeformTags: props.freeformTags,
      count,
    });
    // Joined by Terraform: a token inside a template string would reach jsonencode as an escaped "${" (cdktf warns).
    this.endpoint = Fn.join("", ["https://", namespace, ".compat.objectstorage.", props.region, ".oraclecloud.com"]);

    let accessKey = props.accessKey;
    let secretKey = props.secretKey;
    if (!ownKey) {
      const displayName = name(" (Dokploy's backups)");
      const existing = new DataOciIdentityCustomerSecretKeys(this, "ExistingKeys", { userId: props.userId!, count });
      const key = new IdentityCustomerSecretKey(this, "SecretKey", { userId: props.userId!, displayName, count });
      // The key this stack made is listed too once it exists: only the others count.
      const others = `length([for k in flatten(${existing.fqn}[*].customer_secret_keys) : k if k.display_name != ${displayName} && k.state != "DELETED"])`;
      addPreconditions(
        key,
        {
          condition: Token.asAny(`\${${others} < ${MAX_CUSTOMER_SECRET_KEYS}}`),
          errorMessage:
            `backups: the user already has ${MAX_CUSTOMER_SECRET_KEYS} Customer Secret Keys, OCI's limit. Delete one (Identity > Users > Customer secret keys), ` +
            "or give the access key and secret of an existing one, or switch backups off.",
        },
        ...planTimeChecks([OCI_USER_ID, props.userId!, "userId"]),
      );
      accessKey = only(key, "id");
      secretKey = only(key, "key");
    }
    addPreconditions(this.bucket, ...planTimeChecks([BACKUP_SCHEDULE, schedule, "schedule"], [OCI_REGION, props.region, "region"]));
    this.config = {
      enabled: enabled as boolean,
      destinationName: "dokploy-oci",
      bucket: this.bucketName,
      endpoint: this.endpoint,
      region: props.region,
      accessKey: accessKey!,
      secretKey: secretKey!,
      schedule,
      keepLatestCount,
      restoreAtFirstBoot: (props.restoreAtFirstBoot ?? true) as boolean,
    };
  }

  /** node.json's `backups` (manager/backups.py, manager/bootstrap.sh). */
  public hostConfig(): BackupsHostConfig {
    return this.config;
  }
}

/** `one(<resource>[*].<attribute>)`: the attribute of a counted resource, null when its count is 0. */
function only(resource: TerraformResource, attribute: string): string {
  // A reference Terraform sees as an expression wherever it lands (a literal "${" inside a larger string would be
  // escaped by cdktf, e.g. inside node.json's jsonencode).
  return Token.asString(Fn.one(ref(`${resource.terraformResourceType}.${resource.friendlyUniqueId}[*].${attribute}`)));
}
