// s3rver (an S3 server over a directory) for the real-Dokploy suite, answering only the key pair in the 0600 JSON
// file named by argv[2] ({directory, port, bucket, accessKey, secretKey}): s3rver's built-in S3RVER pair is revoked,
// so an unknown access key gets InvalidAccessKeyId. Path-style only, as OCI's S3 endpoint.
"use strict";
const fs = require("fs");
const S3rver = require("s3rver");
const AWSAccount = require("s3rver/lib/models/account");

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
AWSAccount.DUMMY_ACCOUNT.revokeAccessKey("S3RVER");
AWSAccount.DUMMY_ACCOUNT.createKeyPair(config.accessKey, config.secretKey);
const server = new S3rver({
  address: "127.0.0.1",
  port: config.port,
  directory: config.directory,
  vhostBuckets: false,
  silent: false,
  configureBuckets: [{ name: config.bucket }],
});
server.run().then(() => console.log(`s3 server listening on 127.0.0.1:${config.port}`));
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => server.close().then(() => process.exit(0)));
