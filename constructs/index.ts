// OCI: the cluster and its parts.
export * from "./oci/cluster-network";
export * from "./oci/dokploy-cluster";
export * from "./oci/dokploy-manager";
export * from "./oci/swarm-worker-pool";
export * from "./oci/token-server";
export type { TailscaleNodeOptions } from "../lib/tailscale-node";

// Docker provider: what runs on the swarm.
export * from "./docker/ssh-proxy";
export * from "./docker/tailscale-sidecar";
export * from "./docker/docker-socket-proxy";
export * from "./docker/shared-volumes";
export { REFUSED_EXIT_CODE, UNAVAILABLE_EXIT_CODE, nextcloudCommands, photoprismCommands } from "../lib/ssh-allow-list";
export type { AllowListDocument, AllowedCommand, ArgumentRule, EnumRule, LiteralRule, OptionRule, PatternRule, PositionalRule } from "../lib/ssh-allow-list";

// Shared pieces.
export { StrongSecret, MIN_SECRET_LENGTH } from "../lib/secret";
export type { StrongSecretProps } from "../lib/secret";
export { FREE_ALLOWANCES, TENANCY_KINDS, checkBudget, budgetPrecondition } from "../lib/free-tier";
export type { BudgetShare, FreeTierBudget, TenancyKind } from "../lib/free-tier";
export { OrmOutput, OrmVariable, buildSchemaYaml } from "../lib/orm-schema";
export type { OrmOutputConfig, OrmOutputType, OrmVariableConfig, OrmVariableType, SchemaYamlOptions } from "../lib/orm-schema";
export { writeOrmPackage, ormStackJson } from "../lib/orm-package";
export type { OrmPackage, OrmPackageOptions } from "../lib/orm-package";
export { validateStack, assertValidStack, defaultSchemas } from "../lib/validate";
export type { ProviderSchemaDocument, ValidationOptions } from "../lib/validate";
export { escapeTerraformTemplate, joinLiteralAndTokens, jsonencodeWithTokens } from "../lib/terraform-text";
export { collectStatus, formatStatus } from "../lib/status";
export type { ClusterStatus, RemoteResult, StatusOptions } from "../lib/status";
export { CloudConfig } from "../lib/cloud-init";
export type { CloudConfigFile, CloudConfigProps } from "../lib/cloud-init";
