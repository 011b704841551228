import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import type { Config } from "../config.js";
import { TesseraError } from "../errors.js";

/** Whether `bind` only reaches this machine. */
export function isLoopback(bind: string): boolean {
  if (bind === "localhost") return true;
  if (isIP(bind) === 4) return bind.startsWith("127.");
  return bind === "::1";
}

/**
 * The shard host's TLS material from SHARD_HOST_TLS_CERT / SHARD_HOST_TLS_KEY (both or neither), or undefined for
 * plain HTTP/2 on a loopback bind. A host listening beyond loopback without TLS is refused at start: a caller's
 * session token is a bearer credential for its life, and activations and input refs are not otherwise protected.
 */
export function shardHostTls(config: Pick<Config, "shardHostBind" | "shardHostTlsCert" | "shardHostTlsKey">): { cert: Buffer; key: Buffer } | undefined {
  const { shardHostTlsCert: certPath, shardHostTlsKey: keyPath } = config;
  if ((certPath === undefined) !== (keyPath === undefined)) {
    throw new TesseraError("SHARD_HOST_TLS_CERT and SHARD_HOST_TLS_KEY go together: set both, or neither", { code: "CONFIG" });
  }
  if (certPath === undefined || keyPath === undefined) {
    if (!isLoopback(config.shardHostBind)) {
      throw new TesseraError(
        `a shard host bound to ${config.shardHostBind} (beyond loopback) needs SHARD_HOST_TLS_CERT and SHARD_HOST_TLS_KEY: session tokens and activations must not cross a network in clear`,
        { code: "CONFIG" },
      );
    }
    return undefined;
  }
  const read = (name: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new TesseraError(`${name} ${path} cannot be read: ${(err as Error).message}`, { code: "CONFIG", cause: err });
    }
  };
  return { cert: read("SHARD_HOST_TLS_CERT", certPath), key: read("SHARD_HOST_TLS_KEY", keyPath) };
}

/** The extra CA certificates a router trusts for https:// hosts (SHARD_TLS_CA), or undefined for the system's. */
export function shardTlsCa(config: Pick<Config, "shardTlsCa">): Buffer | undefined {
  if (config.shardTlsCa === undefined) return undefined;
  try {
    return readFileSync(config.shardTlsCa);
  } catch (err) {
    throw new TesseraError(`SHARD_TLS_CA ${config.shardTlsCa} cannot be read: ${(err as Error).message}`, { code: "CONFIG", cause: err });
  }
}
