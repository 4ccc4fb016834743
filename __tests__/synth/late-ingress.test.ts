/**
 * Node configs are rendered at synth, not at construction: a port opened after the cluster exists (the README's
 * own example) reaches the NSG and the host firewall alike. And a worker pool needs only what it is handed (an
 * IWorkerJoinSource), not a manager construct.
 */
import { TerraformStack, Testing } from "cdktf";
import { ClusterNetwork } from "../../constructs/oci/cluster-network";
import { DokployCluster } from "../../constructs/oci/dokploy-cluster";
import { SwarmWorkerPool } from "../../constructs/oci/swarm-worker-pool";
import { IWorkerJoinSource } from "../../constructs/oci/token-server";
import { WORKERS_TAG_KEY } from "../../lib/worker-identity";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ8w0XqjJcbZ4U0kqR1Yh1zGm9ZQ0j2qZr7tT8qv8Yp user@laptop";

const instance = (json: any, part: string) => Object.entries<any>(json.resource.oci_core_instance).find(([name]) => name.includes(part))![1];
/** The hostPorts entries in a node's synthesized user_data expression, as "protocol/port". */
function hostPortsIn(userData: string): string[] {
  const ports = /"hostPorts" = \[(.*?)\], "/.exec(userData)![1];
  return [...ports.matchAll(/"protocol" = "(\w+)", "port" = (\d+)/g)].map((match) => `${match[1]}/${match[2]}`);
}

describe("a port opened after construction", () => {
  test("reaches the NSG and the host firewall of the role it names, and no other", () => {
    const stack = new TerraformStack(Testing.app(), "late");
    const cluster = new DokployCluster(stack, "Cluster", { compartmentId: "c", sshPublicKeys: [KEY], adminEmail: "a@example.com" });
    cluster.network.allowIngress({ role: "workers", protocol: "tcp", port: 8080, from: "anywhere", description: "An app published on the workers" });
    const json = JSON.parse(Testing.synth(stack));
    const rule = Object.values<any>(json.resource.oci_core_network_security_group_security_rule).find(
      (candidate) => candidate.tcp_options?.destination_port_range.min === 8080,
    );
    expect(rule).toMatchObject({ direction: "INGRESS", source: "0.0.0.0/0", network_security_group_id: expect.stringMatching(/WorkerNsg/) });
    expect(hostPortsIn(instance(json, "_Workers_").metadata.user_data)).toContain("tcp/8080");
    expect(hostPortsIn(instance(json, "_Manager_").metadata.user_data)).not.toContain("tcp/8080");
    // The same ports as before plus the new one: nothing else moved.
    expect(hostPortsIn(instance(json, "_Workers_").metadata.user_data)).toEqual(["tcp/2377", "tcp/7946", "udp/7946", "udp/4789", "tcp/22", "tcp/22", "tcp/8080"]);
  });

  test("a pool added after construction is named in the manager's workers tag, which its reconciler reads", () => {
    const stack = new TerraformStack(Testing.app(), "late-pool");
    const cluster = new DokployCluster(stack, "Cluster", { compartmentId: "c", sshPublicKeys: [KEY], adminEmail: "a@example.com" });
    cluster.addWorkerPool("Paid", { namePrefix: "paid", count: 4, alwaysFree: false });
    const json = JSON.parse(Testing.synth(stack));
    expect(instance(json, "_Manager_").freeform_tags).toMatchObject({ [WORKERS_TAG_KEY]: "worker:1,paid:4" });
  });
});

describe("SwarmWorkerPool is handed what it needs", () => {
  test("any IWorkerJoinSource will do: its address and URL reach node.json, a credential derived from its secret (never the secret), and it learns the pool", () => {
    const stack = new TerraformStack(Testing.app(), "pool-alone");
    const network = new ClusterNetwork(stack, "Network", { compartmentId: "c" });
    const announced: Array<[string, number]> = [];
    const joinSource: IWorkerJoinSource = {
      managerAddress: "10.0.0.42",
      url: "http://10.0.0.42:12345",
      secret: "s".repeat(40),
      expectWorkerPool: (namePrefix, count) => void announced.push([namePrefix, count]),
    };
    const pool = new SwarmWorkerPool(stack, "Pool", { compartmentId: "c", network, joinSource, sshPublicKeys: [KEY], namePrefix: "edge", count: 2 });
    expect(announced).toEqual([["edge", 2]]);
    const config = pool.cloudConfig.nodeConfig();
    expect(config.swarm).toEqual({ managerAddress: "10.0.0.42" });
    // The worker's own credential, derived from the secret by Terraform; never the secret itself.
    expect(Object.keys(config.tokenServer)).toEqual(["url", "credential"]);
    expect(config.tokenServer.url).toBe("http://10.0.0.42:12345");
    const json = JSON.parse(Testing.synth(stack));
    const userData = instance(json, "Pool").metadata.user_data;
    expect(userData).toContain(`"credential" = sha256(format("%s:%s", "${"s".repeat(40)}", format("%s-%d", "edge", (count.index + 1))))`);
    expect(userData).not.toMatch(/"secret" =/);
  });
});
