/**
 * A stand-in for OCI Object Storage as the nodes use it: GET of an object through a bucket-wide read-only
 * pre-authenticated request (AnyObjectRead, listing denied), at the path OCI's PAR URLs have:
 * `/p/<token>/n/<namespace>/b/<bucket>/o/<object>` (docs.oracle.com, "Using Pre-Authenticated Requests"). A missing
 * object is 404 `ObjectNotFound`; a wrong token, a listing, a write or another method is 404
 * `NotAuthorizedOrNotFound`, as OCI answers what a PAR does not allow. Faults for tests: `down` (connections
 * refused), `failures` (the next N requests answer 503), `tamper` (objects served with one byte changed).
 * `objectStorageHandler` is the same answering logic for a server of one's own (the labs' listeners, which serve a
 * bucket kept in a directory: `writeDirectoryBucket`, `directoryBucket`).
 */
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { closeNow, listen } from "./http-server";

export interface ObjectStorageBucket {
  readonly namespace: string;
  readonly bucket: string;
  /** The PAR's secret part of the path. */
  readonly token: string;
  /** Object name -> bytes, read at each request (put and delete objects at any time). */
  readonly objects: Map<string, Buffer>;
}

/** A bucket with a random token, as OCI makes one for each PAR. */
export function newBucket(namespace = "axaxnpcrorw5", bucket = "dokploy-releases-1a2b3c4d"): ObjectStorageBucket {
  return { namespace, bucket, token: randomBytes(48).toString("base64url"), objects: new Map() };
}

/** Keeps `bucket` in `dir` (its identity in bucket.json, each object a file under objects/) for another process. */
export function writeDirectoryBucket(dir: string, bucket: ObjectStorageBucket): void {
  const { objects, ...identity } = bucket;
  fs.mkdirSync(path.join(dir, "objects"), { recursive: true });
  for (const [name, bytes] of objects) fs.writeFileSync(path.join(dir, "objects", name), bytes);
  fs.writeFileSync(path.join(dir, "bucket.json"), JSON.stringify(identity));
}

/** The bucket kept in `dir`, as it is now (read at each call). */
export function directoryBucket(dir: string): ObjectStorageBucket {
  const objects = path.join(dir, "objects");
  const files = new Map(fs.readdirSync(objects).map((name) => [name, fs.readFileSync(path.join(objects, name))]));
  return { ...JSON.parse(fs.readFileSync(path.join(dir, "bucket.json"), "utf8")), objects: files };
}

/** The PAR's path prefix, to which object names are appended (the `access_uri` Terraform reads). */
export function accessUri(bucket: ObjectStorageBucket): string {
  return `/p/${bucket.token}/n/${bucket.namespace}/b/${bucket.bucket}/o/`;
}

function error(response: http.ServerResponse, status: number, code: string, message: string): void {
  response.writeHead(status, { "Content-Type": "application/json", "opc-request-id": randomBytes(8).toString("hex") }).end(JSON.stringify({ code, message }));
}

/** Answers one request for `bucket` the way a PAR does; `tamper` changes the first byte of every object served. */
export function objectStorageHandler(bucket: ObjectStorageBucket, tamper = () => false): http.RequestListener {
  return (request, response) => {
    const prefix = accessUri(bucket);
    const url = request.url ?? "";
    const name = url.startsWith(prefix) ? decodeURIComponent(url.slice(prefix.length)) : "";
    if (request.method !== "GET" || name === "") {
      return error(response, 404, "NotAuthorizedOrNotFound", "Authorization failed or requested resource not found.");
    }
    const object = bucket.objects.get(name);
    if (!object) return error(response, 404, "ObjectNotFound", `The object '${name}' was not found in the bucket '${bucket.bucket}'`);
    const body = tamper() ? Buffer.concat([Buffer.from([object[0] ^ 0xff]), object.subarray(1)]) : object;
    response.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": body.length, ETag: randomBytes(16).toString("hex") }).end(body);
  };
}

/** The stand-in on `host` (loopback, or an address inside a lab's namespace), HTTP. */
export class FakeObjectStorage {
  readonly bucket = newBucket();
  /** Every request's path (token included), in order. */
  readonly requests: string[] = [];
  /** The next N requests answer 503 (a throttled or failing service). */
  failures = 0;
  tamper = false;
  private readonly server: http.Server;
  private port = 0;

  constructor(private readonly host = "127.0.0.1") {
    const answer = objectStorageHandler(this.bucket, () => this.tamper);
    this.server = http.createServer((request, response) => {
      this.requests.push(request.url ?? "");
      if (this.failures > 0) {
        this.failures--;
        return error(response, 503, "ServiceUnavailable", "The service is currently unavailable.");
      }
      answer(request, response);
    });
  }

  /** The PAR's full URL, ending in /o/ (what node.json's release.url holds). */
  get url(): string {
    return `http://${this.host}:${this.port}${accessUri(this.bucket)}`;
  }

  put(name: string, bytes: Buffer): void {
    this.bucket.objects.set(name, bytes);
  }

  /** Listens (again, on the same port after `stop`). */
  async start(): Promise<void> {
    this.port = await listen(this.server, this.port, this.host);
  }

  /** Stops answering: connections are refused until `start()`. */
  stop(): Promise<void> {
    return closeNow(this.server);
  }
}
