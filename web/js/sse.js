// SPDX-License-Identifier: Apache-2.0
// Server-Sent Events over fetch(): EventSource cannot send an Authorization header, so the
// stream is read from response.body and parsed here as the HTML standard describes (fields
// event/data/id/retry, ":" comments, CR, LF or CRLF line ends, one event per blank line).
// After a drop it reconnects with the Last-Event-ID header, waiting the server's retry: delay,
// doubled per failed attempt (at most RECONNECT_MAX_MS, with jitter); a 401/403 ends it. A stream
// silent for SILENCE_MAX_MS (no data, no heartbeat comment) counts as dropped.
import { token } from './session.js';

const RECONNECT_MAX_MS = 30000;
const SILENCE_MAX_MS = 75000;

/**
 * openStream('/api/analytics/stream', {onEvent({event, data, id}), onState(state, detail)})
 * state: "connecting" | "open" | "retrying" (detail.delayMs, detail.reason) | "closed" (detail.reason)
 * → {close()}
 */
export function openStream(path, { onEvent, onState = () => {} }) {
  let lastId = null;
  let retryMs = 1000;
  let attempt = 0;
  let closed = false;
  let ctl = null;
  let sleepTimer = null;

  async function connectOnce() {
    ctl = new AbortController();
    const headers = { Accept: 'text/event-stream' };
    const tok = token();
    if (tok) headers.Authorization = `Bearer ${tok}`;
    if (lastId !== null) headers['Last-Event-ID'] = lastId;
    onState('connecting', {});
    const res = await fetch(path, { headers, signal: ctl.signal, cache: 'no-store' });
    if (res.status === 401 || res.status === 403) {
      const e = new Error(res.status === 401 ? 'Your session has ended. Log in again.' : 'This account may not read the sales stream.');
      e.fatal = true;
      throw e;
    }
    const type = res.headers.get('Content-Type') || '';
    if (!res.ok || !type.includes('text/event-stream') || !res.body) {
      let msg = `the server answered ${res.status}`;
      try {
        const j = await res.json();
        if (j && j.error && j.error.message) msg = j.error.message;
      } catch {
        /* not JSON */
      }
      throw new Error(msg);
    }
    onState('open', {});
    const reader = res.body.getReader();
    const decoder = new TextDecoder('utf-8');
    let buf = '';
    let ev = { event: '', data: [], id: null };
    let watchdog = setTimeout(() => ctl.abort(), SILENCE_MAX_MS);
    const pet = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => ctl.abort(), SILENCE_MAX_MS);
    };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        pet();
        buf += decoder.decode(value, { stream: true });
        // complete lines only; a trailing lone CR may be the first half of CRLF, keep it
        let m;
        const re = /\r\n|\r(?!$)|\n/g;
        let start = 0;
        while ((m = re.exec(buf)) !== null) {
          line(buf.slice(start, m.index));
          start = m.index + m[0].length;
        }
        buf = buf.slice(start);
      }
    } finally {
      clearTimeout(watchdog);
    }

    function line(l) {
      if (l === '') {
        if (ev.id !== null) lastId = ev.id;
        if (ev.data.length) {
          attempt = 0;
          const data = ev.data.join('\n');
          try {
            onEvent({ event: ev.event || 'message', data, id: lastId });
          } catch (err) {
            console.error('sse handler', err);
          }
        }
        ev = { event: '', data: [], id: null };
        return;
      }
      if (l.startsWith(':')) return; // comment / heartbeat
      const colon = l.indexOf(':');
      const name = colon < 0 ? l : l.slice(0, colon);
      let value = colon < 0 ? '' : l.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (name === 'event') ev.event = value;
      else if (name === 'data') ev.data.push(value);
      else if (name === 'id') {
        if (!value.includes('\0')) ev.id = value;
      } else if (name === 'retry' && /^\d+$/.test(value)) retryMs = Number(value);
    }
  }

  async function run() {
    while (!closed) {
      let reason = 'the stream ended';
      try {
        await connectOnce();
      } catch (err) {
        if (closed) return;
        if (err.fatal) {
          onState('closed', { reason: err.message });
          return;
        }
        reason = err.name === 'AbortError' ? 'no data for a while' : err.message || 'network error';
      }
      if (closed) return;
      const base = Math.min(RECONNECT_MAX_MS, retryMs * 2 ** Math.min(attempt, 10));
      const delayMs = Math.round(base / 2 + Math.random() * (base / 2));
      attempt++;
      onState('retrying', { delayMs, reason });
      await new Promise((resolve) => {
        sleepTimer = setTimeout(resolve, delayMs);
      });
    }
  }
  run();

  return {
    close() {
      closed = true;
      clearTimeout(sleepTimer);
      if (ctl) ctl.abort();
    },
  };
}
