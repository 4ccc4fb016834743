/** IPv4 CIDR arithmetic for synth-time checks of the network layout. */

export interface Ipv4Cidr {
  readonly text: string;
  readonly network: number;
  readonly prefixLength: number;
  readonly size: number;
}

/**
 * One IPv4 CIDR block as text: octets 0-255 and a prefix 0-32, without leading zeros (which the nodes' firewall
 * script, Python's ipaddress, refuses). RE2 and JavaScript read it alike: the ORM form, Terraform validation and
 * parseCidr share it.
 */
const OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
export const CIDR_PATTERN = `${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}/(3[0-2]|[12]?[0-9])`;
const CIDR_REGEX = new RegExp(`^${CIDR_PATTERN}$`);

/**
 * A Terraform bool: every item of the list expression `list` is a CIDR block in the strict form above whose host
 * bits are clear (cidrhost(c, 0) gives back the address written; `&&` does not short-circuit in Terraform 1.5, hence try): the same rule as parseCidr, at plan time.
 */
export function cidrListCondition(list: string): string {
  return `alltrue([for c in ${list} : can(regex(${JSON.stringify(`^${CIDR_PATTERN}$`)}, c)) && try(cidrhost(c, 0) == split("/", c)[0], false)])`;
}

/** Parses "a.b.c.d/n"; throws naming `prop` when the text is not a CIDR block as above or has host bits set. */
export function parseCidr(text: string, prop: string): Ipv4Cidr {
  const match = typeof text === "string" ? CIDR_REGEX.exec(text) : null;
  if (!match) {
    throw new Error(`${prop}: ${JSON.stringify(String(text))} is not an IPv4 CIDR block like 10.0.0.0/16 (octets 0-255 without leading zeros, prefix 0-32)`);
  }
  const [dotted, prefixText] = text.split("/");
  const octets = dotted.split(".").map(Number);
  const prefixLength = Number(prefixText);
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
