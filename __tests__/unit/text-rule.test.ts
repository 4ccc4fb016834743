/**
 * lib/rules.ts's TextRule on its own: the same rule at synth time, as a plan-time precondition for a value only
 * Terraform knows, and as a variable's validation condition, with and without a length limit. Expected values are
 * written out.
 */
import { DefaultTokenResolver, StringConcat, TerraformStack, TerraformVariable, Testing, Tokenization } from "cdktf";
import { TextRule } from "../../lib/rules";

const stack = new TerraformStack(Testing.app(), "text-rule");
const resolve = (value: unknown) => Tokenization.resolve(value, { scope: stack, preparing: false, resolver: new DefaultTokenResolver(new StringConcat()) });
const name = new TerraformVariable(stack, "name", { type: "string" }).stringValue;

const LETTERS = new TextRule("^[a-z]+$", "lowercase letters");
const SHORT = new TextRule("^[a-z]+$", "1 to 5 lowercase letters", 5);

test("test: the pattern, the length limit, and only strings", () => {
  expect(LETTERS.test("abcdefgh")).toBe(true);
  expect(LETTERS.test("abc1")).toBe(false);
  expect(SHORT.test("abcde")).toBe(true);
  expect(SHORT.test("abcdef")).toBe(false);
  // A RegExp would read the array as the text "abc".
  expect(LETTERS.test(["abc"] as unknown as string)).toBe(false);
});

test("check: the prop, the value and what is allowed; a Terraform value passes", () => {
  expect(() => SHORT.check("abcdef", "namePrefix")).toThrow('namePrefix: "abcdef" is not allowed; use 1 to 5 lowercase letters');
  expect(() => SHORT.check("abc", "namePrefix")).not.toThrow();
  expect(() => SHORT.check(name, "namePrefix")).not.toThrow();
});

test("planTimeCheck: nothing for a literal (checked now); for a Terraform value the rule as a precondition", () => {
  expect(LETTERS.planTimeCheck("abc", "namePrefix")).toBeUndefined();
  expect(LETTERS.planTimeCheck("ABC", "namePrefix")).toBeUndefined();
  const plain = LETTERS.planTimeCheck(name, "namePrefix")!;
  expect(resolve(plain.condition)).toBe('${can(regex("^[a-z]+$", var.name))}');
  expect(plain.errorMessage).toBe("namePrefix: the value is not allowed; use lowercase letters.");
  const limited = SHORT.planTimeCheck(name, "namePrefix")!;
  expect(resolve(limited.condition)).toBe('${(can(regex("^[a-z]+$", var.name)) && (length(var.name) <= 5))}');
  expect(limited.errorMessage).toBe("namePrefix: the value is not allowed; use 1 to 5 lowercase letters.");
});

test("terraformCondition: the rule over a variable's expression, the length limit appended", () => {
  expect(LETTERS.terraformCondition("var.name_prefix")).toBe('can(regex("^[a-z]+$", var.name_prefix))');
  expect(SHORT.terraformCondition("var.name_prefix")).toBe('can(regex("^[a-z]+$", var.name_prefix)) && length(var.name_prefix) <= 5');
});
