import type { Transporter } from 'nodemailer';
import { Agent, request } from 'undici';
import type { Catalog } from '../catalog/catalog.ts';
import type { AlertSettings } from '../config.ts';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { Alert, AlertChannelResult } from '../models/alert.ts';
import type { AlertOutbox } from '../store/roles/alert-outbox.ts';
import { describeAlert, type AlertText } from './alert-message.ts';

export interface AlertNotifierDeps {
  outbox: AlertOutbox;
  catalog: Catalog;
  clock: Clock;
  logger: Logger;
  settings: AlertSettings;
}

/**
 * Sends the alerts the delivery engine raises (SPEC 5.5) to the organization's alert email over
 * SMTP and to its webhook URLs. Alerts are rows written in the same transaction as the attempt
 * that raised them, so one raised just before a crash is sent at the next start. Each channel is
 * tried once, with a timeout; the outcome of each is kept with the alert.
 */
export class AlertNotifier {
  readonly #deps: AlertNotifierDeps;
  #mail: Promise<Transporter> | undefined;
  readonly #agent: Agent;
  readonly #inFlight = new Set<Promise<void>>();

  constructor(deps: AlertNotifierDeps) {
    this.#deps = deps;
    const { timeoutMs } = deps.settings;
    this.#agent = new Agent({ headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connectTimeout: timeoutMs });
  }

  /** Sends the alerts left unsent by an earlier run. */
  async start(): Promise<void> {
    try {
      for (const alert of await this.#deps.outbox.unsentAlerts(100)) this.notify(alert);
    } catch (error) {
      this.#deps.logger.error({ err: error }, 'alerts: could not read unsent alerts');
    }
  }

  notify(alert: Alert): void {
    const sending = this.#send(alert).catch((error: unknown) =>
      this.#deps.logger.error({ err: error, alertId: alert.id }, 'alerts: sending failed'),
    );
    this.#inFlight.add(sending);
    void sending.finally(() => this.#inFlight.delete(sending));
  }

  /** Resolves once every alert handed over so far is sent or given up. */
  async idle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  async close(): Promise<void> {
    await this.idle();
    if (this.#mail) (await this.#mail.catch(() => undefined))?.close();
    await this.#agent.close();
  }

  async #send(alert: Alert): Promise<void> {
    const { catalog, outbox, clock, logger } = this.#deps;
    const org = catalog.organization(alert.orgId);
    const text = describeAlert(alert, {
      organization: org?.name ?? alert.orgId,
      destination: catalog.destination(alert.orgId, alert.destinationId)?.name ?? alert.destinationId,
    });
    const channels: AlertChannelResult[] = [];
    if (org?.alertEmail) channels.push(await this.#email(org.alertEmail, text));
    for (const url of org?.alertWebhooks ?? []) channels.push(await this.#webhook(url, alert, text));
    logger.warn({ alert: { ...alert, channels } }, `alert: ${text.subject}`);
    await outbox.markAlertSent(alert.id, channels, clock.now());
  }

  async #email(to: string, text: AlertText): Promise<AlertChannelResult> {
    const result = { channel: 'email', target: to } as const;
    const { smtpUrl, timeoutMs } = this.#deps.settings;
    if (!smtpUrl) return { ...result, ok: false, error: 'no SMTP server configured (alerts.smtpUrl)' };
    try {
      // nodemailer loads with the first alert email rather than at start-up, which most runs
      // never need it for: start-up time is how long a restarted instance keeps queues waiting.
      this.#mail ??= import('nodemailer').then(({ createTransport }) =>
        createTransport({
          url: smtpUrl,
          connectionTimeout: timeoutMs,
          greetingTimeout: timeoutMs,
          socketTimeout: timeoutMs,
        }),
      );
      await (
        await this.#mail
      ).sendMail({
        from: this.#deps.settings.from,
        to,
        subject: text.subject,
        text: text.text,
      });
      return { ...result, ok: true, error: null };
    } catch (error) {
      return { ...result, ok: false, error: (error as Error).message };
    }
  }

  /** Slack-compatible: `text` is what Slack shows; `alert` is there for other receivers. */
  async #webhook(url: string, alert: Alert, text: AlertText): Promise<AlertChannelResult> {
    const result = { channel: 'webhook', target: redactUrl(url) } as const;
    try {
      const response = await request(url, {
        method: 'POST',
        dispatcher: this.#agent,
        headers: { 'content-type': 'application/json', 'user-agent': 'Switchboard-Alerts' },
        body: JSON.stringify({ text: `${text.subject}\n${text.text}`, alert }),
        signal: AbortSignal.timeout(this.#deps.settings.timeoutMs),
      });
      await response.body.dump();
      const ok = response.statusCode >= 200 && response.statusCode < 300;
      return { ...result, ok, error: ok ? null : `HTTP ${response.statusCode}` };
    } catch (error) {
      return { ...result, ok: false, error: (error as Error).message };
    }
  }
}

/** Webhook URLs often carry their secret in the path (Slack does): keep only scheme and host. */
function redactUrl(url: string): string {
  try {
    const { protocol, host } = new URL(url);
    return `${protocol}//${host}/…`;
  } catch {
    return 'invalid URL';
  }
}
