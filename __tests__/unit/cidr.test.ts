/**
 * lib/cidr.ts at its edges: blocks that touch without overlapping, a block that ends where its container ends, the
 * first and last host numbers OCI lets a node use. Expected values are written out.
 */
import { cidrListCondition, contains, hostAddress, overlaps, parseCidr } from "../../lib/cidr";

const cidr = (text: string) => parseCidr(text, "cidr");

describe("overlaps", () => {
  test.each([
    ["10.0.0.0/24", "10.0.1.0/24", false],
    ["10.0.1.0/24", "10.0.0.0/24", false],
    ["10.0.0.0/16", "10.0.5.0/24", true],
    ["10.0.5.0/24", "10.0.0.0/16", true],
    ["10.0.0.0/24", "10.0.0.0/24", true],
    ["10.0.0.0/24", "192.168.0.0/24", false],
  ])("%s and %s: %s", (a, b, expected) => {
    expect(overlaps(cidr(a), cidr(b))).toBe(expected);
  });
});

describe("contains", () => {
  test.each([
    ["10.0.0.0/16", "10.0.255.0/24", true],
    ["10.0.0.0/16", "10.0.0.0/16", true],
    ["10.0.0.0/16", "10.0.0.0/15", false],
    ["10.0.0.0/16", "10.1.0.0/24", false],
    ["10.0.0.0/16", "9.255.255.0/24", false],
  ])("%s holds %s: %s", (outer, inner, expected) => {
    expect(contains(cidr(outer), cidr(inner))).toBe(expected);
  });
});

describe("hostAddress", () => {
  test("host numbers run from 2 to size - 2, counted from the block's network address", () => {
    expect(hostAddress(cidr("10.0.1.0/24"), 2, "hostNumber")).toBe("10.0.1.2");
    expect(hostAddress(cidr("10.0.1.0/24"), 10, "hostNumber")).toBe("10.0.1.10");
    expect(hostAddress(cidr("10.0.1.0/24"), 254, "hostNumber")).toBe("10.0.1.254");
  });

  test.each([1, 255, 2.5])("host number %s is refused, naming the prop and the range", (hostNumber) => {
    expect(() => hostAddress(cidr("10.0.1.0/24"), hostNumber, "hostNumber")).toThrow(`hostNumber: host number ${hostNumber} is outside 10.0.1.0/24 (OCI lets hosts use 2..254)`);
  });
});

test("parseCidr refuses what is not a string, even when it prints as a CIDR block", () => {
  expect(() => parseCidr(["10.0.0.0/16"] as unknown as string, "cidr")).toThrow(/^cidr: "10\.0\.0\.0\/16" is not an IPv4 CIDR block/);
});

test("cidrListCondition: the Terraform expression, written out", () => {
  const octet = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
  const pattern = `^${octet}\\\\.${octet}\\\\.${octet}\\\\.${octet}/(3[0-2]|[12]?[0-9])$`;
  expect(cidrListCondition("var.cidrs")).toBe(`alltrue([for c in var.cidrs : can(regex("${pattern}", c)) && try(cidrhost(c, 0) == split("/", c)[0], false)])`);
});
