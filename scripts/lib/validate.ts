/**
 * Checks synthesized Terraform JSON the way `terraform validate` would, without provider downloads:
 * resources and data sources against their provider schema, and every string as a Terraform template whose
 * references must resolve to something the stack declares.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { packageRoot } from "../../lib/templates";

/** The parts of `terraform providers schema -json` the checks read. */
export interface SchemaAttribute {
  readonly type?: unknown;
  readonly nested_type?: unknown;
  readonly required?: boolean;
  readonly optional?: boolean;
  readonly computed?: boolean;
}

export interface SchemaBlock {
  readonly attributes?: Record<string, SchemaAttribute>;
  readonly block_types?: Record<string, SchemaBlockType>;
}

export interface SchemaBlockType {
  readonly nesting_mode: "single" | "list" | "set" | "map" | "group";
  readonly block: SchemaBlock;
  readonly min_items?: number;
  readonly max_items?: number;
}

export interface ProviderSchemaDocument {
  readonly provider_schemas: Record<
    string,
    {
      readonly provider: { readonly block: SchemaBlock };
      readonly resource_schemas?: Record<string, { readonly block: SchemaBlock }>;
      readonly data_source_schemas?: Record<string, { readonly block: SchemaBlock }>;
    }
  >;
}

export interface ValidationOptions {
  /** Schemas to check blocks against; a resource type found in none of them is only reference-checked. */
  readonly schemas: ProviderSchemaDocument[];
}

const META_ARGUMENTS = new Set([
  "count", "for_each", "depends_on", "lifecycle", "provider", "provisioner", "connection", "//",
]);
const BUILTIN_ROOTS = new Set(["count", "each", "self", "path", "terraform"]);

/** Where the caller names more schema files to check against (path-delimited), e.g. a newer provider release's. */
export const EXTRA_SCHEMAS_ENV = "DOKPLOY_OCI_EXTRA_SCHEMAS";

/**
 * The in-package OCI schema, plus every file in `extraFiles` (by default those the caller listed in
 * DOKPLOY_OCI_EXTRA_SCHEMAS; the tests and `npm run package` list the newest release's schema there).
 */
export function defaultSchemas(extraFiles: ReadonlyArray<string> = (process.env[EXTRA_SCHEMAS_ENV] ?? "").split(path.delimiter).filter(Boolean)): ProviderSchemaDocument[] {
  const inPackage = path.join(packageRoot(), "lib", "schemas", "oracle-oci.json");
  for (const file of extraFiles) if (!fs.existsSync(file)) throw new Error(`${EXTRA_SCHEMAS_ENV}: ${file} does not exist`);
  return [inPackage, ...extraFiles].map((file) => JSON.parse(fs.readFileSync(file, "utf8")));
}

/** Returns every problem found, each prefixed with the JSON path of the offending value; empty when clean. */
export async function validateStack(stack: any, options: ValidationOptions = { schemas: defaultSchemas() }): Promise<string[]> {
  const problems: string[] = [];
  for (const schema of options.schemas) problems.push(...checkAgainstSchema(stack, schema));
  problems.push(...(await checkReferences(stack)));
  return [...new Set(problems)];
}

function checkAgainstSchema(stack: any, document: ProviderSchemaDocument): string[] {
  const problems: string[] = [];
  const providers = Object.entries(document.provider_schemas);
  const lookup = (kind: "resource_schemas" | "data_source_schemas", type: string) =>
    providers.map(([, provider]) => provider[kind]?.[type]).find((schema) => schema !== undefined);

  for (const [kind, section, label] of [
    ["resource_schemas", "resource", "resource"],
    ["data_source_schemas", "data", "data"],
  ] as const) {
    for (const [type, instances] of Object.entries<any>(stack[section] ?? {})) {
      const schema = lookup(kind, type);
      if (!schema) continue;
      for (const [name, body] of Object.entries<any>(instances)) {
        checkBlock(body, schema.block, `${label}.${type}.${name}`, problems, true);
      }
    }
  }
  for (const [address, provider] of providers) {
    const localName = address.split("/").pop()!;
    const configs = stack.provider?.[localName];
    for (const [index, config] of (Array.isArray(configs) ? configs : configs ? [configs] : []).entries()) {
      checkBlock(config, provider.provider.block, `provider.${localName}[${index}]`, problems, false, new Set(["alias"]));
    }
  }
  return problems;
}

function checkBlock(
  body: any,
  block: SchemaBlock,
  where: string,
  problems: string[],
  allowMetaArguments: boolean,
  extraAllowed: Set<string> = new Set(),
): void {
  if (typeof body === "string" && isTemplate(body)) return;
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    problems.push(`${where}: expected a block (object), got ${describe(body)}`);
    return;
  }
  const attributes = block.attributes ?? {};
  const blockTypes = block.block_types ?? {};
  for (const [key, value] of Object.entries<any>(body)) {
    const at = `${where}.${key}`;
    if ((allowMetaArguments && META_ARGUMENTS.has(key)) || extraAllowed.has(key)) continue;
    const attribute = attributes[key];
    if (attribute) {
      if (attribute.computed && !attribute.optional && !attribute.required) {
        problems.push(`${at}: "${key}" is computed by the provider and cannot be set`);
      } else if (attribute.type !== undefined) {
        checkValueType(value, attribute.type, at, problems);
      }
      continue;
    }
    const nested = blockTypes[key];
    if (nested) {
      checkNestedBlock(value, nested, at, problems);
      continue;
    }
    problems.push(`${at}: unknown attribute or block "${key}"`);
  }
  const counted = allowMetaArguments && ("count" in body || "for_each" in body);
  for (const [key, attribute] of Object.entries(attributes)) {
    if (attribute.required && !(key in body) && !counted) problems.push(`${where}: missing required attribute "${key}"`);
  }
  for (const [key, nested] of Object.entries(blockTypes)) {
    if ((nested.min_items ?? 0) > 0 && !(key in body)) {
      problems.push(`${where}: missing required block "${key}" (at least ${nested.min_items})`);
    }
  }
}

function checkNestedBlock(value: any, nested: SchemaBlockType, where: string, problems: string[]): void {
  if (typeof value === "string" && isTemplate(value)) return;
  if (nested.nesting_mode === "single" || nested.nesting_mode === "group") {
    const single = Array.isArray(value) && value.length === 1 ? value[0] : value;
    checkBlock(single, nested.block, where, problems, false);
    return;
  }
  if (nested.nesting_mode === "map") {
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      problems.push(`${where}: expected a map of blocks, got ${describe(value)}`);
      return;
    }
    for (const [key, item] of Object.entries(value)) checkBlock(item, nested.block, `${where}.${key}`, problems, false);
    return;
  }
  // list and set blocks: Terraform JSON takes one object or an array of them.
  const items = Array.isArray(value) ? value : [value];
  if (nested.max_items !== undefined && nested.max_items > 0 && items.length > nested.max_items) {
    problems.push(`${where}: at most ${nested.max_items} "${where.split(".").pop()}" block(s) allowed, got ${items.length}`);
  }
  if (nested.min_items !== undefined && items.length < nested.min_items) {
    problems.push(`${where}: at least ${nested.min_items} block(s) required, got ${items.length}`);
  }
  items.forEach((item, index) => checkBlock(item, nested.block, `${where}[${index}]`, problems, false));
}

/** Literal values must convert to the attribute's type the way Terraform converts them; templates are unknown. */
function checkValueType(value: any, type: any, where: string, problems: string[]): void {
  if (value === null || (typeof value === "string" && isTemplate(value))) return;
  const fail = (expected: string): void => {
    problems.push(`${where}: expected ${expected}, got ${describe(value)}`);
  };
  if (type === "dynamic") return;
  if (type === "string") {
    if (typeof value === "object") fail("a string");
    return;
  }
  if (type === "number") {
    if (!(typeof value === "number" || (typeof value === "string" && value.trim() !== "" && !isNaN(Number(value))))) {
      fail("a number");
    }
    return;
  }
  if (type === "bool") {
    if (!(typeof value === "boolean" || value === "true" || value === "false")) fail("a bool");
    return;
  }
  if (!Array.isArray(type)) return;
  const [kind, inner] = type;
  if (kind === "list" || kind === "set") {
    if (!Array.isArray(value)) return fail(`a ${kind}`);
    value.forEach((item, index) => checkValueType(item, inner, `${where}[${index}]`, problems));
  } else if (kind === "map") {
    if (typeof value !== "object" || Array.isArray(value)) return fail("a map");
    for (const [key, item] of Object.entries(value)) checkValueType(item, inner, `${where}.${key}`, problems);
  } else if (kind === "object") {
    if (typeof value !== "object" || Array.isArray(value)) return fail("an object");
    for (const [key, item] of Object.entries(value)) {
      if (!(key in inner)) problems.push(`${where}: unknown object key "${key}"`);
      else checkValueType(item, inner[key], `${where}.${key}`, problems);
    }
  }
}

function isTemplate(text: string): boolean {
  return text.includes("${") || text.includes("%{");
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return "a list";
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  return `${typeof value} ${JSON.stringify(value).slice(0, 40)}`;
}

async function checkReferences(stack: any): Promise<string[]> {
  const declared = declaredNames(stack);
  const problems: string[] = [];
  const strings: Array<[string, string]> = [];
  collectStrings(stack, "", strings);
  const cache = referenceCache();
  for (const [where, text] of strings) {
    if (!isTemplate(text)) continue;
    let found = cache.get(text);
    if (!found) {
      try {
        found = references(await (await hcl2json()).getExpressionAst("main.tf.json", toHeredoc(text)), new Set());
      } catch (error) {
        problems.push(`${where}: not a valid Terraform template: ${(error as Error).message.split(";")[0]}`);
        continue;
      }
      cache.set(text, found);
    }
    for (const reference of found) {
      if (!resolves(reference, declared)) {
        problems.push(`${where}: "\${${reference.join(".")}}" refers to nothing the stack declares (escape a literal \${ as $\${)`);
      }
    }
  }
  cache.save();
  return problems;
}

/** Loaded on first use: the parser is a Go WebAssembly module that takes about a second to start. */
const hcl2json = () => import("@cdktf/hcl2json");

/**
 * The references of each template text parsed before, kept in dist/ by the sha256 of the parser's version and the
 * text: a stack whose strings did not change validates without starting the parser. Only parses that succeeded
 * are kept, so every invalid template is reported on every run.
 */
function referenceCache() {
  const file = path.join(packageRoot(), "dist", ".transpiled", "template-references.json");
  const version = JSON.parse(fs.readFileSync(require.resolve("@cdktf/hcl2json/package.json"), "utf8")).version;
  const key = (text: string) => createHash("sha256").update(`${version}\0${text}`).digest("hex");
  let entries: Record<string, string[][]> = {};
  try {
    entries = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    // none yet, or unreadable: parse everything
  }
  let changed = false;
  return {
    get: (text: string): string[][] | undefined => entries[key(text)],
    set: (text: string, found: string[][]) => {
      entries[key(text)] = found;
      changed = true;
    },
    save: () => {
      if (!changed) return;
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const partial = `${file}.${process.pid}`;
      fs.writeFileSync(partial, JSON.stringify(entries));
      fs.renameSync(partial, file);
    },
  };
}

interface DeclaredNames {
  readonly variables: Set<string>;
  readonly locals: Set<string>;
  readonly modules: Set<string>;
  readonly resources: Set<string>;
  readonly dataSources: Set<string>;
}

function declaredNames(stack: any): DeclaredNames {
  const typed = (section: any) =>
    new Set(Object.entries<any>(section ?? {}).flatMap(([type, named]) => Object.keys(named).map((name) => `${type}.${name}`)));
  return {
    variables: new Set(Object.keys(stack.variable ?? {})),
    locals: new Set(Object.keys(stack.locals ?? {})),
    modules: new Set(Object.keys(stack.module ?? {})),
    resources: typed(stack.resource),
    dataSources: typed(stack.data),
  };
}

function resolves(segments: string[], declared: DeclaredNames): boolean {
  const [root, first, second] = segments;
  if (BUILTIN_ROOTS.has(root)) return true;
  if (root === "var") return declared.variables.has(first);
  if (root === "local") return declared.locals.has(first);
  if (root === "module") return declared.modules.has(first);
  if (root === "data") return declared.dataSources.has(`${first}.${second}`);
  return declared.resources.has(`${root}.${first}`);
}

/** Root-relative traversals in an expression AST, minus the names a `for` binds. */
function references(node: any, bound: Set<string>): string[][] {
  if (!node) return [];
  let scope = bound;
  if (node.type === "for") {
    scope = new Set(bound);
    for (const name of [node.meta?.keyVar, node.meta?.valVar]) if (name) scope.add(name);
  }
  const found: string[][] = [];
  if (node.type === "scopeTraversal") {
    const segments = (node.meta?.traversal ?? []).map((part: any) => part.segment);
    if (segments.length > 0 && !scope.has(segments[0])) found.push(segments);
  }
  for (const child of node.children ?? []) found.push(...references(child, scope));
  return found;
}

/**
 * A JSON string value as the heredoc template Terraform reads it as: like a string in .tf.json, a heredoc has no
 * backslash escapes around the interpolations, and the expressions inside keep their own quoting.
 */
function toHeredoc(text: string): string {
  let delimiter = "DOKPLOY_OCI_EOT";
  while (text.split("\n").includes(delimiter)) delimiter += "_";
  return `<<${delimiter}\n${text}\n${delimiter}\n`;
}

function collectStrings(value: any, where: string, into: Array<[string, string]>): void {
  if (typeof value === "string") into.push([where || "(root)", value]);
  else if (Array.isArray(value)) value.forEach((item, index) => collectStrings(item, `${where}[${index}]`, into));
  else if (value && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      if (key === "//") continue;
      collectStrings(item, where ? `${where}.${key}` : key, into);
    }
  }
}

/** Throws one error listing every problem; for callers that must stop (the packager, tests). */
export async function assertValidStack(stack: any, options?: ValidationOptions): Promise<void> {
  const problems = await validateStack(stack, options);
  if (problems.length > 0) {
    throw new Error(`the synthesized stack is not valid Terraform:\n  - ${problems.join("\n  - ")}`);
  }
}
