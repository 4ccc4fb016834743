/**
 * Generates the OCI provider bindings into .gen/providers/oci from the in-repo schema (npm run gen; runs on
 * `npm ci` through `prepare`). There is no @cdktf/provider-oci on npm, so this stands in for `cdktf get`.
 */
import * as fs from "fs";
import * as path from "path";
import { ConstructsMakerProviderTarget, LANGUAGES, TerraformProviderConstraint } from "@cdktf/commons";
import { CodeMaker } from "codemaker";
// The package root pulls in jsii-pacmak; the generator itself needs none of it.
import { TerraformProviderGenerator } from "@cdktf/provider-generator/lib/get/generator/provider-generator";
import { OCI_VERSION_CONSTRAINT } from "./oci-provider";
import { TRIMMED_SCHEMA_PATH } from "./trim-oci-schema";

export const BINDINGS_DIR = path.join(__dirname, "..", ".gen");

export async function generateOciBindings(outdir: string, schemaPath = TRIMMED_SCHEMA_PATH): Promise<void> {
  const schema = JSON.parse(fs.readFileSync(schemaPath, "utf8"));
  const code = new CodeMaker();
  // An explicit constraint makes required_providers say source "oracle/oci", the form Terraform docs and ORM use.
  const constraint = new TerraformProviderConstraint({ name: "oci", source: "oracle/oci", version: OCI_VERSION_CONSTRAINT });
  new TerraformProviderGenerator(code, schema).generate(new ConstructsMakerProviderTarget(constraint, LANGUAGES[0]));
  fs.rmSync(outdir, { recursive: true, force: true });
  await code.save(outdir);
}

if (require.main === module) {
  generateOciBindings(BINDINGS_DIR).then(
    () => console.log(`generated OCI bindings in ${path.relative(process.cwd(), BINDINGS_DIR)}`),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
