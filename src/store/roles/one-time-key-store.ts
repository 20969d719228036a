/** One-time keys: JWT `jti`s, refresh tokens, revocation marks. */
export interface OneTimeKeyStore {
  /**
   * Records that a one-time key was used; false when it already was and has not expired.
   * Expired keys are removed along the way.
   */
  claimOnce(kind: string, key: string, expiresAt: number, now: number): Promise<boolean>;
  /** Whether a one-time key was claimed and has not expired (a revocation mark, say). */
  hasClaim(kind: string, key: string, now: number): Promise<boolean>;
}
