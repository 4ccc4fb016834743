/**
 * constructs/oci/host-release.ts on its own, on a stack of its own: the releases bucket, the object, the read-only
 * pre-authenticated request, the URL nodes append object names to, and HostRelease.of. Expected values are written
 * out.
 */
import { DefaultTokenResolver, StringConcat, TerraformStack, Testing, Tokenization } from "cdktf";
import { HostRelease } from "../../constructs/oci/host-release";
import { buildRelease } from "../../lib/host-release";

function synth(props: { namePrefix?: string; freeformTags?: Record<string, string> } = {}) {
  const stack = new TerraformStack(Testing.app(), "release");
  const release = new HostRelease(stack, "HostRelease", { compartmentId: "c", ...props });
  const resolve = (value: unknown) => Tokenization.resolve(value, { scope: stack, preparing: false, resolver: new DefaultTokenResolver(new StringConcat()) });
  const json = JSON.parse(Testing.synth(stack));
  const only = (kind: string, group = json.resource) => {
    const entries = Object.entries<any>(group[kind]);
    expect(entries).toHaveLength(1);
    return { id: entries[0][0], value: entries[0][1] };
  };
  return { stack, release, resolve, json, only };
}

test("a private bucket named <prefix>-releases-<8 hex digits>, the release as its object, read access to its objects only", () => {
  const { release, resolve, json, only } = synth();
  const suffix = only("random_id");
  expect(suffix.value).toEqual({ byte_length: 4 });
  const namespace = only("oci_objectstorage_namespace", json.data);
  expect(namespace.value).toEqual({ compartment_id: "c" });
  const ns = `\${data.oci_objectstorage_namespace.${namespace.id}.namespace}`;
  const bucket = only("oci_objectstorage_bucket");
  expect(bucket.value).toEqual({ compartment_id: "c", namespace: ns, name: `dokploy-releases-\${random_id.${suffix.id}.hex}`, access_type: "NoPublicAccess" });
  const object = only("oci_objectstorage_object");
  const { sha256, objectName } = buildRelease();
  expect(objectName).toBe(`${sha256}.tar.gz`);
  expect(object.value).toEqual({
    namespace: ns,
    bucket: `\${oci_objectstorage_bucket.${bucket.id}.name}`,
    object: objectName,
    source: expect.stringMatching(/^assets\/HostRelease_Archive_[0-9A-F]+\/[0-9A-F]+\/.+\.tar\.gz$/),
    content_type: "application/gzip",
    lifecycle: { create_before_destroy: true },
  });
  const access = only("oci_objectstorage_preauthrequest");
  expect(access.value).toEqual({
    namespace: ns,
    bucket: `\${oci_objectstorage_bucket.${bucket.id}.name}`,
    name: "dokploy-nodes-read-releases",
    access_type: "AnyObjectRead",
    bucket_listing_action: "Deny",
    time_expires: "2099-12-31T00:00:00Z",
  });
  expect(release.sha256).toBe(sha256);
  expect(resolve(release.url)).toBe(
    `\${format("%s%s", regex("^https://[^/]+", oci_objectstorage_preauthrequest.${access.id}.full_path), oci_objectstorage_preauthrequest.${access.id}.access_uri)}`,
  );
  expect(resolve(release.upload.fqn)).toBe(`\${oci_objectstorage_object.${object.id}}`);
  expect(json.provider.random).toEqual([{}]);
});

test("a name prefix and tags", () => {
  const { only } = synth({ namePrefix: "acme", freeformTags: { team: "ops" } });
  expect(only("oci_objectstorage_bucket").value).toMatchObject({ name: expect.stringMatching(/^acme-releases-\$\{random_id\.\w+\.hex\}$/), freeform_tags: { team: "ops" } });
  expect(only("oci_objectstorage_preauthrequest").value.name).toBe("acme-nodes-read-releases");
});

test("a name prefix that is no DNS label is refused, naming namePrefix", () => {
  expect(() => synth({ namePrefix: "Acme" })).toThrow(/^namePrefix: "Acme" is not allowed; use /);
});

test("HostRelease.of: the stack's one release, made once", () => {
  const stack = new TerraformStack(Testing.app(), "of");
  const first = HostRelease.of(stack, "c");
  expect(HostRelease.of(stack, "other")).toBe(first);
  expect(first.node.id).toBe("HostRelease");
  expect(first.node.scope).toBe(stack);
  const buckets = JSON.parse(Testing.synth(stack)).resource.oci_objectstorage_bucket;
  expect(Object.values<any>(buckets).map((bucket) => bucket.compartment_id)).toEqual(["c"]);
});
