/**
 * What the real machines reach on their bridge, run as one process inside the lab's network namespace (it needs the
 * requesting machine's own address, which no forwarder keeps):
 *   - 169.254.169.254:80, a stand-in for OCI's instance metadata service v2 as cloud-init's Oracle datasource and the
 *     reconciler use it: `Authorization: Bearer Oracle` required (401 without), GET /opc/v2/instance/ (the instance
 *     document of the machine asking, chosen by its address) and /opc/v2/vnics/; a machine the lab does not know
 *     gets 404, as another tenancy's address would get nothing;
 *   - LAB_SERVER_IP:443, HTTPS with the lab CA's certificate, serving the files of <dir>/www (the installers) and,
 *     under /p/, the releases bucket kept in <dir>/releases as a pre-authenticated request does (../object-storage.ts);
 *   - LAB_SERVER_IP:3000, a TCP forward to a Unix socket (the fake Dokploy, which lives in the test's process).
 * <dir>/state.json is read at every request, so the test changes tags and faults by rewriting it (LabState);
 * every request is appended to <dir>/requests.jsonl. Prints "ready" once every listener is up.
 *
 *   node -r ts-node/register/transpile-only sandbox/vm/lab-services.ts <dir> <image dir> <dokploy socket>
 */
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import * as net from "net";
import * as path from "path";
import { IMDS_ADDRESS, LAB_SERVER_IP, LabState } from "./lab-state";
import { directoryBucket, objectStorageHandler } from "../object-storage";

const [dir, imageDir, dokploySocket] = process.argv.slice(2);
const statePath = path.join(dir, "state.json");
const www = path.join(dir, "www");

function state(): LabState {
  return JSON.parse(fs.readFileSync(statePath, "utf8"));
}

function record(service: string, from: string, url: string, status: number): void {
  fs.appendFileSync(path.join(dir, "requests.jsonl"), JSON.stringify({ at: Date.now(), service, from, url, status }) + "\n");
}

const clientAddress = (request: http.IncomingMessage) => (request.socket.remoteAddress ?? "").replace(/^::ffff:/, "");

const imds = http.createServer((request, response) => {
  const from = clientAddress(request);
  const answer = (status: number, body?: unknown) => {
    record("imds", from, request.url ?? "", status);
    response.writeHead(status, body === undefined ? {} : { "Content-Type": "application/json" }).end(body === undefined ? undefined : JSON.stringify(body));
  };
  const now = state();
  if (now.imdsFailing && now.imdsFailing.until > Date.now() && now.imdsFailing.for.includes(from)) return answer(500);
  if (request.headers.authorization !== "Bearer Oracle") return answer(401);
  const instance = now.instances[from];
  if (request.method !== "GET" || !instance) return answer(404);
  if (request.url === "/opc/v2/instance/") return answer(200, instance.document);
  if (request.url === "/opc/v2/vnics/") return answer(200, [instance.vnic]);
  answer(404);
});

let installerConnectionsDropped = 0;
const files = https.createServer(
  { key: fs.readFileSync(path.join(imageDir, "server.key")), cert: fs.readFileSync(path.join(imageDir, "server.crt")) },
  (request, response) => {
    const from = clientAddress(request);
    if (request.url?.startsWith("/p/")) {
      response.on("finish", () => record("releases", from, request.url ?? "", response.statusCode));
      return objectStorageHandler(directoryBucket(path.join(dir, "releases")))(request, response);
    }
    const name = path.basename(request.url ?? "");
    const file = path.join(www, name);
    // Down: the connection is dropped, as an unreachable mirror's would be.
    if (installerConnectionsDropped < (state().installersFailFirst ?? 0)) {
      installerConnectionsDropped++;
      record("installers", from, request.url ?? "", 0);
      return void request.socket.destroy();
    }
    if (request.method !== "GET" || !fs.existsSync(file)) {
      record("installers", from, request.url ?? "", 404);
      return void response.writeHead(404).end();
    }
    record("installers", from, request.url ?? "", 200);
    response.writeHead(200, { "Content-Type": "text/plain" }).end(fs.readFileSync(file));
  },
);

const dokploy = net.createServer((client) => {
  const upstream = net.connect(dokploySocket);
  client.pipe(upstream).pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on("error", close);
  upstream.on("error", close);
});

const listen = (server: net.Server, port: number, host: string) =>
  new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });

Promise.all([listen(imds, 80, IMDS_ADDRESS), listen(files, 443, LAB_SERVER_IP), listen(dokploy, 3000, LAB_SERVER_IP)]).then(
  () => console.log("ready"),
  (error) => {
    console.error(`lab services: ${error.message}`);
    process.exit(1);
  },
);
