// The kinds of embedded server, in one place for the resolver and for config.ts (EMBEDDED_MONGO's values).

/** What `auto` tries, in order (DESIGN.md, "Embedded default"). */
export const AUTO_KINDS = Object.freeze(['mongod', 'memory-server', 'ferretdb'] as const);

/** Every kind EMBEDDED_MONGO may name: `ferretdb-postgresql` only when asked for. */
export const EMBEDDED_KINDS = Object.freeze([...AUTO_KINDS, 'ferretdb-postgresql'] as const);

export type EmbeddedKind = (typeof EMBEDDED_KINDS)[number];
