/**
 * A fake OCI instance metadata service (IMDS v2) on 127.0.0.1 for the manager's reconciler: GET /opc/v2/instance/
 * answers the instance document with its `freeformTags`, as documented for IMDS v2 (docs.oracle.com "Getting
 * Instance Metadata": the v2 endpoints require the `Authorization: Bearer Oracle` header and reject requests
 * without it, and v1 paths answer 404 once v1 is disabled). Only the fields the reconciler reads matter; the rest
 * are shaped like the documented example. `down()` makes it refuse connections, like an unreachable service.
 */
import * as http from "http";
import { closeNow, listen } from "../../sandbox/http-server";

export const IMDS_INSTANCE_PATH = "/opc/v2/instance/";

export class FakeImds {
  /** The manager instance's freeform tags; change them to model `terraform apply` updating the tag in place. */
  freeformTags: Record<string, string> = {};
  /** Every request's Authorization header (undefined when absent). */
  readonly authorizations: (string | undefined)[] = [];
  private readonly server = http.createServer((request, response) => {
    this.authorizations.push(request.headers.authorization);
    if (request.headers.authorization !== "Bearer Oracle") return void response.writeHead(401).end();
    if (request.method !== "GET" || request.url !== IMDS_INSTANCE_PATH) return void response.writeHead(404).end();
    response.writeHead(200, { "Content-Type": "application/json" }).end(
      JSON.stringify({
        id: "ocid1.instance.oc1..fake",
        displayName: "dokploy-manager",
        hostname: "manager",
        region: "fra",
        canonicalRegionName: "eu-frankfurt-1",
        shape: "VM.Standard.A1.Flex",
        state: "Running",
        metadata: {},
        definedTags: {},
        freeformTags: this.freeformTags,
      }),
    );
  });
  private port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}${IMDS_INSTANCE_PATH}`;
  }

  async start(): Promise<void> {
    this.port = await listen(this.server, this.port, "127.0.0.1");
  }

  /** Stops answering (connections refused) until `start()` again. */
  stop(): Promise<void> {
    return closeNow(this.server);
  }
}
