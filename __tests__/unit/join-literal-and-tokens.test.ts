/**
 * lib/terraform-text.ts joinLiteralAndTokens: literal pieces stay a literal string (synth-time rules check literals
 * and skip Terraform values), joined with nothing between them.
 */
import { TerraformStack, TerraformVariable, Testing, Token } from "cdktf";
import { joinLiteralAndTokens } from "../../lib/terraform-text";

test("literal pieces only: one literal string, escaped for a template, nothing between the pieces", () => {
  const joined = joinLiteralAndTokens(["a", "", "${b}"]);
  expect(Token.isUnresolved(joined)).toBe(false);
  expect(joined).toBe("a$${b}");
});

test("with a Terraform value: a join() expression", () => {
  const value = new TerraformVariable(new TerraformStack(Testing.app(), "join"), "v", { type: "string" }).stringValue;
  expect(Token.isUnresolved(joinLiteralAndTokens(["a", value]))).toBe(true);
});
