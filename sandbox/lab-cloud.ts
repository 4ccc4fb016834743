/**
 * OCI as the swarm lab's nodes see it, run as one process inside a lab namespace (nodes reach it on the lab
 * bridge; the test's own process cannot listen there): the instance metadata service v2 (`GET /opc/v2/instance/`,
 * `Authorization: Bearer Oracle` required, the document of the asking node chosen by its address) and Object
 * Storage's pre-authenticated read of the releases bucket kept in <dir> (sandbox/object-storage.ts
 * writeDirectoryBucket). <dir>/cloud.json holds the instances' freeform tags by address; everything is read at every
 * request, so the test changes tags and publishes releases by writing files. Prints "ready" once listening.
 *
 *   nsenter --net=<namespace> node -r ./scripts/register.js sandbox/lab-cloud.ts <dir> <address> <port>
 */
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { directoryBucket, objectStorageHandler } from "./object-storage";

/** Freeform tags by the node's address. */
export type LabCloudTags = Record<string, Record<string, string>>;

export const LAB_CLOUD_TAGS = "cloud.json";

if (require.main === module) {
  const [dir, address, port] = process.argv.slice(2);
  const server = http.createServer((request, response) => {
    if (request.url?.startsWith("/p/")) return objectStorageHandler(directoryBucket(dir))(request, response);
    const instances: LabCloudTags = JSON.parse(fs.readFileSync(path.join(dir, LAB_CLOUD_TAGS), "utf8"));
    const tags = instances[(request.socket.remoteAddress ?? "").replace(/^::ffff:/, "")];
    if (request.headers.authorization !== "Bearer Oracle") return void response.writeHead(401).end();
    if (request.method !== "GET" || request.url !== "/opc/v2/instance/" || !tags) return void response.writeHead(404).end();
    response.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ id: "ocid1.instance.oc1..lab", canonicalRegionName: "eu-frankfurt-1", freeformTags: tags }));
  });
  server.listen(Number(port), address, () => console.log("ready"));
}
