// SPDX-License-Identifier: Apache-2.0
// The one way the UI talks to /api: JSON in and out, the Bearer token from the session, and every
// failure turned into an ApiError carrying the API's {code, message, field} (API.md), the HTTP
// status, Retry-After for 429, and code "network" when no answer came at all. errorText() turns
// one into the sentence the user reads. A 401 on a request that carried a token means the session
// ended (expired, logged out elsewhere, role changed): it is cleared here.
import { token, clearSession } from './session.js';

export class ApiError extends Error {
  constructor({ status = 0, code = 'unknown', message = '', field = null, retryAfter = null }) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.field = field;
    this.retryAfter = retryAfter;
  }
}

/* Server clock minus ours, in ms, learnt from Date headers: countdowns to expires_at use it. */
let skewMs = 0;
export function serverNow() {
  return Date.now() + skewMs;
}

function learnSkew(res) {
  const d = Date.parse(res.headers.get('Date') || '');
  if (!Number.isNaN(d)) {
    /* Date has 1 s resolution: only correct offsets clearly larger than that */
    const off = d - Date.now();
    skewMs = Math.abs(off) > 1500 ? off : 0;
  }
}

/**
 * api('/api/events', {query: {q: 'jazz'}}) → parsed JSON (null for 204).
 * Options: method, body (JSON-encoded), query (empty values dropped), idempotencyKey,
 * signal, raw (return the Response itself once it is 2xx: for PDFs), headers, auth (false: send
 * no token, as logging in does).
 */
export async function api(path, opts = {}) {
  const { method = 'GET', body, query, idempotencyKey, signal, raw = false, auth = true } = opts;
  let url = path;
  if (query) {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
    }
    const s = qs.toString();
    if (s) url += (url.includes('?') ? '&' : '?') + s;
  }
  const headers = { Accept: raw ? '*/*' : 'application/json', ...(opts.headers || {}) };
  const tok = auth ? token() : null;
  if (tok) headers.Authorization = `Bearer ${tok}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;

  let res;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: 'no-store',
    });
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError({
      code: 'network',
      message: 'Cannot reach boxoffice. Check your connection and try again.',
    });
  }
  learnSkew(res);
  if (res.ok) {
    if (raw) return res;
    if (res.status === 204) return null;
    const text = await res.text();
    return text ? JSON.parse(text) : null;
  }
  let e = {};
  try {
    const j = await res.json();
    e = (j && j.error) || {};
  } catch {
    /* not JSON (a proxy's page, say): keep the status */
  }
  const retry = res.headers.get('Retry-After');
  const err = new ApiError({
    status: res.status,
    code: e.code || `http_${res.status}`,
    message: e.message || `The server answered ${res.status}.`,
    field: e.field || null,
    retryAfter: retry !== null && /^\d+$/.test(retry) ? Number(retry) : null,
  });
  if (res.status === 401 && tok) clearSession();
  throw err;
}

/** The sentence shown for a failed request. */
export function errorText(err) {
  if (err && err.name === 'AbortError') return '';
  if (!(err instanceof ApiError)) {
    return 'Something went wrong in this page. Reload it and try again.';
  }
  switch (err.code) {
    case 'network':
      return err.message;
    case 'sold_out':
      return 'Sold out: there are not enough tickets left in this tier. Try fewer tickets or another tier.';
    case 'not_on_sale':
      return 'Tickets for this event are not on sale right now.';
    case 'hold_expired':
      return 'Your hold has expired and the tickets went back on sale. Please choose your tickets again.';
    case 'limit_exceeded':
      return `Ticket limit reached: ${err.message}`;
    case 'rate_limited': {
      const s = err.retryAfter;
      return `Too many requests right now. Please wait ${s ? `${s} second${s === 1 ? '' : 's'}` : 'a moment'} and try again.`;
    }
    case 'unauthorized':
      return err.message || 'Please log in again.';
    case 'forbidden':
      return 'Your account is not allowed to do that.';
    case 'unavailable':
    case 'bad_gateway':
    case 'upstream_timeout':
      return 'The service is busy or briefly unavailable. Please try again in a moment.';
    default:
      return err.message || 'The request failed.';
  }
}
