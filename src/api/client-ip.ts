/**
 * The client address of a request, for rate limits, lockouts and logs.
 *
 * Without trusted proxies (TRUST_PROXY unset, the default) it is the TCP peer, and X-Forwarded-For is ignored: anyone
 * can write that header. With TRUST_PROXY, X-Forwarded-For is read only when the peer is a trusted proxy, from the right
 * (each proxy appends the address it received the request from): the first hop that is not itself a trusted proxy is
 * the client. Hops left of it were written by the client and are never believed.
 */
import type http from 'node:http';
import net from 'node:net';

/** The proxies whose X-Forwarded-For is believed. */
export type TrustedProxies = net.BlockList;

/**
 * Parses a comma-separated list of addresses and CIDR blocks (IPv4 or IPv6). Throws a message naming the first entry
 * that is neither.
 */
export function parseTrustedProxies(list: string): TrustedProxies {
  const blocks = new net.BlockList();
  for (const raw of list.split(',')) {
    const entry = raw.trim();
    if (!entry) continue;
    const slash = entry.indexOf('/');
    const address = slash < 0 ? entry : entry.slice(0, slash);
    const family = net.isIP(address);
    const bits = family === 4 ? 32 : 128;
    const prefix = slash < 0 ? bits : /^\d{1,3}$/.test(entry.slice(slash + 1)) ? Number(entry.slice(slash + 1)) : NaN;
    if (family === 0 || !(prefix >= 0 && prefix <= bits))
      throw new Error(`"${entry}" is not an IP address or CIDR block`);
    blocks.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
  }
  return blocks;
}

/** The address without IPv6 brackets, zone, or IPv4-mapped prefix; undefined if it is not an IP address. */
function normalise(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  let ip = raw.trim();
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  const zone = ip.indexOf('%');
  if (zone >= 0) ip = ip.slice(0, zone);
  if (/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(ip)) ip = ip.slice(7);
  return net.isIP(ip) ? ip : undefined;
}

function isTrusted(trusted: TrustedProxies, ip: string): boolean {
  return trusted.check(ip, net.isIP(ip) === 4 ? 'ipv4' : 'ipv6');
}

/**
 * The client address given the TCP peer and the request's X-Forwarded-For values (all of them, in order). A hop that
 * is not an address ends the walk: the nearest trusted proxy to its right is the best we know.
 */
export function resolveClientIp(
  peer: string | undefined,
  forwardedFor: string[],
  trusted: TrustedProxies | undefined,
): string {
  let client = normalise(peer);
  if (!client) return 'unknown';
  if (!trusted || !isTrusted(trusted, client)) return client;
  const hops = forwardedFor
    .flatMap((value) => value.split(','))
    .map((hop) => hop.trim())
    .filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalise(hops[i]);
    if (!hop) return client;
    client = hop;
    if (!isTrusted(trusted, hop)) return hop;
  }
  return client;
}

type AnyRequest = http.IncomingMessage | Request;

/** The client address of a Node request (a fetch Request has no peer: 'unknown'). */
export function clientIpOf(req: AnyRequest, trusted: TrustedProxies | undefined): string {
  const socket = (req as http.IncomingMessage).socket;
  const headers = (req as http.IncomingMessage).headers;
  let forwarded: string[] = [];
  if (headers && typeof (headers as unknown as Headers).get === 'function') {
    forwarded = [(headers as unknown as Headers).get('x-forwarded-for') ?? ''];
  } else if (headers) {
    // Node joins repeated X-Forwarded-For headers with ", " (in order), so one string holds every hop.
    const value = headers['x-forwarded-for'];
    forwarded = Array.isArray(value) ? value : value ? [value] : [];
  }
  return resolveClientIp(socket?.remoteAddress, forwarded, trusted);
}
