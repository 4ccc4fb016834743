/**
 * Unit, synth, schema, ORM, behaviour, end-to-end and consumer tests; `npm test` type-checks them first (ts-jest only
 * transpiles). Files run one at a time on a 2-core machine (jest's default there), so the behaviour suites, which
 * spawn many processes, do not compete with each other.
 */
module.exports = {
  preset: "ts-jest",
  testEnvironment: "node",
  testMatch: ["<rootDir>/__tests__/**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.test.json" }] },
  setupFilesAfterEnv: ["<rootDir>/__tests__/setup.ts"],
  globalSetup: "<rootDir>/scripts/jest-global-setup.js",
  globalTeardown: "<rootDir>/scripts/jest-global-teardown.js",
  // The examples import the package by name, as an app would; here the name is the source (tsconfig.test.json's paths).
  // Stryker's copy of the package (npm run mutate) would be a second "dokploy-oci" beside this one.
  modulePathIgnorePatterns: ["<rootDir>/.stryker-tmp/"],
  moduleNameMapper: { "^dokploy-oci$": "<rootDir>/constructs/index.ts", "^dokploy-oci/providers/oci$": "<rootDir>/.gen/providers/oci/index.ts" },
  // An outer limit only: tests wait for events (sandbox/wait.ts) and finish as soon as those happen.
  testTimeout: 180_000,
  reporters: ["default", "<rootDir>/scripts/jest-group-times.js"],
};
