import { TerraformStack, Testing } from "cdktf";
import { CoreNetworkSecurityGroupSecurityRule } from "../../.gen/providers/oci/core-network-security-group-security-rule";
import { CoreSubnet } from "../../.gen/providers/oci/core-subnet";
import { ClusterNetwork, ClusterNetworkProps } from "../../constructs/oci/cluster-network";
import { validateStack } from "../../scripts/lib/validate";

function synthNetwork(props: Partial<ClusterNetworkProps> = {}, extra?: (network: ClusterNetwork) => void) {
  const stack = new TerraformStack(Testing.app(), "test");
  const network = new ClusterNetwork(stack, "Network", { compartmentId: "ocid1.compartment.oc1..test", ...props });
  extra?.(network);
  return { network, json: JSON.parse(Testing.synth(stack)) };
}

const rules = (json: any) => Object.values<any>(json.resource.oci_core_network_security_group_security_rule);
const portOf = (rule: any) =>
  rule.tcp_options?.destination_port_range.min ?? rule.udp_options?.destination_port_range.min;

describe("ClusterNetwork", () => {
  test("the subnet uses the egress-only security list, not the VCN default that opens 22 to the internet", () => {
    const { json } = synthNetwork();
    const subnet = Object.values<any>(json.resource.oci_core_subnet)[0];
    const [listName, list] = Object.entries<any>(json.resource.oci_core_security_list)[0];
    expect(subnet.security_list_ids).toEqual([`\${oci_core_security_list.${listName}.id}`]);
    expect(list.ingress_security_rules.every((rule: any) => rule.protocol === "1")).toBe(true);
    expect(list.egress_security_rules).toEqual([{ destination: "0.0.0.0/0", protocol: "all" }]);
  });

  test("swarm ports are open only between cluster NSGs, never to a CIDR", () => {
    const { json } = synthNetwork();
    const swarm = rules(json).filter((rule) => [2377, 7946, 4789].includes(portOf(rule)));
    expect(swarm).toHaveLength(16);
    for (const rule of swarm) expect(rule.source_type).toBe("NETWORK_SECURITY_GROUP");
    expect(rules(json).filter((rule) => rule.protocol === "50")).toEqual([]);
  });

  test("ESP is opened inside the cluster only when encrypted overlays are enabled", () => {
    const { json } = synthNetwork({ encryptedOverlays: true });
    const esp = rules(json).filter((rule) => rule.protocol === "50");
    expect(esp).toHaveLength(4);
    for (const rule of esp) expect(rule.source_type).toBe("NETWORK_SECURITY_GROUP");
  });

  test("declared ports become NSG rules and host-firewall entries from one declaration", () => {
    const { network, json } = synthNetwork({ adminCidrs: ["203.0.113.0/24", "198.51.100.7/32"] }, (n) => {
      n.allowIngress({ role: "manager", protocol: "tcp", port: 3000, from: "admin", description: "Dokploy dashboard" });
      n.allowIngress({ role: "manager", protocol: "tcp", port: 443, from: "anywhere", description: "HTTPS" });
      n.allowIngress({ role: "manager", protocol: "tcp", port: 9999, from: "workers", description: "Token server" });
    });
    const dashboard = rules(json).filter((rule) => portOf(rule) === 3000);
    expect(dashboard.map((rule) => rule.source).sort()).toEqual(["198.51.100.7/32", "203.0.113.0/24"]);
    expect(dashboard.every((rule) => rule.description === "Dokploy dashboard")).toBe(true);
    const token = rules(json).filter((rule) => portOf(rule) === 9999);
    expect(token).toHaveLength(1);
    expect(token[0].source).toMatch(/oci_core_network_security_group\.Network_WorkerNsg/);
    expect(network.hostPortsFor("manager")).toEqual(
      expect.arrayContaining([
        { protocol: "tcp", port: 3000, sources: ["203.0.113.0/24", "198.51.100.7/32"] },
        { protocol: "tcp", port: 443, sources: ["0.0.0.0/0"] },
        { protocol: "tcp", port: 9999, sources: ["10.0.0.0/24"] },
        { protocol: "tcp", port: 2377, sources: ["10.0.0.0/24"] },
      ]),
    );
    expect(network.hostPortsFor("workers").map((port) => port.port)).not.toContain(9999);
  });

  test("admin CIDRs from a Terraform list become one rule per CIDR with for_each", async () => {
    const stack = new TerraformStack(Testing.app(), "test");
    const { TerraformVariable } = await import("cdktf");
    const cidrs = new TerraformVariable(stack, "admin", { type: "list(string)" });
    const network = new ClusterNetwork(stack, "Network", { compartmentId: "c", adminCidrs: cidrs.listValue });
    network.allowIngress({ role: "manager", protocol: "tcp", port: 22, from: "admin", description: "SSH" });
    const json = JSON.parse(Testing.synth(stack));
    const ssh = rules(json).filter((rule) => portOf(rule) === 22);
    expect(ssh).toHaveLength(1);
    expect(ssh[0].for_each).toMatch(/var\.admin/);
    expect(ssh[0].source).toBe("${each.value}");
    expect(await validateStack(json)).toEqual([]);
  });

  test("synthesizes clean against the provider schemas", async () => {
    const { json } = synthNetwork();
    expect(await validateStack(json)).toEqual([]);
    const stack = new TerraformStack(Testing.app(), "matcher");
    new ClusterNetwork(stack, "Network", { compartmentId: "c" });
    expect(Testing.synth(stack)).toHaveResourceWithProperties(CoreSubnet, { cidr_block: "10.0.0.0/24", dns_label: "nodes" });
    expect(Testing.synth(stack)).toHaveResource(CoreNetworkSecurityGroupSecurityRule);
  });

  test("the private IP of a host number is inside the subnet, and reserved addresses are refused", () => {
    const { network } = synthNetwork();
    expect(network.privateIpFor(10, "managerHostNumber")).toBe("10.0.0.10");
    expect(() => network.privateIpFor(1, "managerHostNumber")).toThrow(/managerHostNumber: host number 1 is outside 10\.0\.0\.0\/24 \(OCI lets hosts use 2\.\.254\)/);
    expect(() => network.privateIpFor(255, "managerHostNumber")).toThrow(/managerHostNumber/);
  });
});

describe("ClusterNetwork bad input", () => {
  test.each([
    [{ vcnCidr: "10.0.0/16" }, /vcnCidr: "10\.0\.0\/16" is not an IPv4 CIDR block/],
    [{ vcnCidr: "10.0.0.1/16" }, /vcnCidr: "10\.0\.0\.1\/16" has host bits set; the network address is 10\.0\.0\.0\/16/],
    [{ vcnCidr: "10.0.0.0/8" }, /vcnCidr: OCI allows \/16 to \/30/],
    [{ subnetCidr: "10.1.0.0/24" }, /subnetCidr: 10\.1\.0\.0\/24 is not inside vcnCidr 10\.0\.0\.0\/16/],
    [{ swarmAddressPool: "10.0.128.0/20" }, /swarmAddressPool: 10\.0\.128\.0\/20 overlaps vcnCidr/],
    [{ swarmAddressPool: "172.16.0.0/12" }, /swarmAddressPool: 172\.16\.0\.0\/12 overlaps Docker's bridge network 172\.17\.0\.0\/16/],
    [{ vcnCidr: "172.18.0.0/16", subnetCidr: "172.18.0.0/24" }, /vcnCidr: 172\.18\.0\.0\/16 overlaps Docker's bridge network 172\.18\.0\.0\/16/],
    [{ swarmAddressPoolMaskLength: 12 }, /swarmAddressPoolMaskLength: 12 is out of range; use a whole number of prefix bits \(between the pool's and \/29\) from 16 to 29/],
    [{ adminCidrs: ["1.2.3.4"] }, /adminCidrs\[0\]: "1\.2\.3\.4" is not an IPv4 CIDR block/],
    [{ adminCidrs: [] }, /adminCidrs: an empty list would lock you out/],
  ])("%j is refused naming the prop", (props, message) => {
    expect(() => synthNetwork(props as Partial<ClusterNetworkProps>)).toThrow(message);
  });

  test("a port outside 1..65535 is refused", () => {
    expect(() => synthNetwork({}, (n) => n.allowIngress({ role: "manager", protocol: "tcp", port: 70000, from: "anywhere", description: "x" }))).toThrow(
      /70000 is not a port number/,
    );
  });
});
