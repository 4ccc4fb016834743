/**
 * An S3 server on a network namespace's loopback (s3rver from npm, over a directory: s3-server/serve.js), for the
 * real Dokploy's backups: Dokploy's rclone reaches it path-style, as it reaches OCI Object Storage's S3 endpoint.
 * It answers one access key; `restart` with another is a deleted key (403 InvalidAccessKeyId), `stop` an unreachable
 * bucket. s3rver 3.7.1 checks Signature V2 but not V4 (its source: "calculation is unimplemented"): a wrong secret
 * with a known access key passes here, so nothing in this suite proves a V4 signature right.
 */
import { ChildProcess, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { startProgram, stopProgram, tail } from "./real-dokploy";

const SERVE = path.join(__dirname, "s3-server/serve.js");

export interface S3Keys {
  accessKey: string;
  secretKey: string;
}

export interface S3Server {
  /** http://127.0.0.1:<port>, as seen from inside the namespace. */
  readonly endpoint: string;
  readonly bucket: string;
  /** Every object in the bucket: key and size in bytes. */
  objects(): { key: string; size: number }[];
  /** Uploads a file as `key` (rclone, the client Dokploy uses), with the keys the server answers now. */
  put(key: string, file: string): void;
  restart(keys: S3Keys): Promise<void>;
  /** The bucket becomes unreachable; `restart` brings it back with its objects. */
  stop(): Promise<void>;
  /** Stops the server and removes its directory. */
  destroy(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function startS3Server(inNamespace: (argv: string[]) => string[], bucket: string, keys: S3Keys, port = 4568): Promise<S3Server> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "s3-server-"));
  const directory = path.join(work, "data");
  const log = path.join(work, "s3.log");
  const config = path.join(work, "config.json");
  fs.mkdirSync(directory);
  let server: ChildProcess | undefined;
  let current = keys;

  const start = async (pair: S3Keys) => {
    current = pair;
    fs.writeFileSync(config, JSON.stringify({ directory, port, bucket, ...pair }), { mode: 0o600 });
    fs.writeFileSync(log, "");
    server = startProgram(inNamespace([process.execPath, SERVE, config]), log);
    for (const deadline = Date.now() + 60_000; !fs.readFileSync(log, "utf8").includes("listening"); await sleep(100)) {
      if (server.exitCode !== null || Date.now() > deadline) throw new Error(`the S3 server did not start:\n${tail(log)}`);
    }
  };
  // s3rver keeps an object as <bucket>/<key>._S3rver_object beside its metadata files.
  const objectSuffix = "._S3rver_object";
  const objects = () => {
    const found: { key: string; size: number }[] = [];
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(file);
        else if (entry.name.endsWith(objectSuffix)) found.push({ key: path.relative(path.join(directory, bucket), file).slice(0, -objectSuffix.length), size: fs.statSync(file).size });
      }
    };
    if (fs.existsSync(path.join(directory, bucket))) walk(path.join(directory, bucket));
    return found.sort((a, b) => a.key.localeCompare(b.key));
  };

  try {
    await start(keys);
  } catch (error) {
    await stopProgram(server);
    fs.rmSync(work, { recursive: true, force: true });
    throw error;
  }
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    objects,
    put(key, file) {
      // rclone's own environment variables: the secret never reaches a command line.
      const env = { ...process.env, AWS_CA_BUNDLE: "", RCLONE_CONFIG: "/dev/null", RCLONE_S3_ACCESS_KEY_ID: current.accessKey, RCLONE_S3_SECRET_ACCESS_KEY: current.secretKey };
      const result = spawnSync(inNamespace(["rclone"])[0], [...inNamespace(["rclone"]).slice(1), "copyto", "--s3-endpoint", `http://127.0.0.1:${port}`, "--s3-region", "us-east-1",
        "--s3-force-path-style", "--s3-no-check-bucket", file, `:s3:${bucket}/${key}`], { env, encoding: "utf8", timeout: 120_000 });
      if (result.status !== 0) throw new Error(`rclone copyto ${key} failed: ${result.stderr}`);
    },
    async restart(pair) {
      await stopProgram(server);
      await start(pair);
    },
    async stop() {
      await stopProgram(server);
      server = undefined;
    },
    async destroy() {
      await stopProgram(server);
      server = undefined;
      fs.rmSync(work, { recursive: true, force: true });
    },
  };
}
