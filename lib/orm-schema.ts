/**
 * Variables and outputs that carry what OCI Resource Manager's Create Stack form needs (titles, groups, OCI
 * picker types), and the schema.yaml built from them and from the synthesized stack.
 */
import { TerraformOutput, TerraformOutputConfig, TerraformStack, TerraformVariable, TerraformVariableConfig } from "cdktf";
import { Construct } from "constructs";
import { stringify } from "yaml";

/** ORM's own pickers and field kinds (research/oci.md); plain Terraform types map to string/number/boolean. */
export type OrmVariableType =
  | "string"
  | "password"
  | "integer"
  | "number"
  | "boolean"
  | "enum"
  | "text"
  | "oci:identity:compartment:id"
  | "oci:identity:region:name"
  | "oci:identity:availabilitydomain:name"
  | "oci:core:image:id"
  | "oci:core:instanceshape:name"
  | "oci:core:ssh:publickey"
  | "oci:core:vcn:id"
  | "oci:core:subnet:id";

export interface OrmVariableConfig extends TerraformVariableConfig {
  /** The form label. */
  readonly title: string;
  /** The form section this field appears in; sections appear in the order their first field is declared. */
  readonly group: string;
  /**
   * The form field type.
   * @default - from the Terraform type: string, number, boolean; `password` when sensitive
   */
  readonly ormType?: OrmVariableType;
  /** @default - required when the variable has no default */
  readonly required?: boolean;
  /** @default - shown; false hides it (auto-filled values such as tenancy_ocid) */
  readonly visible?: boolean;
  /** A regular expression the value must match, in the form and in Terraform (RE2 and JavaScript alike). */
  readonly pattern?: string;
  /** What `pattern` requires, in words, for Terraform's error message. @default - "must match <pattern>" */
  readonly patternMessage?: string;
  /** The most characters the value may have, in the form and in Terraform. @default - no limit */
  readonly maxLength?: number;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly enum?: string[];
  /** For `text`: a multi-line box. */
  readonly multiline?: boolean;
  /** For pickers that need a compartment (availability domains, images): the variable naming it. */
  readonly dependsOnCompartmentVariable?: string;
  /**
   * More plan-time checks, as Terraform bools over the variable's reference (`var.<id>`): the rules of lib/rules.ts
   * that a pattern cannot express (CIDR host bits, SSH key bodies). Not allowed on a sensitive variable: Terraform
   * prints the value of a variable whose validation fails.
   * @default - none
   */
  readonly checks?: ReadonlyArray<VariableCheck>;
}

/** A Terraform `validation` block for an OrmVariable, written against the variable's reference. */
export interface VariableCheck {
  readonly condition: (ref: string) => string;
  /** Said after the form's title. */
  readonly errorMessage: string;
}

/** A Terraform variable with its Create Stack form field. */
export class OrmVariable extends TerraformVariable {
  public readonly form: OrmVariableConfig;

  constructor(scope: Construct, id: string, config: OrmVariableConfig) {
    const { title, group, ormType, required, visible, pattern, patternMessage, maxLength, minimum, maximum, multiline, dependsOnCompartmentVariable, checks, ...terraform } = config;
    super(scope, id, terraform);
    this.form = config;
    for (const validation of formValidations(id, config)) this.addValidation(validation);
  }
}

/**
 * The form's rules as Terraform `validation` blocks, so `-var` and `TF_VAR_` users get the same checks as the
 * form. Each condition refers to this variable only (Terraform 1.5 allows no other). Sensitive variables get none.
 */
function formValidations(id: string, config: OrmVariableConfig): Array<{ condition: string; errorMessage: string }> {
  const self = `var.${id}`;
  const title = config.title;
  const rules: Array<{ condition: string; errorMessage: string }> = [];
  // Terraform (1.11 measured) prints the failing value of a validated variable, sensitive or not: secrets keep
  // the form's check only, plus whatever plan-time checks their users make without repeating the value.
  if (config.sensitive) {
    if (config.checks?.length) throw new Error(`variable ${id}: no checks on a sensitive variable (Terraform would print its value when one fails)`);
    return rules;
  }
  if (config.pattern !== undefined) {
    if (/[$%]\{/.test(config.pattern)) throw new Error(`variable ${id}: pattern must not contain \${ or %{ (Terraform would read a template)`);
    // JSON string escapes are HCL's for backslashes and quotes.
    rules.push({ condition: `\${can(regex(${JSON.stringify(config.pattern)}, ${self}))}`, errorMessage: `${title}: ${config.patternMessage ?? `must match ${config.pattern}`}.` });
  }
  if (config.maxLength !== undefined) {
    rules.push({ condition: `\${length(${self}) <= ${config.maxLength}}`, errorMessage: `${title}: must be at most ${config.maxLength} characters.` });
  }
  const integer = config.ormType === "integer";
  if (config.minimum !== undefined || config.maximum !== undefined || integer) {
    const checks = [
      ...(integer ? [`floor(${self}) == ${self}`] : []),
      ...(config.minimum !== undefined ? [`${self} >= ${config.minimum}`] : []),
      ...(config.maximum !== undefined ? [`${self} <= ${config.maximum}`] : []),
    ];
    const range = [config.minimum !== undefined ? `from ${config.minimum}` : "", config.maximum !== undefined ? `to ${config.maximum}` : ""].filter(Boolean).join(" ");
    rules.push({ condition: `\${${checks.join(" && ")}}`, errorMessage: `${title}: must be a ${integer ? "whole number" : "number"}${range ? ` ${range}` : ""}.` });
  }
  if (config.enum !== undefined) {
    rules.push({ condition: `\${contains(${JSON.stringify(config.enum)}, ${self})}`, errorMessage: `${title}: must be one of ${config.enum.join(", ")}.` });
  }
  for (const check of config.checks ?? []) rules.push({ condition: `\${${check.condition(self)}}`, errorMessage: `${title}: ${check.errorMessage}` });
  return rules;
}

export type OrmOutputType = "string" | "copyableString" | "link" | "ocid" | "map" | "json" | "list" | "csv" | "boolean" | "number";

export interface OrmOutputConfig extends TerraformOutputConfig {
  readonly title: string;
  /** @default - "string" ("link" needs displayText) */
  readonly ormType?: OrmOutputType;
  /** For links: the text shown, 3..45 characters. */
  readonly displayText?: string;
  /** The form's output section. */
  readonly group?: string;
}

/** A Terraform output with how ORM's job page shows it. */
export class OrmOutput extends TerraformOutput {
  public readonly form: OrmOutputConfig;

  constructor(scope: Construct, id: string, config: OrmOutputConfig) {
    const { title, ormType, displayText, group, ...terraform } = config;
    super(scope, id, terraform);
    if (ormType === "link" && !(displayText && displayText.length >= 3 && displayText.length <= 45)) {
      throw new Error(`output ${id}: a link needs displayText of 3..45 characters`);
    }
    this.form = config;
  }
}

export interface SchemaYamlOptions {
  readonly title: string;
  readonly description: string;
  /** Output shown as the job page's main button (usually the dashboard link). */
  readonly primaryOutputButton?: string;
}

/** Variables ORM fills in itself when a stack declares them; they stay hidden. */
export const ORM_AUTOFILLED = ["tenancy_ocid", "compartment_ocid", "region", "current_user_ocid"];

/**
 * schema.yaml for a synthesized stack. Every variable in the JSON must be an OrmVariable (so it has a form field)
 * or an auto-filled one; a Terraform type the form cannot express is an error naming the variable.
 */
export function buildSchemaYaml(stack: TerraformStack, synthesized: any, options: SchemaYamlOptions): string {
  const forms = new Map<string, OrmVariableConfig>();
  for (const construct of stack.node.findAll()) {
    if (construct instanceof OrmVariable) forms.set(construct.friendlyUniqueId, construct.form);
  }
  const variables: Record<string, unknown> = {};
  const groups = new Map<string, string[]>();
  const declaredVariables = synthesized.variable ?? {};
  // Fields in the order the stack declares them (the JSON's order is alphabetical).
  const names = [...[...forms.keys()].filter((name) => name in declaredVariables), ...Object.keys(declaredVariables).filter((name) => !forms.has(name))];
  for (const name of names) {
    const declared = declaredVariables[name];
    const form = forms.get(name);
    if (!form && !ORM_AUTOFILLED.includes(name)) {
      throw new Error(`variable ${name}: declare it as an OrmVariable so the Create Stack form has a field for it`);
    }
    variables[name] = variableField(name, declared, form);
    const group = form && form.visible !== false ? form.group : "Hidden";
    groups.set(group, [...(groups.get(group) ?? []), name]);
  }
  const outputs: Record<string, unknown> = {};
  for (const construct of stack.node.findAll()) {
    if (!(construct instanceof OrmOutput)) continue;
    const { title, ormType, displayText, sensitive } = construct.form;
    outputs[construct.friendlyUniqueId] = {
      type: ormType ?? "string",
      title,
      ...(displayText ? { displayText } : {}),
      ...(sensitive ? { sensitive: true } : {}),
      visible: true,
    };
  }
  const document = {
    title: options.title,
    description: options.description,
    schemaVersion: "1.1.0",
    version: "20190304",
    locale: "en",
    variableGroups: [...groups.entries()].map(([title, names]) => ({
      title,
      // Oracle's meta schema: group entries are variable references, ${name}.
      variables: names.map((name) => `\${${name}}`),
      ...(title === "Hidden" ? { visible: false } : {}),
    })),
    variables,
    outputs,
    ...(options.primaryOutputButton ? { primaryOutputButton: options.primaryOutputButton } : {}),
  };
  return stringify(document, { lineWidth: 0 });
}

function variableField(name: string, declared: any, form: OrmVariableConfig | undefined): Record<string, unknown> {
  const terraformType = String(declared.type ?? "string").replace(/\s/g, "");
  const field: Record<string, unknown> = { type: formType(name, terraformType, declared.sensitive, form?.ormType) };
  if (!form) return { ...field, visible: false };
  const pairs: Array<[string, unknown]> = [
    ["title", form.title],
    ["description", form.description],
    ["default", declared.default === null ? undefined : declared.default],
    ["required", form.required ?? declared.default === undefined],
    ["visible", form.visible],
    ["pattern", form.pattern],
    ["maxLength", form.maxLength],
    ["minimum", form.minimum],
    ["maximum", form.maximum],
    ["enum", form.enum],
    ["multiline", form.multiline],
    ["sensitive", declared.sensitive || undefined],
  ];
  for (const [key, value] of pairs) if (value !== undefined) field[key] = value;
  if (form.dependsOnCompartmentVariable) field.dependsOn = { compartmentId: `\${${form.dependsOnCompartmentVariable}}` };
  return field;
}

function formType(name: string, terraformType: string, sensitive: boolean | undefined, ormType?: OrmVariableType): string {
  const numeric = ["integer", "number"];
  const stringLike = ["string", "password", "enum", "text"];
  const expected =
    terraformType === "string" ? "string" : terraformType === "number" ? "number" : terraformType === "bool" ? "bool" : undefined;
  if (!expected) {
    throw new Error(
      `variable ${name}: Terraform type ${terraformType} has no field in ORM's schema.yaml; use string, number or bool ` +
        "(a list can travel as a comma-separated string)",
    );
  }
  const chosen = ormType ?? (expected === "number" ? "number" : expected === "bool" ? "boolean" : sensitive ? "password" : "string");
  const fits =
    expected === "number" ? numeric.includes(chosen) : expected === "bool" ? chosen === "boolean" : stringLike.includes(chosen) || chosen.startsWith("oci:");
  if (!fits) throw new Error(`variable ${name}: form type ${chosen} does not match Terraform type ${terraformType}`);
  return chosen;
}
