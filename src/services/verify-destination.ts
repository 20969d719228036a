import { randomUUID } from 'node:crypto';
import type { DeliverySettings } from '../config.ts';
import type { QueryClient } from '../delivery/query-client.ts';
import type { Clock } from '../lib/clock.ts';
import type { Destination } from '../models/entities.ts';

export interface VerifyDeps {
  client: QueryClient;
  clock: Clock;
  settings: DeliverySettings;
}

export interface Verification {
  verified: boolean;
  method: 'POST' | 'GET';
  url: string;
  statusCode: number | null;
  durationMs: number;
  /** Why it did not verify; null when it did. */
  reason: string | null;
}

/**
 * The verification handshake of SPEC 3: Switchboard sends the destination a fresh challenge
 * with its verification token (POST as JSON, or GET as query parameters) and the destination
 * must answer 2xx with the challenge somewhere in its body. Nothing is stored or queued; the
 * destination's answer is read up to the payload limit, within the destination's timeout.
 */
export async function verifyDestination(
  deps: VerifyDeps,
  destination: Destination,
  method: 'POST' | 'GET',
): Promise<Verification> {
  const challenge = randomUUID();
  const token = destination.verificationToken ?? '';
  let url = destination.url;
  let body: string | undefined;
  if (method === 'GET') {
    const target = new URL(destination.url);
    target.searchParams.set('challenge', challenge);
    target.searchParams.set('verification-token', token);
    url = target.toString();
  } else body = JSON.stringify({ 'verification-token': token, challenge });
  const result = await deps.client.send({
    destination,
    method,
    url,
    headers: method === 'POST' ? { 'content-type': 'application/json' } : {},
    ...(body === undefined ? {} : { body }),
    timeoutMs: destination.timeoutMs ?? deps.settings.asyncTimeoutMs,
    now: deps.clock.now(),
  });
  const answered = result.kind === 'answered';
  const ok = answered && result.statusCode >= 200 && result.statusCode < 300;
  const verified = ok && result.body.includes(challenge);
  return {
    verified,
    method,
    url: destination.url,
    statusCode: answered ? result.statusCode : null,
    durationMs: result.durationMs,
    reason: verified
      ? null
      : !answered
        ? result.error
        : !ok
          ? `Destination answered ${result.statusCode}`
          : 'The answer does not contain the challenge',
  };
}
