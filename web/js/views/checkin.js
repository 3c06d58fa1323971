// SPDX-License-Identifier: Apache-2.0
// #/checkin (staff or admin): the door. A ticket's QR payload is pasted (or typed by a scanner
// that acts as a keyboard), or read from the camera with BarcodeDetector where the browser has it
// (feature-detected, with getUserMedia), and sent to POST /api/checkins {payload}. The answer is
// shown large: green for admitted, red for already used (with when), revoked or invalid.
import { h, put, when, shortId } from '../dom.js';
import { api } from '../api.js';
import { field, showError, clearErrors } from '../forms.js';

const SCAN_INTERVAL_MS = 250;
const SAME_CODE_PAUSE_MS = 4000;
const HISTORY_MAX = 10;

const RESULTS = {
  admitted: { cls: 'admitted', title: 'Admitted', text: () => 'Valid ticket. Let them in.' },
  already_used: { cls: 'refused', title: 'Already used', text: (c) => (c.first_used_at ? `This ticket was first scanned ${when(c.first_used_at)}. Do not admit.` : 'This ticket was already scanned. Do not admit.') },
  revoked: { cls: 'refused', title: 'Revoked', text: () => 'This ticket was cancelled. Do not admit.' },
  invalid: { cls: 'refused', title: 'Invalid', text: () => 'This is not a valid boxoffice ticket. Do not admit.' },
};

function scannerSupported() {
  return 'BarcodeDetector' in window && !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
}

export default async function checkinView(ctx) {
  const form = h(
    'form',
    { novalidate: true, class: 'checkin-form' },
    field({ label: 'Ticket code', name: 'payload', textarea: true, rows: 3, required: true, hint: 'Paste the code shown under the ticket’s QR code, or scan it.', attrs: { autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off' } }),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary big' }, 'Check in')),
  );
  const result = h('div', { class: 'checkin-result', id: 'checkin-result', role: 'status', 'aria-live': 'assertive', 'aria-atomic': 'true' });
  const history = h('ol', { class: 'checkin-history', reversed: true });
  const video = h('video', { class: 'scanner', playsinline: true, muted: true, hidden: true, 'aria-label': 'Camera preview' });
  const scanBtn = h('button', { type: 'button', class: 'secondary' }, 'Scan with camera');
  const scanMsg = h('p', { class: 'hint', role: 'status' });
  const scanner = scannerSupported()
    ? h('div', { class: 'scanner-box' }, scanBtn, scanMsg, video)
    : h('p', { class: 'hint' }, 'Camera scanning needs a browser with BarcodeDetector (for example Chrome on Android). Paste or type the code instead; a USB or Bluetooth scanner that types works too.');

  put(
    ctx.root,
    h('h1', {}, 'Door check-in'),
    h('div', { class: 'checkin-grid' }, h('div', {}, form, scanner), result),
    h('section', { 'aria-labelledby': 'hist-h' }, h('h2', { id: 'hist-h' }, 'Recent check-ins'), history),
  );

  let inFlight = false;
  async function checkIn(payload) {
    if (inFlight) return;
    inFlight = true;
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    clearErrors(form);
    result.className = 'checkin-result pending';
    put(result, h('p', { class: 'result-title' }, 'Checking…'));
    try {
      const c = await api('/api/checkins', { method: 'POST', body: { payload } });
      const r = RESULTS[c.status] || RESULTS.invalid;
      result.className = `checkin-result ${r.cls}`;
      result.dataset.status = c.status;
      put(
        result,
        h('p', { class: 'result-title' }, r.title),
        h('p', { class: 'result-text' }, r.text(c)),
        c.ticket_id ? h('p', { class: 'mono' }, `Ticket ${shortId(c.ticket_id)}`) : null,
      );
      history.prepend(h('li', { class: r.cls }, `${new Date().toLocaleTimeString()} · ${r.title}${c.ticket_id ? ` · ticket ${shortId(c.ticket_id)}` : ''}`));
      while (history.children.length > HISTORY_MAX) history.lastElementChild.remove();
      form.elements.payload.value = '';
    } catch (err) {
      result.className = 'checkin-result';
      delete result.dataset.status;
      result.replaceChildren();
      showError(form, err, { payload: 'payload' });
    } finally {
      inFlight = false;
      btn.disabled = false;
      if (video.hidden) form.elements.payload.focus();
    }
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const payload = form.elements.payload.value.trim();
    if (!payload) {
      showError(form, { field: 'payload', message: 'Paste or scan a ticket code first.' });
      return;
    }
    checkIn(payload);
  });
  // scanners that "type" end with Enter: submit on Enter, new lines are never part of a code
  form.elements.payload.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      form.requestSubmit();
    }
  });

  if (!scannerSupported()) return;
  let stream = null;
  let timer = null;
  let last = { code: null, at: 0 };
  function stop() {
    clearInterval(timer);
    timer = null;
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    video.hidden = true;
    scanBtn.textContent = 'Scan with camera';
  }
  ctx.onLeave(stop);
  scanBtn.addEventListener('click', async () => {
    if (stream) {
      stop();
      scanMsg.textContent = 'Camera off.';
      return;
    }
    try {
      const formats = await window.BarcodeDetector.getSupportedFormats();
      if (!formats.includes('qr_code')) {
        scanMsg.textContent = 'This browser cannot read QR codes from the camera. Paste the code instead.';
        return;
      }
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
      video.srcObject = stream;
      video.hidden = false;
      await video.play();
      scanBtn.textContent = 'Stop camera';
      scanMsg.textContent = 'Point the camera at the ticket’s QR code.';
      const detector = new window.BarcodeDetector({ formats: ['qr_code'] });
      timer = setInterval(async () => {
        if (inFlight || video.readyState < 2) return;
        try {
          const codes = await detector.detect(video);
          const code = codes.length ? codes[0].rawValue : null;
          if (!code) return;
          const now = Date.now();
          if (code === last.code && now - last.at < SAME_CODE_PAUSE_MS) return;
          last = { code, at: now };
          checkIn(code);
        } catch {
          /* a frame that could not be read: try the next */
        }
      }, SCAN_INTERVAL_MS);
    } catch (err) {
      stop();
      scanMsg.textContent = err && err.name === 'NotAllowedError' ? 'Camera access was refused. Allow it in the browser settings, or paste the code.' : `The camera could not start (${err && err.message ? err.message : err}). Paste the code instead.`;
    }
  });
}
