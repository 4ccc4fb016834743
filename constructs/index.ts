export * from "./oci/cluster-network";
export { OrmOutput, OrmVariable, buildSchemaYaml } from "../lib/orm-schema";
export type { OrmOutputConfig, OrmOutputType, OrmVariableConfig, OrmVariableType, SchemaYamlOptions } from "../lib/orm-schema";
export { writeOrmPackage, ormStackJson } from "../lib/orm-package";
export type { OrmPackage, OrmPackageOptions } from "../lib/orm-package";
export { validateStack, assertValidStack, defaultSchemas } from "../lib/validate";
export { escapeTerraformTemplate, joinLiteralAndTokens, jsonencodeWithTokens } from "../lib/terraform-text";
