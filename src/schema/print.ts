import path from 'node:path';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { createLiveHub } from '../live/channel.js';
import { buildAppSchema } from './index.js';

/** The schema as committed in schema.graphql: sorted, so the file diffs cleanly. */
export async function printSchemaFile(): Promise<string> {
  const header = '# Generated from the type-graphql classes by `npm run emit-schema`. Do not edit.\n\n';
  return header + printSchema(lexicographicSortSchema(await buildAppSchema(createLiveHub()))) + '\n';
}

export function schemaFilePath(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return path.join(dir, 'schema.graphql');
}
