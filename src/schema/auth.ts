// Tokens and the checks resolvers call. HS256 only, issuer and audience pinned, expiry from JWT_TTL.
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { Types } from 'mongoose';
import { intervalMs, type Config } from '../config.js';
import { Role } from '../models/status.js';
import { forbidden, unauthenticated } from './errors.js';

export const TOKEN_ISSUER = 'reservation-api';
export const TOKEN_AUDIENCE = 'reservation-clients';

export interface AuthUser {
  id: Types.ObjectId;
  role: Role;
  /** When the token it came from expires (ms since the epoch): what a long-lived WebSocket connection checks. */
  expiresAt?: number;
}

/** The HMAC key of a secret (encoding it costs nanoseconds beside the signature). */
const key = (secret: string): Uint8Array => new TextEncoder().encode(secret);

export async function issueToken(user: { _id: Types.ObjectId; role: string }, c: Config): Promise<string> {
  return new SignJWT({ role: user.role })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(user._id.toString())
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(Math.floor((Date.now() + intervalMs(c.JWT_TTL)) / 1000))
    .sign(key(c.JWT_SECRET));
}

/** Verifies a bearer token; throws UNAUTHENTICATED (with a reason clients can show) when it is not valid. */
export async function verifyToken(token: string, c: Config): Promise<AuthUser> {
  try {
    const { payload } = await jwtVerify(token, key(c.JWT_SECRET), {
      algorithms: ['HS256'],
      issuer: TOKEN_ISSUER,
      audience: TOKEN_AUDIENCE,
      requiredClaims: ['sub', 'exp'],
    });
    const role = payload.role as Role;
    if (!payload.sub || !Types.ObjectId.isValid(payload.sub) || !Object.values(Role).includes(role)) {
      throw unauthenticated('Invalid token');
    }
    return { id: new Types.ObjectId(payload.sub), role, expiresAt: payload.exp! * 1000 };
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) throw unauthenticated('Token expired; log in again');
    throw unauthenticated('Invalid token');
  }
}

/** The user from an `Authorization: Bearer <token>` value; undefined when absent, UNAUTHENTICATED when bad. */
export async function userFromAuthorization(header: unknown, c: Config): Promise<AuthUser | undefined> {
  if (header === undefined || header === null || header === '') return undefined;
  if (typeof header !== 'string') throw unauthenticated('Invalid authorization header');
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) throw unauthenticated('Authorization must be "Bearer <token>"');
  return verifyToken(m[1]!, c);
}

export function requireUser(user: AuthUser | undefined): AuthUser {
  if (!user) throw unauthenticated();
  return user;
}

export function requireAdmin(user: AuthUser | undefined): AuthUser {
  const u = requireUser(user);
  if (u.role !== Role.ADMIN) throw forbidden('Only an admin can do this');
  return u;
}

export const isAdmin = (u: AuthUser | undefined) => u?.role === Role.ADMIN;
export const actorOf = (u: AuthUser) => `${u.role === Role.ADMIN ? 'admin' : 'customer'}:${u.id.toString()}`;
