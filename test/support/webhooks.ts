// The webhook admin API as tests and the bench call it (GraphQL over HTTP), over support/graphql.ts.
import { gql, gqlData } from './graphql.js';
import type { WebhookReceiver } from './webhook-receiver.js';

export const ENDPOINT_FIELDS = 'id url events description enabled disabledReason createdAt';
export const DELIVERY_FIELDS = 'id webhookId eventType status reservationId attempts { at statusCode durationMs response error }';

export const CREATE_ENDPOINT = `mutation($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { secret endpoint { ${ENDPOINT_FIELDS} } } }`;
export const DELIVERIES = `query($endpointId: ID!, $status: WebhookDeliveryStatus, $first: Int, $after: String) {
  webhookDeliveries(endpointId: $endpointId, status: $status, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } nodes { ${DELIVERY_FIELDS} } } }`;

export const ALL_EVENTS = ['RESERVATION_CREATED', 'RESERVATION_CONFIRMED', 'RESERVATION_CANCELLED', 'RESERVATION_COMPLETED', 'RESERVATION_NO_SHOW'];

/** Creates an endpoint for `receiver` and teaches the receiver its secret; resolves with the endpoint's id. */
export async function subscribe(url: string, adminToken: string, receiver: WebhookReceiver, events: string[] = ALL_EVENTS): Promise<string> {
  const data = await gqlData(url, CREATE_ENDPOINT, { input: { url: receiver.url, events, description: 'test receiver' } }, adminToken);
  receiver.secrets.push(data.createWebhookEndpoint.secret);
  return data.createWebhookEndpoint.endpoint.id;
}

/** An endpoint's deliveries (newest first), every page. */
export async function deliveriesOf(url: string, adminToken: string, endpointId: string, status?: string): Promise<any[]> {
  const all: any[] = [];
  let after: string | null = null;
  for (;;) {
    const data: any = await gqlData(url, DELIVERIES, { endpointId, status, first: 100, after }, adminToken);
    all.push(...data.webhookDeliveries.nodes);
    if (!data.webhookDeliveries.pageInfo.hasNextPage) return all;
    after = data.webhookDeliveries.pageInfo.endCursor;
  }
}

export async function deleteEndpoint(url: string, adminToken: string, id: string): Promise<void> {
  await gql(url, 'mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }', { id }, adminToken);
}
