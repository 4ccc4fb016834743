/**
 * The host release (lib/host-release.ts) and its resources (constructs/oci/host-release.ts): deterministic bytes
 * named by their sha256, an archive the real tar unpacks into the layout the loader and agent expect, and a bucket
 * whose only read access is a pre-authenticated request for objects of that bucket, with listing denied.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Testing } from "cdktf";
import { RELEASE_READ_ACCESS_EXPIRES } from "../../constructs/oci/host-release";
import { RELEASE_TAG_KEY, ROLE_UNITS, buildRelease, loaderConfigText, releaseEntries, releaseNodeConfig } from "../../lib/host-release";
import { buildApp } from "../../main";

describe("what a node is told about its release", () => {
  test("release.conf: the role, the release's sha256 and the values of node.json's release the loader needs, one key=value a line", () => {
    const sha256 = "0123456789abcdef".repeat(4);
    const url = "https://objectstorage.eu-frankfurt-1.oraclecloud.com/p/token/n/ns/b/releases/o/";
    const section = releaseNodeConfig({ sha256, url, upload: { fqn: "oci_objectstorage_object.upload" } });
    expect(section).toMatchObject({ url, maxBytes: 8388608, downloadTimeoutSeconds: 120 });
    // The first release's sha256 is only the loader's: node.json does not carry it.
    expect(section).not.toHaveProperty("sha256");
    expect(loaderConfigText("worker", sha256, section)).toBe(`role=worker\nsha256=${sha256}\nurl=${url}\nmaxBytes=8388608\ndownloadTimeoutSeconds=120\n`);
  });
});

describe("the release artifact", () => {
  test("the same templates give the same bytes, named by their sha256; a changed file gives another release", () => {
    const first = buildRelease();
    const second = buildRelease(releaseEntries());
    expect(first.bytes.equals(second.bytes)).toBe(true);
    expect(first.objectName).toBe(`${first.sha256}.tar.gz`);
    const changed = releaseEntries().map((entry) => (entry.path === "bin/harden.sh" ? { ...entry, content: entry.content + "\n" } : entry));
    expect(buildRelease(changed).sha256).not.toBe(first.sha256);
  });

  test("the real tar unpacks it: programs 0700, units and the library 0644, role lists and the version", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "release-"));
    try {
      fs.writeFileSync(path.join(dir, "r.tar.gz"), buildRelease().bytes);
      fs.mkdirSync(path.join(dir, "tree"));
      const untar = spawnSync("tar", ["-xzf", "r.tar.gz", "-C", "tree"], { cwd: dir, encoding: "utf8" });
      expect(untar.stderr).toBe("");
      const mode = (file: string) => (fs.statSync(path.join(dir, "tree", file)).mode & 0o777).toString(8);
      expect(mode("bin/token-server.py")).toBe("700");
      expect(mode("bin/release-agent.py")).toBe("700");
      expect(mode("systemd/docker.service.d/dokploy-metadata-guard.conf")).toBe("644");
      expect(fs.readFileSync(path.join(dir, "tree/roles/worker"), "utf8")).toBe(ROLE_UNITS.worker.join("\n") + "\n");
      expect(fs.readFileSync(path.join(dir, "tree/VERSION"), "utf8")).toMatch(/^\d+\.\d+\.\d+/);
      // Every unit a role starts is in the release.
      for (const line of [...ROLE_UNITS.manager, ...ROLE_UNITS.worker]) expect(fs.existsSync(path.join(dir, "tree/systemd", line.split(" ")[0]))).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the releases bucket in the main stack", () => {
  const json = () => JSON.parse(Testing.synth(buildApp().stack));

  test("a private bucket of the cluster's own, the release as its object, read access to that bucket's objects only", () => {
    const stack = json();
    // The backups bucket (issue 27) is another one; the releases bucket is named for what it holds.
    const bucket = Object.values<any>(stack.resource.oci_objectstorage_bucket).find((candidate) => /-releases-/.test(candidate.name));
    expect(bucket).toMatchObject({ access_type: "NoPublicAccess", compartment_id: "${var.compartment_ocid}" });
    expect(bucket.name).toMatch(/^dokploy-releases-\$\{random_id\.\w+\.hex\}$/);
    const [upload] = Object.values<any>(stack.resource.oci_objectstorage_object);
    expect(upload).toMatchObject({ object: buildRelease().objectName, content_type: "application/gzip", lifecycle: { create_before_destroy: true } });
    const [access] = Object.values<any>(stack.resource.oci_objectstorage_preauthrequest);
    // A fixed expiry: a plan never replaces the request (its URL is in every node's node.json).
    expect(access).toMatchObject({ access_type: "AnyObjectRead", bucket_listing_action: "Deny", time_expires: RELEASE_READ_ACCESS_EXPIRES });
    expect(access.object_name).toBeUndefined();
    expect(access.bucket).toBe(upload.bucket);
    // Synthesized again: the same object, the same name.
    expect(json().resource.oci_objectstorage_object).toEqual(stack.resource.oci_objectstorage_object);
  });

  test("every instance carries the release tag and waits for the upload", () => {
    const stack = json();
    for (const instance of Object.values<any>(stack.resource.oci_core_instance)) {
      expect(instance.freeform_tags[RELEASE_TAG_KEY]).toBe(buildRelease().sha256);
      expect(instance.depends_on).toEqual([expect.stringMatching(/^oci_objectstorage_object\./)]);
      expect(instance.lifecycle.ignore_changes).not.toContain("freeform_tags");
    }
  });
});
