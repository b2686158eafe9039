// The manage link's token: names one reservation (and its customer), expires at the reservation's start.
//
// It must never pass for an auth token nor an auth token for it, although both derive from JWT_SECRET: it is
// signed with a key of its own (HKDF of the secret, so a leaked link tells nothing of the auth key) and carries
// its own audience. Either alone would refuse the other token; both keep it so if one is ever changed.
import { hkdfSync } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { Types } from 'mongoose';
import type { Config } from '../config.js';
import { TOKEN_ISSUER } from '../schema/auth.js';

export const MANAGE_AUDIENCE = 'reservation-manage';

export type ManageSettings = Pick<Config, 'JWT_SECRET' | 'PUBLIC_URL'>;

/** Why a link is refused: not one of ours (tampered, an auth token, another key) or past the reservation's start. */
export class ManageLinkError extends Error {
  constructor(readonly reason: 'invalid' | 'expired') {
    super(reason === 'expired' ? 'This link has expired' : 'This link is not valid');
  }
}

export interface ManageClaims {
  reservationId: Types.ObjectId;
  customerId: Types.ObjectId;
}

const manageKey = (secret: string): Uint8Array =>
  new Uint8Array(hkdfSync('sha256', secret, 'reservation-status-automation', 'manage-link-v1', 32));

export async function issueManageToken(
  r: { reservationId: string; customerId: string; startTime: Date },
  c: ManageSettings,
): Promise<string> {
  return new SignJWT({ cus: r.customerId })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(r.reservationId)
    .setIssuer(TOKEN_ISSUER)
    .setAudience(MANAGE_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(Math.floor(r.startTime.getTime() / 1000))
    .sign(manageKey(c.JWT_SECRET));
}

export async function manageUrl(r: { reservationId: string; customerId: string; startTime: Date }, c: ManageSettings): Promise<string> {
  return `${c.PUBLIC_URL}/manage/${await issueManageToken(r, c)}`;
}

export async function verifyManageToken(token: string, c: ManageSettings): Promise<ManageClaims> {
  try {
    const { payload } = await jwtVerify(token, manageKey(c.JWT_SECRET), {
      algorithms: ['HS256'],
      issuer: TOKEN_ISSUER,
      audience: MANAGE_AUDIENCE,
      requiredClaims: ['sub', 'exp', 'cus'],
    });
    const customer = payload.cus;
    if (!Types.ObjectId.isValid(payload.sub!) || typeof customer !== 'string' || !Types.ObjectId.isValid(customer)) {
      throw new ManageLinkError('invalid');
    }
    return { reservationId: new Types.ObjectId(payload.sub), customerId: new Types.ObjectId(customer) };
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) throw new ManageLinkError('expired');
    throw new ManageLinkError('invalid');
  }
}
