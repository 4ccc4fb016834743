/**
 * A stand-in for ClusterNetwork that records what a construct asks of it: the ports it opens, the host numbers it
 * reserves (the first given or 20) and the fixed addresses it claims (10.0.0.<host number>). Each role's host
 * firewall entries are one SSH entry from "<role>-source", so a test can see whose entries a node got.
 */
import { IClusterNetwork, IngressRule } from "../../constructs/oci/cluster-network";

export function standInNetwork() {
  const opened: IngressRule[] = [];
  const reserved: unknown[][] = [];
  const addresses: unknown[][] = [];
  const network = {
    subnet: { id: "SUBNET_ID" },
    managerNsg: { id: "MANAGER_NSG_ID" },
    workerNsg: { id: "WORKER_NSG_ID" },
    subnetCidr: "10.0.0.0/24",
    swarmAddressPool: "10.20.0.0/16",
    swarmAddressPoolMaskLength: 24,
    allowIngress: (rule: IngressRule) => opened.push(rule),
    hostPortsFor: (role: string) => [{ protocol: "tcp", port: 22, sources: [`${role}-source`] }],
    reserveHostNumbers: (first: number | undefined, ...rest: unknown[]) => {
      reserved.push([first, ...rest]);
      return first ?? 20;
    },
    privateIpFor: (hostNumber: number, ...rest: unknown[]) => {
      addresses.push([hostNumber, ...rest]);
      return `10.0.0.${hostNumber}`;
    },
  } as unknown as IClusterNetwork;
  return { network, opened, reserved, addresses };
}
