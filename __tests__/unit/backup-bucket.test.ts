/**
 * constructs/oci/backup-bucket.ts on its own stack: what it creates (or leaves out), the limits and their messages,
 * the checks it leaves to plan time, and node.json's `backups`. Expected values are written out.
 */
import { DefaultTokenResolver, StringConcat, TerraformStack, TerraformVariable, Testing, Tokenization } from "cdktf";
import { BackupBucket, BackupBucketProps } from "../../constructs/oci/backup-bucket";

const COMPARTMENT = "ocid1.compartment.oc1..aaaa";
const USER = "ocid1.user.oc1..aaaa";
const BUCKET = "oci_objectstorage_bucket";
const KEY = "oci_identity_customer_secret_key";
const KEYS = "oci_identity_customer_secret_keys";
const SUFFIX = "random_id.Backups_BucketSuffix_65189392.hex";

function bucket(props: Partial<BackupBucketProps> = {}, stack = new TerraformStack(Testing.app(), "backups")) {
  const backups = new BackupBucket(stack, "Backups", { compartmentId: COMPARTMENT, region: "eu-frankfurt-1", userId: USER, ...props });
  const synthesized = JSON.parse(Testing.synth(stack));
  /** The one block of `type`, undefined when there is none. */
  const only = (kind: "resource" | "data", type: string): Record<string, any> | undefined => {
    const blocks = Object.values<Record<string, any>>(synthesized[kind]?.[type] ?? {});
    if (blocks.length > 1) throw new Error(`${blocks.length} blocks of ${type}`);
    return blocks[0];
  };
  const config = Tokenization.resolve(backups.hostConfig(), { scope: stack, preparing: false, resolver: new DefaultTokenResolver(new StringConcat()) });
  return { backups, only, config, synthesized };
}

test("defaults: a private bucket with a random suffix, a Customer Secret Key for the user, daily at 03:00, seven kept", () => {
  const { only, config } = bucket();
  expect(only("resource", BUCKET)).toEqual({
    access_type: "NoPublicAccess",
    compartment_id: COMPARTMENT,
    count: 1,
    lifecycle: { precondition: [] },
    name: `\${join("", ["dokploy-backups-", ${SUFFIX}])}`,
    namespace: "${data.oci_objectstorage_namespace.Backups_Namespace_1C42C8C9.namespace}",
  });
  expect(only("resource", "random_id")).toEqual({ byte_length: 4 });
  expect(only("data", "oci_objectstorage_namespace")).toEqual({ compartment_id: COMPARTMENT });
  const key = only("resource", KEY)!;
  const displayName = `join("", ["dokploy-backups-", ${SUFFIX}, " (Dokploy's backups)"])`;
  expect(key.user_id).toBe(USER);
  expect(key.count).toBe(1);
  expect(key.display_name).toBe(`\${${displayName}}`);
  // The key this stack made is not counted against the limit of two; deleted keys are not either.
  expect(key.lifecycle.precondition).toEqual([
    {
      condition:
        `\${length([for k in flatten(data.${KEYS}.Backups_ExistingKeys_C657C2B6[*].customer_secret_keys) : k if k.display_name != ${displayName} && k.state != "DELETED"]) < 2}`,
      error_message:
        "backups: the user already has 2 Customer Secret Keys, OCI's limit. Delete one (Identity > Users > Customer secret keys), " +
        "or give the access key and secret of an existing one, or switch backups off.",
    },
  ]);
  expect(only("data", KEYS)).toEqual({ count: 1, user_id: USER });
  expect(config).toEqual({
    enabled: true,
    destinationName: "dokploy-oci",
    bucket: `\${join("", ["dokploy-backups-", ${SUFFIX}])}`,
    endpoint: '${join("", ["https://", data.oci_objectstorage_namespace.Backups_Namespace_1C42C8C9.namespace, ".compat.objectstorage.", "eu-frankfurt-1", ".oraclecloud.com"])}',
    region: "eu-frankfurt-1",
    accessKey: `\${one(${KEY}.Backups_SecretKey_C06EFD64[*].id)}`,
    secretKey: `\${one(${KEY}.Backups_SecretKey_C06EFD64[*].key)}`,
    schedule: "0 3 * * *",
    keepLatestCount: 7,
    restoreAtFirstBoot: true,
  });
});

test("a key brought along: no key created, none listed, no user needed; the given values go to node.json", () => {
  const { only, config } = bucket({ userId: undefined, accessKey: "AKEY", secretKey: "the-secret" });
  expect(only("resource", KEY)).toBeUndefined();
  expect(only("data", KEYS)).toBeUndefined();
  expect(only("resource", BUCKET)).toMatchObject({ count: 1, access_type: "NoPublicAccess" });
  expect(config).toMatchObject({ accessKey: "AKEY", secretKey: "the-secret", enabled: true });
});

test("given name prefix, tags, schedule, count kept and no restore", () => {
  const { only, config } = bucket({
    namePrefix: "shop",
    freeformTags: { team: "web" },
    schedule: "30 1 * * 0",
    keepLatestCount: 365,
    restoreAtFirstBoot: false,
  });
  expect(only("resource", BUCKET)).toMatchObject({ name: `\${join("", ["shop-backups-", ${SUFFIX}])}`, freeform_tags: { team: "web" } });
  expect(only("resource", KEY)!.display_name).toBe(`\${join("", ["shop-backups-", ${SUFFIX}, " (Dokploy's backups)"])}`);
  expect(config).toMatchObject({ schedule: "30 1 * * 0", keepLatestCount: 365, restoreAtFirstBoot: false });
  expect(bucket({ keepLatestCount: 1 }).config.keepLatestCount).toBe(1);
});

test("switched off: nothing counted is created; the name's suffix and the namespace stay (reads create nothing)", () => {
  const { only, config } = bucket({ enabled: false });
  expect(only("resource", BUCKET)!.count).toBe(0);
  expect(only("resource", KEY)!.count).toBe(0);
  expect(only("data", KEYS)!.count).toBe(0);
  expect(only("resource", "random_id")).toEqual({ byte_length: 4 });
  expect(only("data", "oci_objectstorage_namespace")).toEqual({ compartment_id: COMPARTMENT });
  expect(config.enabled).toBe(false);
});

test("switched by a Terraform bool: each count follows it", () => {
  const stack = new TerraformStack(Testing.app(), "switched");
  const enabled = new TerraformVariable(stack, "backups_enabled", { type: "bool" }).booleanValue;
  const { only, config } = bucket({ enabled }, stack);
  for (const block of [only("resource", BUCKET), only("resource", KEY), only("data", KEYS)]) {
    expect(block!.count).toBe("${var.backups_enabled ? 1 : 0}");
  }
  expect(config.enabled).toBe("${var.backups_enabled}");
});

test("limits, each naming the prop the user wrote", () => {
  expect(() => bucket({ schedule: "daily" })).toThrow('schedule: "daily" is not allowed; use a cron expression of five fields such as "0 3 * * *" (daily at 03:00 UTC)');
  expect(() => bucket({ region: "Frankfurt" })).toThrow('region: "Frankfurt" is not allowed; use a region identifier such as "eu-frankfurt-1"');
  expect(() => bucket({ keepLatestCount: 0 })).toThrow("keepLatestCount: 0 is out of range; use a whole number from 1 to 365");
  expect(() => bucket({ keepLatestCount: 366 })).toThrow("keepLatestCount: 366 is out of range; use a whole number from 1 to 365");
  expect(() => bucket({ keepLatestCount: 2.5 })).toThrow("keepLatestCount: 2.5 is out of range; use a whole number from 1 to 365");
  expect(() => bucket({ userId: "ocid1.group.oc1..aaaa" })).toThrow('userId: "ocid1.group.oc1..aaaa" is not allowed; use a user OCID such as "ocid1.user.oc1..aaaa…"');
});

test("the key: both halves or neither, and without them a user", () => {
  const both = "accessKey, secretKey: give both (a Customer Secret Key's access key and its secret), or neither";
  expect(() => bucket({ accessKey: "AKEY" })).toThrow(both);
  expect(() => bucket({ secretKey: "the-secret" })).toThrow(both);
  expect(() => bucket({ userId: undefined, accessKey: "AKEY" })).toThrow(both);
  expect(() => bucket({ userId: undefined })).toThrow(
    "userId: give the OCID of the user whose Customer Secret Key the backups use, or accessKey and secretKey of a key you created",
  );
  // A user and a key of one's own: the key is used, and the user is still checked.
  expect(bucket({ accessKey: "AKEY", secretKey: "the-secret" }).only("resource", KEY)).toBeUndefined();
  expect(() => bucket({ userId: "nobody", accessKey: "AKEY", secretKey: "the-secret" })).toThrow('userId: "nobody" is not allowed');
});

test("values from Terraform variables are checked at plan time, on the resource that uses them", () => {
  const stack = new TerraformStack(Testing.app(), "variables");
  const text = (name: string) => new TerraformVariable(stack, name, { type: "string" }).stringValue;
  const { only } = bucket({ region: text("region"), schedule: text("schedule"), userId: text("user") }, stack);
  const messages = (block: Record<string, any>) => block.lifecycle.precondition.map((check: { error_message: string }) => check.error_message);
  expect(messages(only("resource", BUCKET)!)).toEqual([
    expect.stringMatching(/^schedule: .*five fields/),
    expect.stringMatching(/^region: .*region identifier/),
  ]);
  expect(messages(only("resource", KEY)!)).toEqual([expect.stringMatching(/^backups: the user already has 2/), expect.stringMatching(/^userId: .*user OCID/)]);
  const conditions = JSON.stringify(only("resource", BUCKET)!.lifecycle.precondition);
  expect(conditions).toContain("var.schedule");
  expect(conditions).toContain("var.region");
});
