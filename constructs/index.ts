/**
 * The public API: constructs, their props and the few helpers a user needs to write a stack. Tooling (the stack
 * validator, the ORM packager, the status tool) is not part of it; it lives behind scripts/ (npm run package,
 * npm run status).
 */

// OCI: the cluster and its parts.
export * from "./oci/backup-bucket";
export * from "./oci/cluster-network";
export * from "./oci/dokploy-cluster";
export * from "./oci/dokploy-manager";
export * from "./oci/swarm-worker-pool";
export * from "./oci/token-server";
export * from "./oci/host-release";
export { RELEASE_TAG_KEY, buildRelease } from "../lib/host-release";
export type { IHostRelease, HostReleaseArtifact } from "../lib/host-release";
export { NODE_DEFAULTS } from "../lib/oci-node";
export type { NodeOptions } from "../lib/oci-node";
export type { TailscaleNodeOptions } from "../lib/tailscale-node";
export { FREE_ALLOWANCES, TENANCY_KINDS } from "../lib/free-tier";
export { CAPACITY_RETRY_DURATION_SECONDS } from "../lib/providers";
export type { FreeTierBudget, TenancyKind } from "../lib/free-tier";

// Docker provider: what runs on the swarm.
export * from "./docker/ssh-proxy";
export * from "./docker/tailscale-sidecar";
export * from "./docker/docker-socket-proxy";
export * from "./docker/shared-volumes";
export { REFUSED_EXIT_CODE, UNAVAILABLE_EXIT_CODE, nextcloudCommands, photoprismCommands } from "../lib/ssh-allow-list";
export type { AllowListDocument, AllowedCommand, ArgumentRule, EnumRule, LiteralRule, OptionRule, PatternRule, PositionalRule } from "../lib/ssh-allow-list";

// Building blocks for your own stack: generated secrets, and a Resource Manager form for your variables.
export { StrongSecret, MIN_SECRET_LENGTH } from "../lib/secret";
export type { StrongSecretProps } from "../lib/secret";
export { OrmOutput, OrmVariable } from "../lib/orm-schema";
export type { OrmOutputConfig, OrmOutputType, OrmVariableConfig, OrmVariableType, VariableCheck } from "../lib/orm-schema";
