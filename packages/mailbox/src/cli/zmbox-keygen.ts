#!/usr/bin/env node
/**
 * `zmbox-keygen`: prints a new CURVE key pair for a runtime's `curve` option, as one line of
 * JSON: `{"publicKey":"...","secretKey":"..."}` (z85, 40 characters each). Give the public key
 * to the runtimes that talk to this one (their `curve.peers` and `curve.allow`); keep the
 * secret key to this runtime alone.
 * Exit status: 0 printed, 2 usage.
 */
import { generateKeyPair } from "../curve.js";

const args = process.argv.slice(2);
if (args.length > 0) {
  process.stderr.write(
    args[0] === "--help" || args[0] === "-h"
      ? "usage: zmbox-keygen\nPrints a new CURVE key pair as JSON: {\"publicKey\":\"...\",\"secretKey\":\"...\"}\n"
      : `zmbox-keygen: takes no arguments, got ${JSON.stringify(args[0])}\nusage: zmbox-keygen\n`,
  );
  process.exitCode = 2;
} else {
  process.stdout.write(`${JSON.stringify(generateKeyPair())}\n`);
}
