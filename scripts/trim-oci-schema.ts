/**
 * Writes lib/schemas/oracle-oci.json: the provider schema cut down to what the library uses, without prose, so a
 * fresh clone generates the bindings without ../shared. Usage: npm run trim-schema [-- <full schema path>]
 */
import * as fs from "fs";
import * as path from "path";
import {
  OCI_DATA_SOURCES,
  OCI_PROVIDER_ADDRESS,
  OCI_RESOURCES,
  OCI_SCHEMA_VERSION,
  OCI_VERSION_CONSTRAINT,
} from "./oci-provider";

const PROSE_KEYS = new Set(["description", "description_kind"]);

export const TRIMMED_SCHEMA_PATH = path.join(__dirname, "..", "lib", "schemas", "oracle-oci.json");
export const FULL_SCHEMA_PATH = path.join(
  __dirname, "..", "..", "shared", "schemas", `oracle-oci-${OCI_SCHEMA_VERSION}.full.json`,
);

/** Maps keyed by attribute or block name: their keys are names (an attribute may be called "description"). */
const NAME_MAPS = new Set(["attributes", "block_types"]);

function withoutProse(value: unknown, keysAreNames = false): unknown {
  if (Array.isArray(value)) return value.map((item) => withoutProse(item));
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => keysAreNames || !PROSE_KEYS.has(key))
      .map(([key, inner]) => [key, withoutProse(inner, !keysAreNames && NAME_MAPS.has(key))]),
  );
}

function pick(all: Record<string, unknown>, names: string[], kind: string): Record<string, unknown> {
  return Object.fromEntries(
    names.map((name) => {
      if (!(name in all)) throw new Error(`${kind} ${name} is not in the provider schema`);
      return [name, withoutProse(all[name])];
    }),
  );
}

export function trimOciSchema(full: any): object {
  const provider = full.provider_schemas?.[OCI_PROVIDER_ADDRESS];
  if (!provider) throw new Error(`the schema has no provider ${OCI_PROVIDER_ADDRESS}`);
  return {
    format_version: full.format_version,
    provider_schemas: {
      [OCI_PROVIDER_ADDRESS]: {
        provider: withoutProse(provider.provider),
        resource_schemas: pick(provider.resource_schemas, OCI_RESOURCES, "resource"),
        data_source_schemas: pick(provider.data_source_schemas, OCI_DATA_SOURCES, "data source"),
      },
    },
    // The generator turns this into required_providers.oci.version.
    provider_versions: { [OCI_PROVIDER_ADDRESS]: OCI_VERSION_CONSTRAINT },
  };
}

export function trimmedSchemaText(fullSchemaPath: string): string {
  const full = JSON.parse(fs.readFileSync(fullSchemaPath, "utf8"));
  return JSON.stringify(trimOciSchema(full), null, 1) + "\n";
}

if (require.main === module) {
  const source = process.argv[2] ?? FULL_SCHEMA_PATH;
  fs.writeFileSync(TRIMMED_SCHEMA_PATH, trimmedSchemaText(source));
  console.log(`wrote ${path.relative(process.cwd(), TRIMMED_SCHEMA_PATH)} from ${source}`);
}
