import type { Alert } from '../models/alert.ts';

export interface AlertText {
  subject: string;
  text: string;
}

/** The words of an alert, the same on every channel. */
export function describeAlert(alert: Alert, names: { organization: string; destination: string }): AlertText {
  const where = `${names.organization} / ${names.destination}`;
  if (alert.kind === 'failing') {
    return {
      subject: `[Switchboard] Deliveries to ${where} are failing`,
      text: [
        `Log ${alert.logId} to destination "${alert.destinationId}" has failed ${alert.attempts} attempts.`,
        `Last error: ${alert.error ?? 'unknown'}.`,
        'Its queue is blocked behind it and keeps retrying; you will get one more alert when it recovers.',
        `Queue: GET /platform/v1/destinations/${alert.destinationId}/queue`,
        `Log:   GET /platform/v1/logs/${alert.logId}`,
      ].join('\n'),
    };
  }
  return {
    subject: `[Switchboard] Deliveries to ${where} have recovered`,
    text: [
      `Destination "${alert.destinationId}" is receiving again: log ${alert.logId} was delivered after ${alert.attempts} attempts.`,
      `Queue: GET /platform/v1/destinations/${alert.destinationId}/queue`,
    ].join('\n'),
  };
}
