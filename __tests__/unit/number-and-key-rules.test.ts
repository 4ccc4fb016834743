/**
 * lib/rules.ts's number and SSH key rules on their own (prop-rules.test.ts reaches them through whole clusters):
 * the range's edges and message, the plan-time condition, a key whose body passes the pattern but names another
 * type inside, the list rules and planTimeChecks. Expected values are written out.
 */
import { DefaultTokenResolver, StringConcat, TerraformStack, TerraformVariable, Testing, Tokenization } from "cdktf";
import { DNS_LABEL, NAME_PREFIX, checkNumber, checkSshPublicKey, checkSshPublicKeys, numberCondition, planTimeChecks, sshKeyListCondition } from "../../lib/rules";
import { openSshPublicKey } from "../helpers/ssh-keys";

const stack = new TerraformStack(Testing.app(), "rules");
const resolve = (value: unknown) => Tokenization.resolve(value, { scope: stack, preparing: false, resolver: new DefaultTokenResolver(new StringConcat()) });

describe("checkNumber", () => {
  test("both ends are in; the message says the kind, the unit and the range", () => {
    expect(() => checkNumber(10, "count", { min: 1, max: 10 })).not.toThrow();
    expect(() => checkNumber(1, "count", { min: 1, max: 10 })).not.toThrow();
    expect(() => checkNumber(10.5, "count", { min: 1, max: 10 })).toThrow("count: 10.5 is out of range; use a number from 1 to 10");
    expect(() => checkNumber(0, "count", { min: 1, max: 10, integer: true, unit: "nodes" })).toThrow("count: 0 is out of range; use a whole number of nodes from 1 to 10");
    expect(() => checkNumber(2.5, "size", { min: 1, max: 10, unit: "GB" })).not.toThrow();
  });

  test("only numbers: a numeral in a string is refused even where its value would fit", () => {
    expect(() => checkNumber("5" as unknown as number, "count", { min: 1, max: 10 })).toThrow("count: 5 is out of range; use a number from 1 to 10");
  });

  test("a Terraform number is left to its variable", () => {
    const count = new TerraformVariable(stack, "count", { type: "number" }).numberValue;
    expect(() => checkNumber(count, "count", { min: 1, max: 2 })).not.toThrow();
  });
});

test("numberCondition: the range as a Terraform bool, floor() only for whole numbers", () => {
  expect(numberCondition("var.count", { min: 1, max: 10, integer: true })).toBe("floor(var.count) == var.count && var.count >= 1 && var.count <= 10");
  expect(numberCondition("var.size", { min: 0.5, max: 4 })).toBe("var.size >= 0.5 && var.size <= 4");
});

describe("SSH public keys", () => {
  /** An ssh-rsa line whose body passes the pattern (the type's fixed text, whole base64 groups) but names `inner`. */
  function rsaLineNaming(inner: string): string {
    const header = Buffer.alloc(4 + inner.length);
    header.writeUInt32BE(inner.length, 0);
    header.write(inner, 4);
    const body = Buffer.concat([header, Buffer.alloc(312 - header.length, 7)]).toString("base64");
    return `ssh-rsa ${body}`;
  }

  test("a body that passes the pattern but holds another type's name is refused", () => {
    // The pattern fixes only whole 3-byte groups of the 11-byte header: "ssh-rsb" differs in the last 2 bytes.
    expect(() => checkSshPublicKey(rsaLineNaming("ssh-rsb"), "sshPublicKeys[0]")).toThrow(
      'sshPublicKeys[0]: not an OpenSSH public key (the key inside is not a ssh-rsa key); expected a whole line such as "ssh-ed25519 AAAAC3Nz… me@laptop"',
    );
    expect(() => checkSshPublicKey(rsaLineNaming("ssh-rsa"), "sshPublicKeys[0]")).not.toThrow();
  });

  test("an unknown type is named with the supported ones", () => {
    expect(() => checkSshPublicKey("ssh-dss AAAAB3NzaC1kc3M=", "key")).toThrow(
      'key: not an OpenSSH public key (type "ssh-dss" is not one of ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521)',
    );
  });

  test("a Terraform value is left to the plan-time check; a list needs one key at least", () => {
    const key = new TerraformVariable(stack, "key", { type: "string" }).stringValue;
    expect(() => checkSshPublicKey(key, "key")).not.toThrow();
    expect(() => checkSshPublicKeys([], "sshPublicKeys")).toThrow("sshPublicKeys: give at least one OpenSSH public key, or you cannot log in to the nodes");
    const keys = new TerraformVariable(stack, "keys", { type: "list(string)" }).listValue;
    expect(() => checkSshPublicKeys(keys, "sshPublicKeys")).not.toThrow();
    expect(() => checkSshPublicKeys([openSshPublicKey("ed25519"), "ssh-rsa x"], "sshPublicKeys")).toThrow(/^sshPublicKeys\[1\]: not an OpenSSH public key/);
  });

  test("sshKeyListCondition: every key of the list, trimmed, against the pattern (each type's fixed text checked with python's base64)", () => {
    const body = (groups: number) => `([A-Za-z0-9+/]{4}){${groups},}([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?`;
    expect(sshKeyListCondition("var.keys")).toBe(
      'alltrue([for k in var.keys : can(regex("^(' +
        [
          "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/]{48}",
          `ssh-rsa AAAAB3NzaC1y${body(45)}`,
          `ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAy${body(27)}`,
          `ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAz${body(38)}`,
          `ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1${body(50)}`,
        ].join("|") +
        ')( [ -~]*)?$", trimspace(k)))])',
    );
  });
});

test("planTimeChecks: a precondition for each value only Terraform knows, none for literals", () => {
  const prefix = new TerraformVariable(stack, "prefix", { type: "string" }).stringValue;
  const checks = planTimeChecks([NAME_PREFIX, "literal", "namePrefix"], [DNS_LABEL, prefix, "dnsLabel"]);
  expect(checks.map((check) => [resolve(check.condition), check.errorMessage])).toEqual([
    ['${can(regex("^[A-Za-z][A-Za-z0-9]{0,14}$", var.prefix))}', "dnsLabel: the value is not allowed; use 1 to 15 letters and digits, starting with a letter."],
  ]);
  expect(planTimeChecks([NAME_PREFIX, "a", "namePrefix"])).toEqual([]);
});
