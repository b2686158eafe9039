import type { EmbeddedMongo } from './embedded.js';

declare global {
  var __embeddedMongo: EmbeddedMongo | undefined;
}

export default async function globalTeardown(): Promise<void> {
  const mongo = globalThis.__embeddedMongo;
  globalThis.__embeddedMongo = undefined;
  await mongo?.stop();
}
