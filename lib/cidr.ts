/** IPv4 CIDR arithmetic for synth-time checks of the network layout. */

export interface Ipv4Cidr {
  readonly text: string;
  readonly network: number;
  readonly prefixLength: number;
  readonly size: number;
}

const CIDR_PATTERN = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

/** Parses "a.b.c.d/n"; throws naming `prop` when the text is not a CIDR or has host bits set. */
export function parseCidr(text: string, prop: string): Ipv4Cidr {
  const match = CIDR_PATTERN.exec(text);
  const octets = match ? match.slice(1, 5).map(Number) : [];
  const prefixLength = match ? Number(match[5]) : -1;
  if (!match || octets.some((octet) => octet > 255) || prefixLength > 32) {
    throw new Error(`${prop}: "${text}" is not an IPv4 CIDR block like 10.0.0.0/16`);
  }
  const address = octets.reduce((sum, octet) => sum * 256 + octet, 0);
  const size = 2 ** (32 - prefixLength);
  if (address % size !== 0) {
    throw new Error(`${prop}: "${text}" has host bits set; the network address is ${formatIpv4(address - (address % size))}/${prefixLength}`);
  }
  return { text, network: address, prefixLength, size };
}

export function formatIpv4(address: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(address / 2 ** shift) % 256).join(".");
}

export function overlaps(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  return a.network < b.network + b.size && b.network < a.network + a.size;
}

export function contains(outer: Ipv4Cidr, inner: Ipv4Cidr): boolean {
  return inner.network >= outer.network && inner.network + inner.size <= outer.network + outer.size;
}

/**
 * The address of host number `hostNumber` in the block. OCI reserves the first two and the last address of a
 * subnet, so usable host numbers run from 2 to size - 2.
 */
export function hostAddress(cidr: Ipv4Cidr, hostNumber: number, prop: string): string {
  if (!Number.isInteger(hostNumber) || hostNumber < 2 || hostNumber > cidr.size - 2) {
    throw new Error(`${prop}: host number ${hostNumber} is outside ${cidr.text} (OCI lets hosts use 2..${cidr.size - 2})`);
  }
  return formatIpv4(cidr.network + hostNumber);
}
