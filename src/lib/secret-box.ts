import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { StartupRefusedError } from '../errors.ts';

/**
 * Encryption of secrets the store must keep readable (destinations' signing secrets and
 * verification tokens: Switchboard signs and sends them, so they cannot be hashed): AES-256-GCM
 * with a key from outside the database (`SWITCHBOARD_SECRET_KEY`), so a copy of the database
 * alone does not yield them.
 *
 * A stored value reads `enc:v1:<key id>:<base64url(iv | ciphertext | tag)>`; the key id (the
 * first 8 hex digits of the key's SHA-256) says which key sealed it, so a rotation can name the
 * new key and keep the old ones for reading (`SWITCHBOARD_SECRET_KEY_PREVIOUS`) while values are
 * sealed anew. A value without the prefix is plain text (stored before a key was configured).
 */
export class SecretBox {
  readonly #current: { id: string; key: Buffer };
  readonly #keys: Map<string, Buffer>;

  constructor(current: Buffer, previous: Buffer[] = []) {
    this.#current = { id: keyId(current), key: current };
    this.#keys = new Map([current, ...previous].map((key) => [keyId(key), key]));
  }

  get keyId(): string {
    return this.#current.id;
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#current.key, iv);
    const sealed = Buffer.concat([iv, cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${PREFIX}${this.#current.id}:${sealed.toString('base64url')}`;
  }

  /** The plain text of a stored value; throws `SecretKeyError` when no known key opens it. */
  open(stored: string): string {
    if (!isSealed(stored)) return stored;
    const [id, data] = stored.slice(PREFIX.length).split(':');
    const key = this.#keys.get(id ?? '');
    if (!key || !data) throw new SecretKeyError(id ?? '?');
    const bytes = Buffer.from(data, 'base64url');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, 12));
      decipher.setAuthTag(bytes.subarray(bytes.length - 16));
      return Buffer.concat([
        decipher.update(bytes.subarray(12, bytes.length - 16)),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      throw new SecretKeyError(id ?? '?');
    }
  }

  /** Whether a stored value is sealed with the current key (else it is rewritten at start-up). */
  isCurrent(stored: string): boolean {
    return stored.startsWith(`${PREFIX}${this.#current.id}:`);
  }
}

const PREFIX = 'enc:v1:';

export function isSealed(stored: string): boolean {
  return stored.startsWith(PREFIX);
}

export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

/** A stored secret no configured key opens: start-up refuses (one line, see main.ts). */
export class SecretKeyError extends StartupRefusedError {
  override name = 'SecretKeyError';
  constructor(id: string) {
    super(
      `A stored secret was sealed with key ${id}, which is not SWITCHBOARD_SECRET_KEY nor among ` +
        'SWITCHBOARD_SECRET_KEY_PREVIOUS: configure that key',
    );
  }
}

/**
 * A 32-byte key written in base64, base64url or hex (`openssl rand -base64 32`); undefined when
 * `text` is not one.
 */
export function parseSecretKey(text: string): Buffer | undefined {
  const trimmed = text.trim();
  const bytes = /^[0-9a-f]{64}$/i.test(trimmed)
    ? Buffer.from(trimmed, 'hex')
    : /^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)
      ? Buffer.from(trimmed, 'base64') // either alphabet
      : undefined;
  return bytes?.length === 32 ? bytes : undefined;
}
