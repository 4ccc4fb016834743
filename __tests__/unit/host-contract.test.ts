/**
 * lib/host-contract.ts's two functions on their own: a port's range and its message, and a systemd unit as
 * cloud-init writes it. Expected values are written out.
 */
import { TerraformStack, TerraformVariable, Testing } from "cdktf";
import { systemdUnit, validatePort } from "../../lib/host-contract";

describe("validatePort", () => {
  test.each([1, 22, 65535])("%d is a port", (port) => {
    expect(() => validatePort(port, "port")).not.toThrow();
  });

  test.each([0, -1, 65536, 80.5, NaN, Infinity])("%d is not, and the message names the prop and the range", (port) => {
    expect(() => validatePort(port, "serve.localPort")).toThrow(`serve.localPort: ${port} is not a port number (a whole number from 1 to 65535)`);
  });

  test("a server without privileges: from 1024, and the message says why", () => {
    expect(() => validatePort(1024, "tokenServerPort", 1024)).not.toThrow();
    expect(() => validatePort(65535, "tokenServerPort", 1024)).not.toThrow();
    expect(() => validatePort(1023, "tokenServerPort", 1024)).toThrow(
      "tokenServerPort: 1023 is not a port number (a whole number from 1024 to 65535; the server runs without privileges)",
    );
  });

  test("a Terraform number is left to Terraform", () => {
    const stack = new TerraformStack(Testing.app(), "ports");
    const port = new TerraformVariable(stack, "port", { type: "number" }).numberValue;
    expect(() => validatePort(port, "port", 1024)).not.toThrow();
  });
});

test("systemdUnit: the unit under /etc/systemd/system, 0644, its text without comment lines", () => {
  const unit = systemdUnit("dokploy-release-install.service", "common/dokploy-release-install.service");
  expect(unit.path).toBe("/etc/systemd/system/dokploy-release-install.service");
  expect(unit.permissions).toBe("0644");
  expect(unit.content).toMatch(/^\[Unit\]\n/);
  expect(unit.content).toContain("\n[Service]\n");
  expect(unit.content).not.toMatch(/^#/m);
});
