import { TerraformIterator, Token } from "cdktf";
import { Construct } from "constructs";
import { CoreInternetGateway } from "../../.gen/providers/oci/core-internet-gateway";
import { CoreNetworkSecurityGroup } from "../../.gen/providers/oci/core-network-security-group";
import { CoreNetworkSecurityGroupSecurityRule } from "../../.gen/providers/oci/core-network-security-group-security-rule";
import { CoreRouteTable } from "../../.gen/providers/oci/core-route-table";
import { CoreSecurityList } from "../../.gen/providers/oci/core-security-list";
import { CoreSubnet } from "../../.gen/providers/oci/core-subnet";
import { CoreVcn } from "../../.gen/providers/oci/core-vcn";
import { Ipv4Cidr, contains, hostAddress, overlaps, parseCidr } from "../../lib/cidr";
import { HostPort, SWARM_PORTS, validatePort } from "../../lib/host-contract";
import { DNS_LABEL, NAME_PREFIX, checkNumber } from "../../lib/rules";

export type { HostPort };

/** Worker pools' fixed addresses start here by default, clear of the manager's default host number (10). */
export const FIRST_POOL_HOST_NUMBER = 20;

/** Which nodes a rule protects. */
export type NodeRole = "manager" | "workers";

/**
 * Who may connect: `anywhere` (0.0.0.0/0), `admin` (the network's adminCidrs), `cluster` (every node),
 * `manager` or `workers` (nodes of that role only).
 */
export type IngressSource = "anywhere" | "admin" | "cluster" | "manager" | "workers";

export type AdminAccess = "internet" | "tailnet";

export interface IngressRule {
  readonly role: NodeRole;
  readonly protocol: "tcp" | "udp" | "esp";
  /** Required for tcp and udp. */
  readonly port?: number;
  readonly from: IngressSource;
  /** Lands in the NSG rule's description, so say what listens there. */
  readonly description: string;
}

/**
 * What nodes need from the network they live in: where to attach, which ports to open (allowIngress, which feeds
 * both the NSG and the host firewall) and fixed addresses. ClusterNetwork is one.
 */
export interface IClusterNetwork {
  readonly subnet: { readonly id: string };
  readonly managerNsg: { readonly id: string };
  readonly workerNsg: { readonly id: string };
  readonly subnetCidr: string;
  readonly swarmAddressPool: string;
  readonly swarmAddressPoolMaskLength: number;
  allowIngress(rule: IngressRule): void;
  /** The host-firewall entries of a role as declared so far; read it when rendering a node's config. */
  hostPortsFor(role: NodeRole): HostPort[];
  privateIpFor(hostNumber: number, prop: string, owner?: string): string;
  reserveHostNumbers(first: number | undefined, count: number, prop: string, owner: string): number;
}

export interface ClusterNetworkProps {
  /** Compartment that holds the network. */
  readonly compartmentId: string;
  /**
   * The VCN's address range.
   * @default - 10.0.0.0/16
   */
  readonly vcnCidr?: string;
  /**
   * The public subnet the nodes live in; inside vcnCidr.
   * @default - 10.0.0.0/24
   */
  readonly subnetCidr?: string;
  /**
   * Address pool Docker Swarm carves overlay networks from (`--default-addr-pool`). Swarm's own default,
   * 10.0.0.0/8, overlaps the VCN (Dokploy #2590), so one outside it is passed to Dokploy's installer.
   * @default - 10.20.0.0/16
   */
  readonly swarmAddressPool?: string;
  /**
   * Prefix length of each overlay network taken from swarmAddressPool.
   * @default - 24
   */
  readonly swarmAddressPoolMaskLength?: number;
  /**
   * Who may reach SSH (22) and the Dokploy dashboard (3000). May be a Terraform list (an ORM variable).
   * @default - ["0.0.0.0/0"]: open to the internet, key-only SSH and the dashboard's own login protect them;
   * narrow it to your address, or use Tailscale.
   */
  readonly adminCidrs?: string[];
  /**
   * How admins reach SSH and the dashboard: "internet" opens them to adminCidrs; "tailnet" opens them to nobody
   * (the nodes join a tailnet and admins connect there; see DokployCluster's `tailscale`).
   * @default - "internet"
   */
  readonly adminAccess?: AdminAccess;
  /**
   * Open ESP (IP protocol 50) inside the cluster for encrypted overlay networks (`--opt encrypted`).
   * @default - false
   */
  readonly encryptedOverlays?: boolean;
  /**
   * Prefix for display names.
   * @default - "dokploy"
   */
  readonly namePrefix?: string;
  /**
   * DNS label of the VCN (letters and digits, starting with a letter, at most 15); the subnet gets "nodes".
   * @default - "dokploy"
   */
  readonly dnsLabel?: string;
  /** @default - no tags */
  readonly freeformTags?: Record<string, string>;
}

const DOCKER_BRIDGES = ["172.17.0.0/16", "172.18.0.0/16"];
const PROTOCOL_NUMBERS = { tcp: "6", udp: "17", esp: "50" } as const;
const ANYWHERE = "0.0.0.0/0";

/**
 * VCN, public subnet, internet gateway, route table, an egress-only security list and one NSG per role.
 * Ingress is closed until a construct declares a port with `allowIngress`; the same declarations feed the
 * host firewall (`hostPortsFor`), so each port number is written once.
 */
export class ClusterNetwork extends Construct implements IClusterNetwork {
  public readonly vcn: CoreVcn;
  public readonly subnet: CoreSubnet;
  public readonly managerNsg: CoreNetworkSecurityGroup;
  public readonly workerNsg: CoreNetworkSecurityGroup;
  public readonly vcnCidr: string;
  public readonly subnetCidr: string;
  public readonly swarmAddressPool: string;
  public readonly swarmAddressPoolMaskLength: number;
  public readonly adminCidrs: string[];
  public readonly adminAccess: AdminAccess;
  private readonly subnetRange: Ipv4Cidr;
  private readonly rules: IngressRule[] = [];
  private readonly hostReservations: Array<{ first: number; last: number; owner: string }> = [];

  constructor(scope: Construct, id: string, props: ClusterNetworkProps) {
    super(scope, id);
    this.vcnCidr = props.vcnCidr ?? "10.0.0.0/16";
    this.subnetCidr = props.subnetCidr ?? "10.0.0.0/24";
    this.swarmAddressPool = props.swarmAddressPool ?? "10.20.0.0/16";
    this.swarmAddressPoolMaskLength = props.swarmAddressPoolMaskLength ?? 24;
    this.adminCidrs = props.adminCidrs ?? [ANYWHERE];
    this.adminAccess = props.adminAccess ?? "internet";
    if (!["internet", "tailnet"].includes(this.adminAccess)) {
      throw new Error(`adminAccess: "${this.adminAccess}" is not one of internet, tailnet`);
    }
    this.subnetRange = validateLayout(props);
    const prefix = props.namePrefix ?? "dokploy";
    NAME_PREFIX.check(prefix, "namePrefix");
    DNS_LABEL.check(props.dnsLabel ?? "dokploy", "dnsLabel");
    const common = { compartmentId: props.compartmentId, freeformTags: props.freeformTags };

    this.vcn = new CoreVcn(this, "Vcn", {
      ...common,
      cidrBlocks: [this.vcnCidr],
      displayName: `${prefix}-vcn`,
      dnsLabel: props.dnsLabel ?? "dokploy",
    });
    const gateway = new CoreInternetGateway(this, "InternetGateway", {
      ...common,
      vcnId: this.vcn.id,
      enabled: true,
      displayName: `${prefix}-igw`,
    });
    const routeTable = new CoreRouteTable(this, "RouteTable", {
      ...common,
      vcnId: this.vcn.id,
      displayName: `${prefix}-routes`,
      routeRules: [{ destination: ANYWHERE, destinationType: "CIDR_BLOCK", networkEntityId: gateway.id }],
    });
    // The VCN's default security list opens 22 to the internet; the subnet uses this one instead, so only
    // the NSGs decide what comes in. ICMP type 3 keeps path-MTU discovery working.
    const securityList = new CoreSecurityList(this, "SecurityList", {
      ...common,
      vcnId: this.vcn.id,
      displayName: `${prefix}-egress-only`,
      egressSecurityRules: [{ destination: ANYWHERE, protocol: "all" }],
      ingressSecurityRules: [
        { source: ANYWHERE, protocol: "1", icmpOptions: { type: 3, code: 4 } },
        { source: this.vcnCidr, protocol: "1", icmpOptions: { type: 3 } },
      ],
    });
    this.subnet = new CoreSubnet(this, "Subnet", {
      ...common,
      vcnId: this.vcn.id,
      cidrBlock: this.subnetCidr,
      displayName: `${prefix}-nodes`,
      dnsLabel: "nodes",
      routeTableId: routeTable.id,
      securityListIds: [securityList.id],
      prohibitPublicIpOnVnic: false,
    });
    this.managerNsg = new CoreNetworkSecurityGroup(this, "ManagerNsg", { ...common, vcnId: this.vcn.id, displayName: `${prefix}-manager` });
    this.workerNsg = new CoreNetworkSecurityGroup(this, "WorkerNsg", { ...common, vcnId: this.vcn.id, displayName: `${prefix}-workers` });

    for (const [role, nsg] of [["manager", this.managerNsg], ["workers", this.workerNsg]] as const) {
      new CoreNetworkSecurityGroupSecurityRule(this, `${role}-egress`, {
        networkSecurityGroupId: nsg.id,
        direction: "EGRESS",
        protocol: "all",
        destination: ANYWHERE,
        destinationType: "CIDR_BLOCK",
        description: "Outbound: packages, images, Dokploy deployments",
      });
      for (const port of SWARM_PORTS) this.allowIngress({ ...port, role, from: "cluster" });
      if (props.encryptedOverlays) {
        this.allowIngress({ role, protocol: "esp", from: "cluster", description: "Encrypted overlay networks (ESP)" });
      }
    }
  }

  /**
   * The private address of host number `hostNumber` in the nodes' subnet (2 .. size-2), reserved for `owner`: a
   * second claim on it is an error, so fixed addresses never collide.
   */
  public privateIpFor(hostNumber: number, prop: string, owner = prop): string {
    this.reserveHostNumbers(hostNumber, 1, prop, owner);
    return hostAddress(this.subnetRange, hostNumber, prop);
  }

  /**
   * Reserves `count` consecutive host numbers for a pool's fixed private IPs and returns the first: `first` when
   * given, else the lowest free run from FIRST_POOL_HOST_NUMBER up. A run that overlaps another reservation (the
   * manager's address among them) or leaves the subnet is an error naming `prop`.
   */
  public reserveHostNumbers(first: number | undefined, count: number, prop: string, owner: string): number {
    const start = first ?? this.firstFreeHostNumber(count);
    // An empty pool holds no address.
    if (count === 0) return start;
    const last = start + count - 1;
    hostAddress(this.subnetRange, start, prop);
    hostAddress(this.subnetRange, last, `${prop} (the last of ${count} addresses)`);
    const clash = this.hostReservations.find((taken) => start <= taken.last && taken.first <= last);
    if (clash) {
      throw new Error(`${prop}: host numbers ${start}..${last} (${owner}) overlap ${clash.first}..${clash.last}, taken by ${clash.owner}`);
    }
    this.hostReservations.push({ first: start, last, owner });
    return start;
  }

  private firstFreeHostNumber(count: number): number {
    let start = FIRST_POOL_HOST_NUMBER;
    for (const taken of [...this.hostReservations].sort((a, b) => a.first - b.first)) {
      if (start + count - 1 >= taken.first && start <= taken.last) start = taken.last + 1;
    }
    return start;
  }

  /**
   * Opens a port on a role's NSG and records it for that role's host firewall. With adminAccess "tailnet",
   * admin ports stay closed: tailscaled accepts tailnet traffic on its own interface.
   */
  public allowIngress(rule: IngressRule): void {
    if (rule.from === "admin" && this.adminAccess === "tailnet") return;
    if (rule.protocol !== "esp") validatePort(rule.port!, `port for "${rule.description}"`);
    const same = (other: IngressRule) =>
      other.role === rule.role && other.protocol === rule.protocol && other.port === rule.port && other.from === rule.from;
    // Several pools may need the same port; one rule serves them all.
    if (this.rules.some(same)) return;
    this.rules.push(rule);
    const nsg = rule.role === "manager" ? this.managerNsg : this.workerNsg;
    const id = `${rule.role}-${rule.protocol}${rule.port ?? ""}-from-${rule.from}`;
    const base = {
      networkSecurityGroupId: nsg.id,
      direction: "INGRESS",
      protocol: PROTOCOL_NUMBERS[rule.protocol],
      description: rule.description,
      ...portOptions(rule),
    };
    const sourceNsgs = { cluster: [this.managerNsg, this.workerNsg], manager: [this.managerNsg], workers: [this.workerNsg] };
    if (rule.from === "anywhere") {
      new CoreNetworkSecurityGroupSecurityRule(this, id, { ...base, source: ANYWHERE, sourceType: "CIDR_BLOCK" });
    } else if (rule.from === "admin") {
      if (Token.isUnresolved(this.adminCidrs)) {
        const cidrs = TerraformIterator.fromList(this.adminCidrs);
        new CoreNetworkSecurityGroupSecurityRule(this, id, { ...base, forEach: cidrs, source: cidrs.value, sourceType: "CIDR_BLOCK" });
      } else {
        this.adminCidrs.forEach((cidr, index) =>
          new CoreNetworkSecurityGroupSecurityRule(this, `${id}-${index}`, { ...base, source: cidr, sourceType: "CIDR_BLOCK" }),
        );
      }
    } else {
      for (const source of sourceNsgs[rule.from]) {
        const sourceName = source === this.managerNsg ? "manager" : "workers";
        new CoreNetworkSecurityGroupSecurityRule(this, `${id}-${sourceName}-nsg`, {
          ...base,
          source: source.id,
          sourceType: "NETWORK_SECURITY_GROUP",
        });
      }
    }
  }

  /** The ports declared for a role, with the sources the host firewall should accept them from. */
  public hostPortsFor(role: NodeRole): HostPort[] {
    return this.rules
      .filter((rule) => rule.role === role)
      .map((rule) => ({
        protocol: rule.protocol,
        ...(rule.port !== undefined ? { port: rule.port } : {}),
        // Inside the cluster the host sees subnet addresses; the NSG already narrowed it to the right role.
        sources: rule.from === "anywhere" ? [ANYWHERE] : rule.from === "admin" ? this.adminCidrs : [this.subnetCidr],
      }));
  }
}

function portOptions(rule: IngressRule) {
  if (rule.protocol === "esp") return {};
  const range = { destinationPortRange: { min: rule.port!, max: rule.port! } };
  return rule.protocol === "tcp" ? { tcpOptions: range } : { udpOptions: range };
}

function validateLayout(props: ClusterNetworkProps): Ipv4Cidr {
  const vcn = parseCidr(props.vcnCidr ?? "10.0.0.0/16", "vcnCidr");
  const subnet = parseCidr(props.subnetCidr ?? "10.0.0.0/24", "subnetCidr");
  const pool = parseCidr(props.swarmAddressPool ?? "10.20.0.0/16", "swarmAddressPool");
  const mask = props.swarmAddressPoolMaskLength ?? 24;
  if (vcn.prefixLength < 16 || vcn.prefixLength > 30) throw new Error(`vcnCidr: OCI allows /16 to /30, got /${vcn.prefixLength}`);
  if (!contains(vcn, subnet)) throw new Error(`subnetCidr: ${subnet.text} is not inside vcnCidr ${vcn.text}`);
  if (subnet.prefixLength > 29) throw new Error(`subnetCidr: /${subnet.prefixLength} leaves no room for nodes; use /29 or larger`);
  if (overlaps(pool, vcn)) {
    throw new Error(`swarmAddressPool: ${pool.text} overlaps vcnCidr ${vcn.text}; overlay networks would shadow VCN addresses`);
  }
  checkNumber(mask, "swarmAddressPoolMaskLength", { min: pool.prefixLength, max: 29, integer: true, unit: "prefix bits (between the pool's and /29)" });
  for (const bridge of DOCKER_BRIDGES.map((text) => parseCidr(text, "docker bridge"))) {
    for (const [prop, range] of [["vcnCidr", vcn], ["swarmAddressPool", pool]] as const) {
      if (overlaps(range, bridge)) {
        throw new Error(`${prop}: ${range.text} overlaps Docker's bridge network ${bridge.text}; pick another range`);
      }
    }
  }
  if (!Token.isUnresolved(props.adminCidrs ?? [])) {
    (props.adminCidrs ?? []).forEach((cidr, index) => parseCidr(cidr, `adminCidrs[${index}]`));
    if (props.adminCidrs && props.adminCidrs.length === 0) {
      throw new Error("adminCidrs: an empty list would lock you out of SSH and the dashboard; give at least one CIDR");
    }
  }
  return subnet;
}
