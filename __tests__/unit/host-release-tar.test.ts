/**
 * lib/host-release.ts's archive byte by byte (POSIX ustar, gzip): entries sorted with each folder once before its
 * files, every header field written out, the 100-byte name limit, and the file hostReleaseFile leaves. The real tar
 * test (host-release.test.ts) accepts more than the code should write; here the expected bytes are literals.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { gunzipSync } from "zlib";
import { buildRelease, hostReleaseFile } from "../../lib/host-release";

const text = (block: Buffer, offset: number, length: number) => block.subarray(offset, offset + length).toString("latin1");

// Given out of order; "bin/" holds two files. Built inside each test: Stryker activates a mutant when a test starts.
const archive = () =>
  buildRelease([
    { path: "VERSION", content: "1.2.3\n", mode: 0o644 },
    { path: "bin/b.sh", content: "b", mode: 0o700 },
    { path: "bin/a.sh", content: "hi\n", mode: 0o700 },
  ]);

test("gzip at level 9 (the header's XFL byte is 2 for the slowest, best compression)", () => {
  expect(archive().bytes[8]).toBe(2);
});

test("entries sorted, the folder once before its files, each body padded to 512 bytes, two zero blocks at the end", () => {
  const tar = gunzipSync(archive().bytes);
  const names = [0, 512, 1536, 2560].map((offset) => text(tar, offset, 100).replace(/\0+$/, ""));
  expect(names).toEqual(["bin/", "bin/a.sh", "bin/b.sh", "VERSION"]);
  expect(text(tar, 1024, 3)).toBe("hi\n");
  expect(text(tar, 2048, 1)).toBe("b");
  expect(text(tar, 3072, 6)).toBe("1.2.3\n");
  expect(tar.length).toBe(512 * 7 + 1024);
  expect(tar.subarray(512 * 7).every((byte) => byte === 0)).toBe(true);
});

test.each([
  [0, "0000755\0", "00000000000\0", "5"],
  [512, "0000700\0", "00000000003\0", "0"],
  [2560, "0000644\0", "00000000006\0", "0"],
])("the header at %i: mode, owner 0/0 root/root, size, the fixed time, type, ustar magic", (offset, mode, size, type) => {
  const header = gunzipSync(archive().bytes).subarray(offset, offset + 512);
  expect(text(header, 100, 8)).toBe(mode);
  expect(text(header, 108, 8)).toBe("0000000\0");
  expect(text(header, 116, 8)).toBe("0000000\0");
  expect(text(header, 124, 12)).toBe(size);
  // 2020-01-01T00:00:00Z = 1577836800 = 0o13602760400.
  expect(text(header, 136, 12)).toBe("13602760400\0");
  expect(text(header, 156, 1)).toBe(type);
  expect(text(header, 257, 8)).toBe("ustar\u000000");
  expect(text(header, 265, 32).replace(/\0+$/, "")).toBe("root");
  expect(text(header, 297, 32).replace(/\0+$/, "")).toBe("root");
  // The checksum: six octal digits, NUL, space; the sum of the header's bytes with the field read as spaces.
  const field = text(header, 148, 8);
  expect(field).toMatch(/^[0-7]{6}\0 $/);
  const sum = header.reduce((total, byte, index) => total + (index >= 148 && index < 156 ? 32 : byte), 0);
  expect(parseInt(field.slice(0, 6), 8)).toBe(sum);
});

test("a nested file: each enclosing folder by its full path", () => {
  const tar = gunzipSync(buildRelease([{ path: "systemd/docker.service.d/x.conf", content: "", mode: 0o644 }]).bytes);
  expect([0, 512, 1024].map((offset) => text(tar, offset, 100).replace(/\0+$/, ""))).toEqual(["systemd/", "systemd/docker.service.d/", "systemd/docker.service.d/x.conf"]);
});

test("a name of 100 bytes fits the header; 101 needs a ustar prefix and is refused", () => {
  expect(() => buildRelease([{ path: "a".repeat(100), content: "", mode: 0o644 }])).not.toThrow();
  expect(() => buildRelease([{ path: "a".repeat(101), content: "", mode: 0o644 }])).toThrow(
    `release entry ${"a".repeat(101)}: a name longer than 100 bytes needs a ustar prefix`,
  );
});

test("hostReleaseFile writes the release to <tmpdir>/dokploy-oci-releases/<sha256>.tar.gz, nothing else", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "release-file-"));
  // The real one is shared by every process that synthesizes; this test must see the file written, not find it there.
  // (The module itself: the namespace import's properties cannot be redefined.)
  const tmpdir = jest.spyOn(require("os") as typeof os, "tmpdir").mockReturnValue(tmp);
  // An earlier release's folder is there already (the templates changed since).
  fs.mkdirSync(path.join(tmp, "dokploy-oci-releases"));
  try {
    const { artifact, file } = hostReleaseFile();
    expect(file).toBe(`${tmp}/dokploy-oci-releases/${artifact.sha256}.tar.gz`);
    expect(fs.readFileSync(file).equals(artifact.bytes)).toBe(true);
    expect(fs.readdirSync(path.join(tmp, "dokploy-oci-releases"))).toEqual([`${artifact.sha256}.tar.gz`]);
  } finally {
    tmpdir.mockRestore();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
