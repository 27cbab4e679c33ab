/** A real SMTP server on a free local port that keeps what it receives: the service's mails, as a person would get them. */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { eventually } from './wait.js';

export interface ReceivedMail {
  from: string;
  to: string[];
  subject: string;
  /** The decoded text body. */
  text: string;
}

export interface Mailbox {
  /** SMTP_URL for the service. */
  url: string;
  mails: ReceivedMail[];
  /** Mails to an address, oldest first. */
  to(address: string): ReceivedMail[];
  /** Waits for the `count`-th mail to an address (1: the first) and returns it. */
  waitFor(address: string, count?: number): Promise<ReceivedMail>;
  close(): Promise<void>;
}

/** The first match of `pattern` in the mail's text (a token or link), or a failure naming what was there. */
export function extract(mail: ReceivedMail, pattern: RegExp): string {
  const match = pattern.exec(mail.text);
  if (!match) throw new Error(`no ${pattern} in mail "${mail.subject}":\n${mail.text}`);
  return match[1] ?? match[0];
}

function decodeQuotedPrintable(body: string): string {
  const bytes = body
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/** A single-part text message as nodemailer writes it: headers, blank line, body in 7bit, quoted-printable or base64. */
function parse(raw: string, envelope: { from: string; to: string[] }): ReceivedMail {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ');
  const body = raw.slice(split + 4);
  const header = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(head)?.[1]?.trim() ?? '';
  const encoding = header('Content-Transfer-Encoding').toLowerCase();
  const text =
    encoding === 'quoted-printable'
      ? decodeQuotedPrintable(body)
      : encoding === 'base64'
        ? Buffer.from(body, 'base64').toString('utf8')
        : body;
  return { ...envelope, subject: header('Subject'), text: text.replace(/\r\n/g, '\n').trimEnd() };
}

export async function startMailbox(): Promise<Mailbox> {
  const mails: ReceivedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const envelope = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
        };
        mails.push(parse(Buffer.concat(chunks).toString('latin1'), envelope));
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  const to = (address: string) => mails.filter((m) => m.to.includes(address.toLowerCase()));
  let closed: Promise<void> | undefined;
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    to,
    waitFor: async (address, count = 1) =>
      (
        await eventually(
          () => to(address),
          (m) => m.length >= count,
          10_000,
        )
      )[count - 1]!,
    close: () => (closed ??= new Promise<void>((resolve) => server.close(() => resolve()))),
  };
}
