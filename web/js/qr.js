// SPDX-License-Identifier: Apache-2.0
// A QR code as an SVG element, from the vendored qrcode-generator (MIT, web/vendor/). One <path>
// of unit squares on a white background with the standard 4-module quiet zone; the SVG scales
// with CSS, and crispEdges keeps the modules sharp for scanners.
import qrcode from '../vendor/qrcode-generator/qrcode.mjs';
import { svg } from './dom.js';

const QUIET_ZONE_MODULES = 4;

/** qrSvg(text, {ecc: 'M', label}) → <svg role="img"> */
export function qrSvg(text, { ecc = 'M', label = 'QR code' } = {}) {
  const qr = qrcode(0, ecc); // 0: the smallest version that fits
  qr.addData(text, 'Byte');
  qr.make();
  const n = qr.getModuleCount();
  const size = n + 2 * QUIET_ZONE_MODULES;
  let d = '';
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      if (qr.isDark(r, c)) d += `M${c + QUIET_ZONE_MODULES} ${r + QUIET_ZONE_MODULES}h1v1h-1z`;
    }
  }
  return svg(
    'svg',
    {
      xmlns: 'http://www.w3.org/2000/svg',
      viewBox: `0 0 ${size} ${size}`,
      class: 'qr',
      role: 'img',
      'aria-label': label,
      'shape-rendering': 'crispEdges',
      'data-modules': n,
    },
    svg('rect', { width: size, height: size, fill: '#fff' }),
    svg('path', { d, fill: '#000' }),
  );
}
