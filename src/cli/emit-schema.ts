// `npm run emit-schema`: writes schema.graphql from the type-graphql classes (committed; a test checks drift).
import fs from 'node:fs';
import { printSchemaFile, schemaFilePath } from '../schema/print.js';

fs.writeFileSync(schemaFilePath(), await printSchemaFile());
process.stdout.write(`wrote ${schemaFilePath()}\n`);
