/**
 * OCI as the swarm lab's nodes see it, run as one process inside a lab namespace (nodes reach it on the lab
 * bridge; the test's own process cannot listen there): the instance metadata service v2 (`GET /opc/v2/instance/`,
 * `Authorization: Bearer Oracle` required, the document of the asking node chosen by its address) and Object
 * Storage's pre-authenticated read of the releases bucket (sandbox/object-storage.ts). <dir>/cloud.json holds the
 * instances' freeform tags and the bucket's token; <dir>/objects/ the objects; both are read at every request, so
 * the test changes tags and publishes releases by writing files. Prints "ready" once listening.
 *
 *   nsenter --net=<namespace> node -r ./scripts/register.js sandbox/lab-cloud.ts <dir> <address> <port>
 */
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { ObjectStorageBucket, objectStorageHandler } from "./object-storage";

export interface LabCloudState {
  /** Freeform tags by the node's address. */
  instances: Record<string, Record<string, string>>;
  bucket: Omit<ObjectStorageBucket, "objects">;
}

export const LAB_CLOUD_STATE = "cloud.json";
export const LAB_CLOUD_OBJECTS = "objects";

if (require.main === module) {
  const [dir, address, port] = process.argv.slice(2);
  const state = (): LabCloudState => JSON.parse(fs.readFileSync(path.join(dir, LAB_CLOUD_STATE), "utf8"));
  const objects = path.join(dir, LAB_CLOUD_OBJECTS);
  const server = http.createServer((request, response) => {
    const now = state();
    if (request.url?.startsWith("/p/")) {
      const files = new Map(fs.readdirSync(objects).map((name) => [name, fs.readFileSync(path.join(objects, name))]));
      return objectStorageHandler({ ...now.bucket, objects: files })(request, response);
    }
    const tags = now.instances[(request.socket.remoteAddress ?? "").replace(/^::ffff:/, "")];
    if (request.headers.authorization !== "Bearer Oracle") return void response.writeHead(401).end();
    if (request.method !== "GET" || request.url !== "/opc/v2/instance/" || !tags) return void response.writeHead(404).end();
    response.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ id: "ocid1.instance.oc1..lab", canonicalRegionName: "eu-frankfurt-1", freeformTags: tags }));
  });
  server.listen(Number(port), address, () => console.log("ready"));
}
