import { z } from "zod";
import { parseDeployment, type Deployment } from "./DeploymentRecord.js";

const schema = z.object({
  deployment: z.unknown(),
  /** The chain's name as a wallet is asked to add it. */
  chainName: z.string().min(1),
  /** JSON-RPC URL the page reads the chain through (absolute, or a path on the page's origin). */
  rpcUrl: z.string().min(1),
  /** IPFS HTTP gateway (`<gateway>/ipfs/<cid>`): the app server's embedded store, or any Kubo gateway URL. */
  gateway: z.string().min(1),
  /** Kubo RPC API the page uploads through (`<ipfsApi>/api/v0/add`): the app server's, or any Kubo node's. */
  ipfsApi: z.string().min(1).default("/"),
});

/** What a page needs to know about the deployment it talks to (served by `npm run app` as `/app-config.json`). */
export interface AppConfig {
  readonly deployment: Deployment;
  readonly chainName: string;
  readonly rpcUrl: string;
  readonly gateway: string;
  readonly ipfsApi: string;
}

/** Validates an app config; relative URLs are resolved against `origin`. */
export function parseAppConfig(value: unknown, origin: string): AppConfig {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new Error(`invalid app config: ${z.prettifyError(parsed.error)}`);
  const absolute = (url: string) => new URL(url, origin).toString().replace(/\/$/, "");
  return {
    deployment: parseDeployment(parsed.data.deployment, "app config's deployment"),
    chainName: parsed.data.chainName,
    rpcUrl: absolute(parsed.data.rpcUrl),
    gateway: absolute(parsed.data.gateway),
    ipfsApi: absolute(parsed.data.ipfsApi),
  };
}
