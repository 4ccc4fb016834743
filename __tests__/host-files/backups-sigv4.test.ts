/**
 * backups.py downloads a backup with its own AWS Signature V4 (OCI's S3 endpoint takes nothing else), and the loopback
 * S3 server of the real-Dokploy suite does not check signatures. So the signature is checked here against an
 * independent signer: curl's --aws-sigv4, on the same request at the same second, must produce the same
 * Authorization header.
 */
import { execFile, execFileSync } from "child_process";
import { promisify } from "util";
import * as http from "http";
import * as path from "path";
import { AddressInfo } from "net";

const BACKUPS = path.join(__dirname, "..", "..", "templates", "manager", "backups.py");
const CONFIG = {
  endpoint: "", // set to the capture server below
  bucket: "dokploy-backups",
  region: "eu-frankfurt-1",
  // A Customer Secret Key's shape: its OCID-like id is the access key; the secret has + / = in it.
  accessKey: "0f3c9a7e5b2d4c8e9a1b3d5f7a9c1e3b5d7f9a1c",
  secretKey: "Kx9/+qZ8x3Lr5Vt2Nw7Kp4Hs9Jm6Bc1Df0GgAq8x3L=",
};
const KEY = "web-server/webserver-backup-2026-12-06T03-00-00-123Z.zip";
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** backups.py's signed_get for `key` as if the clock read `stamp`; its Authorization header. */
function backupsSignature(stamp: string, endpoint: string): string {
  const program = [
    "import datetime, importlib.util, json, sys",
    'spec = importlib.util.spec_from_file_location("backups", sys.argv[1])',
    "backups = importlib.util.module_from_spec(spec)",
    "spec.loader.exec_module(backups)",
    "class At(datetime.datetime):",
    "    @classmethod",
    "    def now(cls, tz=None):",
    '        return datetime.datetime.strptime(sys.argv[2], "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)',
    "backups.datetime.datetime = At",
    "request = backups.signed_get(json.loads(sys.argv[3]), sys.argv[4])",
    'print(request.get_header("Authorization"), request.full_url)',
  ].join("\n");
  return execFileSync("python3", ["-c", program, BACKUPS, stamp, JSON.stringify({ ...CONFIG, endpoint }), KEY], { encoding: "utf8" }).trim();
}

test("backups.py signs a path-style GET exactly as curl's own AWS Signature V4 does", async () => {
  const seen: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((request, response) => {
    seen.push({ ...request.headers, path: request.url });
    response.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const url = `${endpoint}/${CONFIG.bucket}/${KEY}`;
    // Asynchronous: the capture server answers from this very process.
    await promisify(execFile)("curl", ["-sS", "--max-time", "60", "-o", "/dev/null", "--aws-sigv4", `aws:amz:${CONFIG.region}:s3`, "--user", `${CONFIG.accessKey}:${CONFIG.secretKey}`, "-H", `x-amz-content-sha256: ${EMPTY_SHA256}`, url]);
    expect(seen).toHaveLength(1);
    const [request] = seen;
    expect(request.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=\S+\/\d{8}\/eu-frankfurt-1\/s3\/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$/);
    expect(backupsSignature(String(request["x-amz-date"]), endpoint)).toBe(`${request.authorization} ${url}`);
    // A different second gives a different signature: the comparison is not vacuous.
    const otherSecond = String(request["x-amz-date"]).replace(/\d(?=Z$)/, (digit) => String((Number(digit) + 1) % 10));
    expect(backupsSignature(otherSecond, endpoint)).not.toContain(String(request.authorization));
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
