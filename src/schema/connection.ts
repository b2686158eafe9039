// Cursor connections, the one shape every paged list has: `nodes` (the short form) and Relay's
// `edges { cursor node }` (what Apollo Client's relayStylePagination and Relay read, as on GitHub's API) over
// the same page, and `pageInfo`. A paged list is a class extending `Connection(Node, 'Node')` and a resolver
// returning `connectionOf(...)`.
import { Field, ObjectType, type ClassType } from 'type-graphql';

@ObjectType({ simpleResolvers: true, description: 'Where a page ends: pass `endCursor` as `after` for the next one.' })
export class PageInfo {
  @Field()
  hasNextPage!: boolean;

  @Field(() => String, { nullable: true })
  endCursor?: string | null;
}

export interface Edge<T> {
  cursor: string;
  node: T;
}

/** The fields of a connection of `Node`, and its edge type `<name>Edge`, for a concrete connection to extend. */
export function Connection<T extends object>(Node: ClassType<T>, name: string) {
  @ObjectType(`${name}Edge`, { simpleResolvers: true, description: `One ${name} of a page, with its cursor.` })
  class EdgeType implements Edge<T> {
    @Field({ description: 'Pass as `after` to get what follows this node.' })
    cursor!: string;

    @Field(() => Node)
    node!: T;
  }

  // Abstract: not a GraphQL type of its own (type-graphql 2 emits only the types the schema reaches).
  @ObjectType({ simpleResolvers: true })
  abstract class ConnectionType {
    @Field(() => [Node], { description: 'The page, as `edges { node }` without the cursors.' })
    nodes!: T[];

    @Field(() => [EdgeType])
    edges!: Edge<T>[];

    @Field(() => PageInfo)
    pageInfo!: PageInfo;
  }
  return ConnectionType;
}

/** A page from its items in order, each with its cursor, and whether more follow. */
export function connectionOf<T>(edges: Edge<T>[], hasNextPage: boolean): { nodes: T[]; edges: Edge<T>[]; pageInfo: PageInfo } {
  return {
    nodes: edges.map((e) => e.node),
    edges,
    pageInfo: { hasNextPage, endCursor: edges.at(-1)?.cursor ?? null },
  };
}
