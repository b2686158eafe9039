// Signing secrets: made here (Standard Webhooks' `whsec_` + base64 of random bytes), shown to the admin once, and
// stored only encrypted, so that a dump of the database alone does not reveal them.
//
// Encryption: AES-256-GCM from node:crypto (authenticated: a tampered or wrongly-keyed value fails to decrypt
// rather than signing with garbage). The key is SHA-256 of WEBHOOK_ENCRYPTION_KEY (a random value of at least
// 32 characters, for which a hash is a sound key derivation); without it, of JWT_SECRET under a label of its own,
// so that a deployment is never left storing secrets in clear. Each stored value names a fingerprint of its key,
// so a changed key is reported as such instead of as a corrupt value.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { Config } from '../config.js';

const SECRET_PREFIX = 'whsec_';

export interface SecretBox {
  encrypt(plain: string): string;
  decrypt(stored: string): string;
}

export class SecretKeyMismatchError extends Error {
  override readonly name = 'SecretKeyMismatchError';
}

/** A new signing secret: `whsec_` and 32 random bytes in base64 (the format the standardwebhooks library reads). */
export function newSigningSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

export function createSecretBox(c: Pick<Config, 'WEBHOOK_ENCRYPTION_KEY' | 'JWT_SECRET'>): SecretBox {
  const material = c.WEBHOOK_ENCRYPTION_KEY ?? `webhook-secrets:${c.JWT_SECRET}`;
  const key = createHash('sha256').update(material).digest();
  const fingerprint = createHash('sha256').update(key).digest('base64url').slice(0, 8);
  return {
    encrypt(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return ['v1', fingerprint, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join(':');
    },
    decrypt(stored) {
      const [version, keyId, iv, tag, body] = stored.split(':');
      if (version !== 'v1' || !iv || !tag || body === undefined) throw new Error('not an encrypted webhook secret');
      if (keyId !== fingerprint) {
        throw new SecretKeyMismatchError('webhook secret was encrypted with another WEBHOOK_ENCRYPTION_KEY; rotate the secret');
      }
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
    },
  };
}
