/**
 * lib/tailscale.ts: which message a literal key gets, the OAuth precondition when the tags are a Terraform value,
 * and a Terraform list of tags accepted only where the caller allows one.
 */
import { DefaultTokenResolver, StringConcat, TerraformStack, TerraformVariable, Testing, Tokenization } from "cdktf";
import { authKeyPreconditions, validateAuthKey, validateTags } from "../../lib/tailscale";

const stack = new TerraformStack(Testing.app(), "tailscale");
const resolve = (value: unknown) => Tokenization.resolve(value, { scope: stack, preparing: false, resolver: new DefaultTokenResolver(new StringConcat()) });

test("a literal key is refused for being literal; only an OAuth secret without tags is refused for the tags", () => {
  expect(() => validateAuthKey("tskey-auth-abc", [], "authKey", "tags")).toThrow(/^authKey: a literal auth key would be written in plain text/);
  expect(() => validateAuthKey("tskey-client-abc", ["tag:x"], "authKey", "tags")).toThrow(/^authKey: a literal auth key would be written in plain text/);
  expect(() => validateAuthKey("tskey-client-abc", [], "authKey", "tags")).toThrow(/^authKey: an OAuth client secret .* give tags/);
});

test("tags given as a Terraform bool: the OAuth check passes when there are tags or the key is no OAuth secret", () => {
  const key = new TerraformVariable(stack, "key", { type: "string", sensitive: true }).stringValue;
  const hasTags = new TerraformVariable(stack, "has_tags", { type: "bool" }).booleanValue;
  const [, oauth] = authKeyPreconditions(key, hasTags, "authKey", "tags");
  expect(resolve(oauth.condition)).toBe('${(var.has_tags || !can(regex("^tskey-client-", var.key)))}');
  const [, withoutTags] = authKeyPreconditions(key, false, "authKey", "tags");
  expect(resolve(withoutTags.condition)).toBe('${!can(regex("^tskey-client-", var.key))}');
});

test("a whole Terraform list of tags is refused unless the caller takes one", () => {
  const tags = new TerraformVariable(stack, "tags", { type: "list(string)" }).listValue;
  expect(() => validateTags(tags, "tags")).toThrow("tags: give the list itself in code (its items may be Terraform values)");
  expect(() => validateTags(tags, "tags", true)).not.toThrow();
});
