// An embedded server started as `npm start` starts one: its settings parsed from an environment (this process's
// unless given), which its processes also run in. Async, so that a bad setting is a rejection like any other
// reason the server cannot start.
import { parseEmbeddedSettings } from '../../src/config.js';
import { startEmbeddedMongo, type EmbeddedMongo, type EmbeddedOptions } from '../../src/db/embedded/index.js';

export type { EmbeddedMongo } from '../../src/db/embedded/index.js';

export async function startEmbedded(
  opts: Omit<EmbeddedOptions, 'settings' | 'env'> & { env?: NodeJS.ProcessEnv },
): Promise<EmbeddedMongo> {
  const env = opts.env ?? process.env;
  return startEmbeddedMongo({ ...opts, env, settings: parseEmbeddedSettings(env) });
}
