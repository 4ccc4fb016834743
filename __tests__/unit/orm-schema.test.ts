/**
 * lib/orm-schema.ts on its own, on small stacks: the Terraform validations an OrmVariable gets from its form rules,
 * an OrmOutput's link check, and schema.yaml with its field types, groups and outputs. Expected values are written
 * out.
 */
import { TerraformStack, TerraformVariable, Testing } from "cdktf";
import { OrmOutput, OrmVariable, OrmVariableConfig, buildSchemaYaml } from "../../lib/orm-schema";

const newStack = () => new TerraformStack(Testing.app(), "orm");
const synth = (stack: TerraformStack) => JSON.parse(Testing.synth(stack));
/** The validation blocks Terraform gets for one variable. */
function validations(config: Partial<OrmVariableConfig> & { type?: string }): Array<{ condition: string; error_message: string }> {
  const stack = newStack();
  new OrmVariable(stack, "v", { title: "Name", group: "G", type: "string", ...config });
  return synth(stack).variable.v.validation ?? [];
}

describe("OrmVariable: the form's rules as Terraform validations", () => {
  test("a pattern, with the message given or the pattern itself", () => {
    expect(validations({ pattern: '^[a-z"\\\\]+$', patternMessage: "lowercase letters" })).toEqual([
      { condition: '${can(regex("^[a-z\\"\\\\\\\\]+$", var.v))}', error_message: "Name: lowercase letters." },
    ]);
    expect(validations({ pattern: "^a$" })).toEqual([{ condition: '${can(regex("^a$", var.v))}', error_message: "Name: must match ^a$." }]);
  });

  test("a pattern Terraform would read as a template is refused", () => {
    expect(() => validations({ pattern: "^${x}$" })).toThrow("variable v: pattern must not contain ${ or %{ (Terraform would read a template)");
    expect(() => validations({ pattern: "^%{x}$" })).toThrow("variable v: pattern must not contain ${ or %{");
    expect(validations({ pattern: "^[$%]$" })).toHaveLength(1);
  });

  test("a length limit", () => {
    expect(validations({ maxLength: 20 })).toEqual([{ condition: "${length(var.v) <= 20}", error_message: "Name: must be at most 20 characters." }]);
  });

  test("ranges: a whole number, a number with one bound, a whole number with none", () => {
    expect(validations({ type: "number", ormType: "integer", minimum: 1, maximum: 4 })).toEqual([
      { condition: "${floor(var.v) == var.v && var.v >= 1 && var.v <= 4}", error_message: "Name: must be a whole number from 1 to 4." },
    ]);
    expect(validations({ type: "number", maximum: 0.5 })).toEqual([{ condition: "${var.v <= 0.5}", error_message: "Name: must be a number to 0.5." }]);
    expect(validations({ type: "number", minimum: 0 })).toEqual([{ condition: "${var.v >= 0}", error_message: "Name: must be a number from 0." }]);
    expect(validations({ type: "number", ormType: "integer" })).toEqual([{ condition: "${floor(var.v) == var.v}", error_message: "Name: must be a whole number." }]);
    expect(validations({ type: "number" })).toEqual([]);
  });

  test("an enum, and extra checks over the variable's reference, in that order after the others", () => {
    expect(validations({ enum: ["a", "b"], maxLength: 1, checks: [{ condition: (ref) => `${ref} != "b"`, errorMessage: "not b." }] })).toEqual([
      { condition: "${length(var.v) <= 1}", error_message: "Name: must be at most 1 characters." },
      { condition: '${contains(["a","b"], var.v)}', error_message: "Name: must be one of a, b." },
      { condition: '${var.v != "b"}', error_message: "Name: not b." },
    ]);
  });

  test("a sensitive variable gets none, and may not have checks (Terraform would print its value)", () => {
    expect(validations({ sensitive: true, pattern: "^a$", maxLength: 3 })).toEqual([]);
    expect(validations({ sensitive: true, checks: [] })).toEqual([]);
    expect(() => validations({ sensitive: true, checks: [{ condition: (ref) => ref, errorMessage: "x" }] })).toThrow(
      "variable v: no checks on a sensitive variable (Terraform would print its value when one fails)",
    );
  });

  test("the form props stay out of Terraform's variable", () => {
    const stack = newStack();
    new OrmVariable(stack, "v", { title: "Name", group: "G", type: "string", default: "x", description: "d", ormType: "text", required: false, visible: true, multiline: true });
    expect(synth(stack).variable.v).toEqual({ type: "string", default: "x", description: "d" });
  });
});

describe("OrmOutput: a link needs 3 to 45 characters of text", () => {
  test.each([undefined, "", "ab", "x".repeat(46)])("%p is refused", (displayText) => {
    expect(() => new OrmOutput(newStack(), "url", { title: "URL", value: "https://x", ormType: "link", displayText })).toThrow("output url: a link needs displayText of 3..45 characters");
  });

  test.each(["abc", "x".repeat(45)])("%p is accepted; other kinds need none", (displayText) => {
    expect(() => new OrmOutput(newStack(), "url", { title: "URL", value: "https://x", ormType: "link", displayText })).not.toThrow();
    expect(() => new OrmOutput(newStack(), "id", { title: "Id", value: "x", ormType: "ocid" })).not.toThrow();
  });
});

describe("buildSchemaYaml", () => {
  // Longer than yaml's default line width (80): it stays on one line.
  const LONG = "The last letter of the alphabet, which this field takes and nothing else, whatever the form says.";

  test("fields in declaration order, groups in order of their first field, hidden ones last; outputs; the main button", () => {
    const stack = newStack();
    new TerraformVariable(stack, "compartment_ocid", { type: "string" });
    new OrmVariable(stack, "zeta", { title: "Zeta", group: "Second", type: "string", default: "z", description: LONG, pattern: "^z$", maxLength: 1 });
    // Declared in the tree, absent from the JSON given: no field.
    new OrmVariable(stack, "gone", { title: "Gone", group: "Third", type: "string" });
    new OrmVariable(stack, "alpha", { title: "Alpha", group: "First", type: "number", ormType: "integer", minimum: 1, maximum: 3, default: 2, required: true });
    new OrmVariable(stack, "beta", { title: "Beta", group: "Second", type: "bool", default: false });
    new OrmVariable(stack, "key", { title: "Key", group: "First", type: "string", sensitive: true });
    new OrmVariable(stack, "ad", { title: "AD", group: "First", type: "string", ormType: "oci:identity:availabilitydomain:name", dependsOnCompartmentVariable: "compartment_ocid", visible: false });
    new OrmVariable(stack, "mode", { title: "Mode", group: "Second", type: "string", ormType: "enum", enum: ["a", "b"], multiline: false });
    new OrmOutput(stack, "url", { title: "Dashboard", value: "https://x", ormType: "link", displayText: "Open it" });
    new OrmOutput(stack, "secret", { title: "Secret", value: "s", sensitive: true });
    const json = synth(stack);
    // A null default (Terraform's optional variable; cdktf writes none, a hand-made stack may): not required, no default shown.
    json.variable.mode.default = null;
    delete json.variable.gone;
    const yaml = buildSchemaYaml(stack, json, { title: "T", description: "D", primaryOutputButton: "${url}" });
    expect(yaml).toBe(
      [
        "title: T",
        "description: D",
        "schemaVersion: 1.1.0",
        'version: "20190304"',
        "locale: en",
        "variableGroups:",
        "  - title: Second",
        "    variables:",
        "      - ${zeta}",
        "      - ${beta}",
        "      - ${mode}",
        "  - title: First",
        "    variables:",
        "      - ${alpha}",
        "      - ${key}",
        "  - title: Hidden",
        "    variables:",
        "      - ${ad}",
        "      - ${compartment_ocid}",
        "    visible: false",
        "variables:",
        "  zeta:",
        "    type: string",
        "    title: Zeta",
        `    description: ${LONG}`,
        "    default: z",
        "    required: false",
        "    pattern: ^z$",
        "    maxLength: 1",
        "  alpha:",
        "    type: integer",
        "    title: Alpha",
        "    default: 2",
        "    required: true",
        "    minimum: 1",
        "    maximum: 3",
        "  beta:",
        "    type: boolean",
        "    title: Beta",
        "    default: false",
        "    required: false",
        "  key:",
        "    type: password",
        "    title: Key",
        "    required: true",
        "    sensitive: true",
        "  ad:",
        "    type: oci:identity:availabilitydomain:name",
        "    title: AD",
        "    required: true",
        "    visible: false",
        "    dependsOn:",
        "      compartmentId: ${compartment_ocid}",
        "  mode:",
        "    type: enum",
        "    title: Mode",
        "    required: false",
        "    enum:",
        "      - a",
        "      - b",
        "    multiline: false",
        "  compartment_ocid:",
        "    type: string",
        "    visible: false",
        "outputs:",
        "  url:",
        "    type: link",
        "    title: Dashboard",
        "    displayText: Open it",
        "    visible: true",
        "  secret:",
        "    type: string",
        "    title: Secret",
        "    sensitive: true",
        "    visible: true",
        "primaryOutputButton: ${url}",
        "",
      ].join("\n"),
    );
  });

  test("no variables, no outputs, no main button", () => {
    const stack = newStack();
    expect(buildSchemaYaml(stack, synth(stack), { title: "T", description: "D" })).toBe(
      ["title: T", "description: D", "schemaVersion: 1.1.0", 'version: "20190304"', "locale: en", "variableGroups: []", "variables: {}", "outputs: {}", ""].join("\n"),
    );
  });

  test("a variable without a form field is refused, unless ORM fills it in", () => {
    const stack = newStack();
    new TerraformVariable(stack, "region", { type: "string" });
    new TerraformVariable(stack, "tenancy_ocid", { type: "string" });
    new TerraformVariable(stack, "current_user_ocid", { type: "string" });
    expect(() => buildSchemaYaml(stack, synth(stack), { title: "T", description: "D" })).not.toThrow();
    new TerraformVariable(stack, "name", { type: "string" });
    expect(() => buildSchemaYaml(stack, synth(stack), { title: "T", description: "D" })).toThrow(
      "variable name: declare it as an OrmVariable so the Create Stack form has a field for it",
    );
  });

  test("field types: what each Terraform type allows", () => {
    const typeOf = (type: string | undefined, config: Partial<OrmVariableConfig> = {}) => {
      const stack = newStack();
      new OrmVariable(stack, "v", { title: "V", group: "G", type, ...config });
      return /\n {2}v:\n {4}type: (\S+)\n/.exec(buildSchemaYaml(stack, synth(stack), { title: "T", description: "D" }))![1];
    };
    expect(typeOf("string")).toBe("string");
    expect(typeOf(undefined)).toBe("string");
    expect(typeOf("string", { sensitive: true })).toBe("password");
    expect(typeOf("string", { ormType: "text" })).toBe("text");
    expect(typeOf("string", { ormType: "oci:core:vcn:id" })).toBe("oci:core:vcn:id");
    expect(typeOf("number")).toBe("number");
    expect(typeOf("number", { ormType: "integer" })).toBe("integer");
    expect(typeOf("bool")).toBe("boolean");
    expect(() => typeOf("string", { ormType: "integer" })).toThrow("variable v: form type integer does not match Terraform type string");
    expect(() => typeOf("string", { ormType: "boolean" })).toThrow("variable v: form type boolean does not match Terraform type string");
    expect(() => typeOf("number", { ormType: "string" })).toThrow("variable v: form type string does not match Terraform type number");
    expect(() => typeOf("bool", { ormType: "string" })).toThrow("variable v: form type string does not match Terraform type bool");
    expect(() => typeOf("list(string)")).toThrow(
      "variable v: Terraform type list(string) has no field in ORM's schema.yaml; use string, number or bool (a list can travel as a comma-separated string)",
    );
    expect(() => typeOf("map( number )")).toThrow("variable v: Terraform type map(number) has no field");
  });
});
