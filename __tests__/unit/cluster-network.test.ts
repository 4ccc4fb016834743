/**
 * constructs/oci/cluster-network.ts on its own stack: every resource it declares, what one allowIngress makes (NSG
 * rules by source, host-firewall entries), fixed addresses, and the layout's limits with their messages. Expected
 * values are written out.
 */
import { TerraformStack, TerraformVariable, Testing } from "cdktf";
import { ClusterNetwork, ClusterNetworkProps, IngressRule } from "../../constructs/oci/cluster-network";

const VCN = "${oci_core_vcn.Network_Vcn_F0CC96AC.id}";
const MANAGER_NSG = "${oci_core_network_security_group.Network_ManagerNsg_B24FC3EC.id}";
const WORKER_NSG = "${oci_core_network_security_group.Network_WorkerNsg_F5F9116D.id}";

function network(props: Partial<ClusterNetworkProps> = {}, declare: (network: ClusterNetwork) => void = () => undefined, stack = new TerraformStack(Testing.app(), "n")) {
  const built = new ClusterNetwork(stack, "Network", { compartmentId: "C", ...props });
  declare(built);
  const json = JSON.parse(Testing.synth(stack));
  const rules: Record<string, any> = json.resource.oci_core_network_security_group_security_rule;
  /** The rules whose construct id starts with `prefix` (e.g. "manager-tcp22-from-admin"). */
  const rulesFor = (prefix: string) => Object.entries(rules).filter(([name]) => name.startsWith(`Network_${prefix}`)).map(([, rule]) => rule);
  return { built, json, rules, rulesFor };
}

const one = (json: any, type: string) => {
  const blocks = Object.values(json.resource[type]);
  expect(blocks).toHaveLength(1);
  return blocks[0];
};

test("defaults: a /16 VCN named dokploy, a public /24 subnet behind an internet gateway, an egress-only security list, one NSG per role", () => {
  const { json } = network({ freeformTags: { team: "web" } });
  const tags = { freeform_tags: { team: "web" }, compartment_id: "C" };
  expect(one(json, "oci_core_vcn")).toEqual({ ...tags, cidr_blocks: ["10.0.0.0/16"], display_name: "dokploy-vcn", dns_label: "dokploy" });
  expect(one(json, "oci_core_internet_gateway")).toEqual({ ...tags, display_name: "dokploy-igw", enabled: true, vcn_id: VCN });
  expect(one(json, "oci_core_route_table")).toEqual({
    ...tags,
    display_name: "dokploy-routes",
    route_rules: [{ destination: "0.0.0.0/0", destination_type: "CIDR_BLOCK", network_entity_id: "${oci_core_internet_gateway.Network_InternetGateway_D8FF3F66.id}" }],
    vcn_id: VCN,
  });
  expect(one(json, "oci_core_security_list")).toEqual({
    ...tags,
    display_name: "dokploy-egress-only",
    egress_security_rules: [{ destination: "0.0.0.0/0", protocol: "all" }],
    // Path-MTU discovery from anywhere, every unreachable from inside the VCN.
    ingress_security_rules: [
      { icmp_options: { code: 4, type: 3 }, protocol: "1", source: "0.0.0.0/0" },
      { icmp_options: { type: 3 }, protocol: "1", source: "10.0.0.0/16" },
    ],
    vcn_id: VCN,
  });
  expect(one(json, "oci_core_subnet")).toEqual({
    ...tags,
    cidr_block: "10.0.0.0/24",
    display_name: "dokploy-nodes",
    dns_label: "nodes",
    prohibit_public_ip_on_vnic: false,
    route_table_id: "${oci_core_route_table.Network_RouteTable_AC67A54F.id}",
    security_list_ids: ["${oci_core_security_list.Network_SecurityList_038E048E.id}"],
    vcn_id: VCN,
  });
  expect(json.resource.oci_core_network_security_group).toEqual({
    Network_ManagerNsg_B24FC3EC: { ...tags, display_name: "dokploy-manager", vcn_id: VCN },
    Network_WorkerNsg_F5F9116D: { ...tags, display_name: "dokploy-workers", vcn_id: VCN },
  });
});

test("defaults: attributes, and every node may go out", () => {
  const { built, rulesFor } = network();
  expect([built.vcnCidr, built.subnetCidr, built.swarmAddressPool, built.swarmAddressPoolMaskLength, built.adminCidrs, built.adminAccess]).toEqual([
    "10.0.0.0/16", "10.0.0.0/24", "10.20.0.0/16", 24, ["0.0.0.0/0"], "internet",
  ]);
  for (const [role, nsg] of [["manager", MANAGER_NSG], ["workers", WORKER_NSG]]) {
    expect(rulesFor(`${role}-egress`)).toEqual([
      {
        description: "Outbound: packages, images, Dokploy deployments",
        destination: "0.0.0.0/0",
        destination_type: "CIDR_BLOCK",
        direction: "EGRESS",
        network_security_group_id: nsg,
        protocol: "all",
      },
    ]);
  }
});

test("given ranges and names", () => {
  const { built, json } = network({ vcnCidr: "10.8.0.0/20", subnetCidr: "10.8.1.0/29", swarmAddressPool: "10.30.0.0/16", swarmAddressPoolMaskLength: 29, namePrefix: "shop", dnsLabel: "shopnet" });
  expect([built.vcnCidr, built.subnetCidr, built.swarmAddressPool, built.swarmAddressPoolMaskLength]).toEqual(["10.8.0.0/20", "10.8.1.0/29", "10.30.0.0/16", 29]);
  expect(one(json, "oci_core_vcn")).toMatchObject({ cidr_blocks: ["10.8.0.0/20"], display_name: "shop-vcn", dns_label: "shopnet" });
  expect(one(json, "oci_core_internet_gateway")).toMatchObject({ display_name: "shop-igw" });
  expect(one(json, "oci_core_route_table")).toMatchObject({ display_name: "shop-routes" });
  expect(one(json, "oci_core_security_list")).toMatchObject({ display_name: "shop-egress-only" });
  expect(one(json, "oci_core_subnet")).toMatchObject({ cidr_block: "10.8.1.0/29", display_name: "shop-nodes" });
  expect(Object.values<any>(json.resource.oci_core_network_security_group).map((nsg) => nsg.display_name)).toEqual(["shop-manager", "shop-workers"]);
  expect(built.privateIpFor(6, "managerHostNumber")).toBe("10.8.1.6");
});

test("the swarm's ports: each role accepts them from both roles' NSGs, and the host firewall from the subnet", () => {
  const { built, rulesFor } = network();
  expect(rulesFor("workers-tcp2377-from-cluster")).toEqual([
    {
      description: "Docker Swarm cluster management",
      direction: "INGRESS",
      network_security_group_id: WORKER_NSG,
      protocol: "6",
      source: MANAGER_NSG,
      source_type: "NETWORK_SECURITY_GROUP",
      tcp_options: { destination_port_range: { max: 2377, min: 2377 } },
    },
    {
      description: "Docker Swarm cluster management",
      direction: "INGRESS",
      network_security_group_id: WORKER_NSG,
      protocol: "6",
      source: WORKER_NSG,
      source_type: "NETWORK_SECURITY_GROUP",
      tcp_options: { destination_port_range: { max: 2377, min: 2377 } },
    },
  ]);
  expect(rulesFor("manager-udp4789-from-cluster").map((rule) => [rule.protocol, rule.udp_options, rule.tcp_options, rule.network_security_group_id])).toEqual([
    ["17", { destination_port_range: { max: 4789, min: 4789 } }, undefined, MANAGER_NSG],
    ["17", { destination_port_range: { max: 4789, min: 4789 } }, undefined, MANAGER_NSG],
  ]);
  expect(built.hostPortsFor("workers")).toEqual([
    { protocol: "tcp", port: 2377, sources: ["10.0.0.0/24"] },
    { protocol: "tcp", port: 7946, sources: ["10.0.0.0/24"] },
    { protocol: "udp", port: 7946, sources: ["10.0.0.0/24"] },
    { protocol: "udp", port: 4789, sources: ["10.0.0.0/24"] },
  ]);
});

test("encrypted overlays: ESP (protocol 50, no port) inside the cluster, on both roles and their host firewalls", () => {
  const { built, rulesFor } = network({ encryptedOverlays: true });
  expect(rulesFor("manager-esp-from-cluster")).toEqual([
    { description: "Encrypted overlay networks (ESP)", direction: "INGRESS", network_security_group_id: MANAGER_NSG, protocol: "50", source: MANAGER_NSG, source_type: "NETWORK_SECURITY_GROUP" },
    { description: "Encrypted overlay networks (ESP)", direction: "INGRESS", network_security_group_id: MANAGER_NSG, protocol: "50", source: WORKER_NSG, source_type: "NETWORK_SECURITY_GROUP" },
  ]);
  expect(rulesFor("workers-esp-from-cluster")).toHaveLength(2);
  expect(built.hostPortsFor("manager")).toContainEqual({ protocol: "esp", sources: ["10.0.0.0/24"] });
  expect(network().built.hostPortsFor("manager").map((port) => port.protocol)).not.toContain("esp");
});

describe("allowIngress", () => {
  const rule = (fields: Partial<IngressRule>): IngressRule => ({ role: "manager", protocol: "tcp", port: 3000, from: "admin", description: "Dokploy dashboard", ...fields });

  test("from anywhere: one rule from 0.0.0.0/0, on the role's NSG; udp gets udp options", () => {
    const { rulesFor, built } = network({}, (n) => n.allowIngress(rule({ role: "workers", protocol: "udp", port: 51820, from: "anywhere", description: "WireGuard" })));
    expect(rulesFor("workers-udp51820-from-anywhere")).toEqual([
      {
        description: "WireGuard",
        direction: "INGRESS",
        network_security_group_id: WORKER_NSG,
        protocol: "17",
        source: "0.0.0.0/0",
        source_type: "CIDR_BLOCK",
        udp_options: { destination_port_range: { max: 51820, min: 51820 } },
      },
    ]);
    expect(built.hostPortsFor("workers")).toContainEqual({ protocol: "udp", port: 51820, sources: ["0.0.0.0/0"] });
    expect(built.hostPortsFor("manager").map((port) => port.port)).not.toContain(51820);
  });

  test("from admins: one rule per literal CIDR, in order; the host firewall gets the same list", () => {
    const { rulesFor, built } = network({ adminCidrs: ["203.0.113.0/24", "198.51.100.7/32"] }, (n) => n.allowIngress(rule({})));
    expect(rulesFor("manager-tcp3000-from-admin").map((each) => [each.source, each.source_type, each.network_security_group_id, each.tcp_options])).toEqual([
      ["203.0.113.0/24", "CIDR_BLOCK", MANAGER_NSG, { destination_port_range: { max: 3000, min: 3000 } }],
      ["198.51.100.7/32", "CIDR_BLOCK", MANAGER_NSG, { destination_port_range: { max: 3000, min: 3000 } }],
    ]);
    expect(built.hostPortsFor("manager")).toContainEqual({ protocol: "tcp", port: 3000, sources: ["203.0.113.0/24", "198.51.100.7/32"] });
  });

  test("from admins over a tailnet: nothing is opened, in the NSG or the host firewall", () => {
    const { rulesFor, built } = network({ adminAccess: "tailnet" }, (n) => {
      n.allowIngress(rule({}));
      n.allowIngress(rule({ port: 443, from: "anywhere", description: "HTTPS" }));
    });
    expect(rulesFor("manager-tcp3000")).toEqual([]);
    expect(rulesFor("manager-tcp443-from-anywhere")).toHaveLength(1);
    expect(built.hostPortsFor("manager").map((port) => port.port)).toEqual([2377, 7946, 7946, 4789, 443]);
  });

  test("from one role: only that role's NSG is the source", () => {
    const { rulesFor } = network({}, (n) => {
      n.allowIngress(rule({ port: 9999, from: "workers", description: "Token server" }));
      n.allowIngress(rule({ role: "workers", port: 22, from: "manager", description: "SSH from Dokploy" }));
    });
    expect(rulesFor("manager-tcp9999-from-workers").map((each) => [each.source, each.network_security_group_id])).toEqual([[WORKER_NSG, MANAGER_NSG]]);
    expect(rulesFor("workers-tcp22-from-manager").map((each) => [each.source, each.network_security_group_id])).toEqual([[MANAGER_NSG, WORKER_NSG]]);
  });

  test("the same port from the same source twice is one rule and one firewall entry; another source is another rule", () => {
    const { rules, built } = network({}, (n) => {
      n.allowIngress(rule({ from: "anywhere" }));
      n.allowIngress(rule({ from: "anywhere", description: "said again by another pool" }));
      n.allowIngress(rule({ from: "workers" }));
      n.allowIngress(rule({ role: "workers", from: "anywhere" }));
      n.allowIngress(rule({ role: "workers", from: "manager" }));
      n.allowIngress(rule({ protocol: "udp", from: "anywhere" }));
    });
    const onPort = Object.keys(rules).filter((name) => name.includes("3000")).map((name) => name.replace(/_[0-9A-F]{8}$/, ""));
    expect(onPort.sort()).toEqual([
      "Network_manager-tcp3000-from-anywhere",
      "Network_manager-tcp3000-from-workers-workers-nsg",
      "Network_manager-udp3000-from-anywhere",
      "Network_workers-tcp3000-from-anywhere",
      "Network_workers-tcp3000-from-manager-manager-nsg",
    ]);
    expect(built.hostPortsFor("manager").filter((port) => port.port === 3000)).toEqual([
      { protocol: "tcp", port: 3000, sources: ["0.0.0.0/0"] },
      { protocol: "tcp", port: 3000, sources: ["10.0.0.0/24"] },
      { protocol: "udp", port: 3000, sources: ["0.0.0.0/0"] },
    ]);
  });

  test("admin CIDRs from Terraform: one rule with for_each over them", () => {
    const stack = new TerraformStack(Testing.app(), "n");
    const adminCidrs = new TerraformVariable(stack, "admin_cidrs", { type: "list(string)" }).listValue;
    const { rulesFor } = network({ adminCidrs }, (n) => n.allowIngress(rule({})), stack);
    expect(rulesFor("manager-tcp3000-from-admin")).toEqual([
      expect.objectContaining({ for_each: "${toset(var.admin_cidrs)}", source: "${each.value}", source_type: "CIDR_BLOCK" }),
    ]);
  });

  test("a port outside 1..65535 names the rule's description", () => {
    expect(() => network({}, (n) => n.allowIngress(rule({ port: 0, description: "Dokploy dashboard" })))).toThrow('port for "Dokploy dashboard": 0 is not a port number');
  });
});

describe("fixed addresses", () => {
  test("privateIpFor: the host number's address, reserved once", () => {
    const { built } = network();
    expect(built.privateIpFor(10, "managerHostNumber", "the manager")).toBe("10.0.0.10");
    expect(() => built.privateIpFor(10, "other")).toThrow("other: host numbers 10..10 (other) overlap 10..10, taken by the manager");
  });

  test("pools: the lowest free run from 20 that fits, around what is taken", () => {
    const { built } = network();
    expect(built.reserveHostNumbers(undefined, 3, "firstHostNumber", "pool a")).toBe(20);
    expect(built.reserveHostNumbers(undefined, 2, "firstHostNumber", "pool b")).toBe(23);
    built.privateIpFor(30, "x", "x");
    // 25..29 is free but too short for 6: the run starts after 30.
    expect(built.reserveHostNumbers(undefined, 6, "firstHostNumber", "pool c")).toBe(31);
    expect(built.reserveHostNumbers(undefined, 5, "firstHostNumber", "pool d")).toBe(25);
    expect(built.reserveHostNumbers(undefined, 1, "firstHostNumber", "pool e")).toBe(37);
  });

  test("a run given explicitly: its first and its last address must be free and inside the subnet", () => {
    const { built } = network();
    built.reserveHostNumbers(40, 5, "firstHostNumber", 'worker pool "a"');
    expect(() => built.reserveHostNumbers(36, 4, "firstHostNumber", 'worker pool "b"')).not.toThrow();
    expect(() => built.reserveHostNumbers(44, 1, "firstHostNumber", 'worker pool "c"')).toThrow(
      'firstHostNumber: host numbers 44..44 (worker pool "c") overlap 40..44, taken by worker pool "a"',
    );
    expect(() => built.reserveHostNumbers(30, 7, "firstHostNumber", 'worker pool "d"')).toThrow("overlap 36..39");
    expect(() => built.reserveHostNumbers(251, 5, "firstHostNumber", 'worker pool "e"')).toThrow(
      "firstHostNumber (the last of 5 addresses): host number 255 is outside 10.0.0.0/24",
    );
    expect(() => built.reserveHostNumbers(1, 5, "firstHostNumber", 'worker pool "e"')).toThrow(/^firstHostNumber: host number 1 is outside/);
    expect(built.reserveHostNumbers(251, 4, "firstHostNumber", 'worker pool "e"')).toBe(251);
  });

  test("an empty pool takes no address", () => {
    const { built } = network();
    expect(built.reserveHostNumbers(10, 0, "firstHostNumber", "empty")).toBe(10);
    expect(built.privateIpFor(10, "managerHostNumber")).toBe("10.0.0.10");
    expect(built.reserveHostNumbers(undefined, 0, "firstHostNumber", "empty")).toBe(20);
    // Even at the first host number: an empty run has no last address to check.
    expect(built.reserveHostNumbers(2, 0, "firstHostNumber", "empty")).toBe(2);
    expect(built.reserveHostNumbers(undefined, 1, "firstHostNumber", "one")).toBe(20);
  });
});

describe("limits, each naming the prop", () => {
  test.each<[Partial<ClusterNetworkProps>, string]>([
    [{ adminAccess: "vpn" as never }, 'adminAccess: "vpn" is not one of internet, tailnet'],
    [{ namePrefix: "Shop" }, 'namePrefix: "Shop" is not allowed'],
    [{ dnsLabel: "9net" }, 'dnsLabel: "9net" is not allowed'],
    [{ vcnCidr: "10.0.0.0/15" }, "vcnCidr: OCI allows /16 to /30, got /15"],
    [{ vcnCidr: "10.0.0.0/31", subnetCidr: "10.0.0.0/31" }, "vcnCidr: OCI allows /16 to /30, got /31"],
    [{ subnetCidr: "10.0.0.0/30" }, "subnetCidr: /30 leaves no room for nodes; use /29 or larger"],
    [{ subnetCidr: "10.0.0/24" }, 'subnetCidr: "10.0.0/24" is not an IPv4 CIDR block'],
    [{ swarmAddressPool: "10.20.0/16" }, 'swarmAddressPool: "10.20.0/16" is not an IPv4 CIDR block'],
    [{ swarmAddressPool: "172.17.0.0/16" }, "swarmAddressPool: 172.17.0.0/16 overlaps Docker's bridge network 172.17.0.0/16; pick another range"],
    [{ vcnCidr: "172.17.0.0/16", subnetCidr: "172.17.0.0/24" }, "vcnCidr: 172.17.0.0/16 overlaps Docker's bridge network 172.17.0.0/16; pick another range"],
  ])("%j", (props, message) => {
    expect(() => network(props)).toThrow(message);
  });

  test("the bounds themselves are allowed", () => {
    expect(() => network({ vcnCidr: "10.0.0.0/16", subnetCidr: "10.0.0.0/29" })).not.toThrow();
    expect(() => network({ vcnCidr: "10.0.0.0/30", subnetCidr: "10.0.0.0/30" })).toThrow("subnetCidr: /30 leaves no room");
    expect(() => network({ vcnCidr: "10.0.0.0/29", subnetCidr: "10.0.0.0/29" })).not.toThrow();
  });

  test("admin CIDRs from Terraform are not checked at synth time", () => {
    const stack = new TerraformStack(Testing.app(), "n");
    const adminCidrs = new TerraformVariable(stack, "admin_cidrs", { type: "list(string)" }).listValue;
    expect(() => network({ adminCidrs }, () => undefined, stack)).not.toThrow();
  });
});
