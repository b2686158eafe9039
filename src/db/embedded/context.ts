// What every kind of embedded server is started with, and what it returns.
import type { EmbeddedSettings } from '../../config.js';
import { FerretdbBuild } from './ferretdb-binary.js';
import type { EmbeddedKind } from './kinds.js';
import { PortReservations } from './ports.js';

export interface EmbeddedMongo {
  uri: string;
  kind: EmbeddedKind;
  /** The database process (mongod or ferretdb). */
  pid: number | undefined;
  /** Where its files live (a temporary folder when `ephemeral`). */
  dataDir: string;
  /** Stops the database and waits until its process has exited. Idempotent. */
  stop(): Promise<void>;
}

/**
 * What the embedded servers of one owner share: the ports they hold or are about to bind, and the FerretDB build
 * in progress, if any (servers starting at once wait for the same build). One per start unless the caller passes one.
 */
export interface EmbeddedHost {
  readonly ports: PortReservations;
  readonly ferretdbBuild: FerretdbBuild;
}

export function createEmbeddedHost(): EmbeddedHost {
  return { ports: new PortReservations(), ferretdbBuild: new FerretdbBuild() };
}

export interface StartContext {
  /** Each kind keeps its files in its own subfolder of this one. */
  root: string;
  /** `root` is a temporary folder, removed when the server stops. */
  ephemeral: boolean;
  /** The port clients connect to; undefined: a free one. */
  port: number | undefined;
  settings: EmbeddedSettings;
  /** The environment the servers run in; PATH, HOME, GOPATH and proxies are looked up here. */
  env: NodeJS.ProcessEnv;
  log: (msg: string) => void;
  host: EmbeddedHost;
}
