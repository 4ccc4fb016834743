import { TerraformOutput, TerraformStack, TerraformVariable, Testing } from "cdktf";
import { Password } from "@cdktf/provider-random/lib/password";
import { MIN_SECRET_LENGTH, StrongSecret, StrongSecretProps } from "../../lib/secret";
import { validateStack } from "../../scripts/lib/validate";

function synthSecret(props?: StrongSecretProps) {
  const stack = new TerraformStack(Testing.app(), "test");
  const secret = new StrongSecret(stack, "Secret", props);
  new TerraformOutput(stack, "secret", { value: secret.value, sensitive: true });
  const synthesized = Testing.synth(stack);
  return { stack, secret, synthesized, json: JSON.parse(synthesized) };
}

describe("StrongSecret", () => {
  test("the minimum is 32 characters, as the seed requires for SECRET_KEY and JWT_SECRET_KEY", () => {
    expect(MIN_SECRET_LENGTH).toBe(32);
  });

  test("generates a 64-character random_password of letters and digits, read as a reference (sensitive in Terraform)", () => {
    const { json, synthesized } = synthSecret();
    expect(synthesized).toHaveResourceWithProperties(Password, { length: 64, special: false, min_lower: 1, min_upper: 1, min_numeric: 1 });
    const [name] = Object.keys(json.resource.random_password);
    expect(json.output.secret.value).toBe(`\${random_password.${name}.result}`);
    expect(json.provider.random).toBeDefined();
  });

  test("a generated secret is never shorter than the minimum", () => {
    const { json } = synthSecret({ length: 32 });
    expect(Object.values<any>(json.resource.random_password)[0].length).toBeGreaterThanOrEqual(MIN_SECRET_LENGTH);
    expect(() => synthSecret({ length: 31 })).toThrow(/length: 31 is shorter than the minimum of 32 characters/);
    expect(() => synthSecret({ length: 40, minLength: 48 })).toThrow(/length: 40 is shorter than the minimum of 48 characters/);
  });

  test("a supplied secret shorter than the minimum is a synth-time error naming the prop, without echoing it", () => {
    const short = "s3cr3t-but-only-29-characters";
    const attempt = () => synthSecret({ value: short, propName: "jwtSecretKey" });
    expect(attempt).toThrow(/^jwtSecretKey: the secret must be at least 32 characters \(got 29\)$/);
    expect(attempt).not.toThrow(new RegExp(short));
    expect(() => synthSecret({ value: "x".repeat(20) })).toThrow(/^value: /);
    expect(() => synthSecret({ value: "x".repeat(12), minLength: 8 })).not.toThrow();
  });

  test("a supplied secret of the minimum length is used as given, with no random_password", () => {
    const value = "A".repeat(MIN_SECRET_LENGTH);
    const { secret, json } = synthSecret({ value });
    expect(secret.value).toBe(value);
    expect(json.resource?.random_password).toBeUndefined();
  });

  test("a supplied Terraform value (unknown at synth) is accepted and stays a reference", () => {
    const stack = new TerraformStack(Testing.app(), "test");
    const variable = new TerraformVariable(stack, "jwt_secret_key", { type: "string", sensitive: true });
    const secret = new StrongSecret(stack, "Secret", { value: variable.stringValue, propName: "jwtSecretKey" });
    new TerraformOutput(stack, "secret", { value: secret.value, sensitive: true });
    const json = JSON.parse(Testing.synth(stack));
    expect(json.output.secret.value).toBe("${var.jwt_secret_key}");
    expect(json.resource?.random_password).toBeUndefined();
  });

  test("several secrets share one random provider, and the stack validates clean", async () => {
    const stack = new TerraformStack(Testing.app(), "test");
    new StrongSecret(stack, "SecretKey");
    new StrongSecret(stack, "JwtSecretKey", { length: 96 });
    const json = JSON.parse(Testing.synth(stack));
    expect(Object.values<any>(json.resource.random_password).map((password) => password.length).sort()).toEqual([64, 96]);
    expect(Object.keys(json.provider.random)).toHaveLength(1);
    expect(await validateStack(json)).toEqual([]);
  });
});
