import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { satisfies } from "semver";
import { BINDINGS_DIR, generateOciBindings } from "../../scripts/generate-oci-bindings";
import { FULL_SCHEMA_PATH, TRIMMED_SCHEMA_PATH, trimmedSchemaText } from "../../scripts/trim-oci-schema";
import { OCI_DATA_SOURCES, OCI_RESOURCES } from "../../scripts/oci-provider";


function filesUnder(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (current: string) => {
    for (const entry of fs.readdirSync(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) walk(full);
      else files.set(path.relative(dir, full), fs.readFileSync(full, "utf8"));
    }
  };
  walk(dir);
  return files;
}

describe("the in-repo OCI schema", () => {
  test("is exactly what the trim script makes from the full provider schema in ../shared", () => {
    if (!fs.existsSync(FULL_SCHEMA_PATH)) {
      throw new Error(`the full provider schema is missing at ${FULL_SCHEMA_PATH}; this check needs ../shared beside the repo`);
    }
    expect(trimmedSchemaText(FULL_SCHEMA_PATH)).toBe(fs.readFileSync(TRIMMED_SCHEMA_PATH, "utf8"));
  });

  test("holds the resources and data sources the library uses, without prose, keeping attributes named description", () => {
    const schema = JSON.parse(fs.readFileSync(TRIMMED_SCHEMA_PATH, "utf8"));
    const oci = schema.provider_schemas["registry.terraform.io/oracle/oci"];
    expect(Object.keys(oci.resource_schemas).sort()).toEqual([...OCI_RESOURCES].sort());
    expect(Object.keys(oci.data_source_schemas).sort()).toEqual([...OCI_DATA_SOURCES].sort());
    expect(JSON.stringify(schema)).not.toMatch(/description_kind/);
    expect(oci.resource_schemas.oci_core_network_security_group_security_rule.block.attributes.description).toMatchObject({ type: "string" });
  });
});

describe("the generated bindings", () => {
  test("regenerating from the in-repo schema gives byte-identical code", async () => {
    const fresh = fs.mkdtempSync(path.join(os.tmpdir(), "oci-bindings-"));
    try {
      await generateOciBindings(fresh);
      const expected = filesUnder(BINDINGS_DIR);
      const actual = filesUnder(fresh);
      expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
      for (const [file, text] of actual) expect([file, text]).toEqual([file, expected.get(file)]);
    } finally {
      fs.rmSync(fresh, { recursive: true, force: true });
    }
  });

  test("declare source oracle/oci with a constraint that admits the 8.x releases ORM may run", () => {
    const provider = fs.readFileSync(path.join(BINDINGS_DIR, "providers", "oci", "provider", "index.ts"), "utf8");
    expect(provider).toMatch(/terraformProviderSource: 'oracle\/oci'/);
    const constraint = /providerVersion: '([^']+)'/.exec(provider)![1];
    const range = constraint.replace(/,/g, "");
    for (const version of ["5.43.0", "6.0.0", "8.28.0"]) expect([version, satisfies(version, range)]).toEqual([version, true]);
    expect(satisfies("9.0.0", range)).toBe(false);
  });
});
