/** Reading ORM zips and checking schema.yaml with Oracle's meta schema (../shared/schemas/orm-meta-schema.json). */
import Ajv from "ajv";
import * as fs from "fs";
import * as path from "path";
import * as yauzl from "yauzl";
import { parse } from "yaml";

export const META_SCHEMA_PATH = path.join(__dirname, "..", "..", "..", "shared", "schemas", "orm-meta-schema.json");

/** Every entry of a zip, in order, as text. */
export async function readZip(file: string): Promise<Map<string, string>> {
  return new Map([...(await readZipBytes(file))].map(([name, bytes]) => [name, bytes.toString("utf8")]));
}

/** Every entry of a zip, in order, as bytes. */
export function readZipBytes(file: string): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(fs.readFileSync(file), { lazyEntries: true }, (openError, zip) => {
      if (openError || !zip) return reject(openError);
      const entries = new Map<string, Buffer>();
      zip.on("entry", (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (streamError, stream) => {
          if (streamError || !stream) return reject(streamError);
          const chunks: Buffer[] = [];
          stream.on("data", (chunk: Buffer) => chunks.push(chunk));
          stream.on("end", () => {
            entries.set(entry.fileName, Buffer.concat(chunks));
            zip.readEntry();
          });
        });
      });
      zip.on("end", () => resolve(entries));
      zip.on("error", reject);
      zip.readEntry();
    });
  });
}

/** Errors from Oracle's meta schema for a schema.yaml text; empty when it passes. */
export function ormSchemaErrors(schemaYaml: string): string[] {
  if (!fs.existsSync(META_SCHEMA_PATH)) throw new Error(`Oracle's ORM meta schema is missing at ${META_SCHEMA_PATH}`);
  const meta = JSON.parse(fs.readFileSync(META_SCHEMA_PATH, "utf8"));
  // research/oci.md: the published list of dynamic variables omits the ssh public key type it defines.
  meta.definitions.dynamicVariable.oneOf.push({ $ref: "#/definitions/sshPublicKeyVariable" });
  const ajv = new Ajv({ strict: false, allErrors: true });
  // Oracle's own format: a reference to another variable of the form, e.g. dependsOn.compartmentId: ${compartment_ocid}.
  ajv.addFormat("variablereference", /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/);
  const validate = ajv.compile(meta);
  if (validate(parse(schemaYaml))) return [];
  return (validate.errors ?? []).map((error) => `${error.instancePath} ${error.message}`);
}
