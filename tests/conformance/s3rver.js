// SPDX-License-Identifier: Apache-2.0
// Starts s3rver (from tests/node_modules, pinned in tests/package.json) on 127.0.0.1:PORT with its
// files in DIR and BUCKET created, for the object-store conformance suite:
//   NODE_OPTIONS=--openssl-legacy-provider node s3rver.js PORT DIR BUCKET [REGION]
// (s3rver's list continuation tokens use DES, which OpenSSL 3 keeps in its legacy provider.)
// Three things make the emulator as strict as S3 where the suite needs it:
//  - s3rver does not check SigV4 signatures; a front here does, as S3 does (canonical request from
//    the raw path and query, the signed headers, x-amz-content-sha256), and answers 403
//    SignatureDoesNotMatch otherwise; the access key is S3RVER, the secret S3RVER;
//  - s3rver writes an object in place, so a reader can see half of it; here a put goes to a
//    temporary file renamed over the object, as atomic as S3, and the body's SHA-256 must match
//    x-amz-content-sha256 (400 XAmzContentSHA256Mismatch), as on S3;
//  - s3rver lists keys in the order of its file names; here in byte order of the keys, as S3.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const path = require('path');

const [portArg, dir, bucket, region = 'us-east-1'] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || port < 1 || port > 65535 || !dir || !bucket) {
  console.error('usage: node s3rver.js PORT DIR BUCKET [REGION]');
  process.exit(2);
}
let S3rver, FilesystemStore, S3Error;
try {
  S3rver = require('s3rver');
  FilesystemStore = require('s3rver/lib/stores/filesystem');
  S3Error = require('s3rver/lib/models/error');
} catch (e) {
  console.error('s3rver is not installed in tests/node_modules: run scripts/deps.sh --test');
  process.exit(3);
}

const SECRETS = {S3RVER: 'S3RVER'};
const EMPTY_SHA256 = crypto.createHash('sha256').digest('hex');
const CLOCK_SKEW_MS = 15 * 60 * 1000;

// Writes data (a Buffer or a stream) to a temporary name next to file, then renames it there.
function writeAtomic(file, data, hashes) {
  const tmp = `${file}.tmp-${crypto.randomBytes(8).toString('hex')}`;
  return new Promise((resolve, reject) => {
    const out = fs.createWriteStream(tmp);
    out.on('error', reject);
    out.on('finish', () => resolve(tmp));
    if (Buffer.isBuffer(data) || typeof data === 'string') {
      hashes.forEach((h) => h.update(data));
      out.end(data);
    } else {
      data.on('error', reject);
      data.on('data', (chunk) => hashes.forEach((h) => h.update(chunk)));
      data.pipe(out);
    }
  });
}

FilesystemStore.prototype.putObject = async function putObject(object) {
  const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
  await fs.promises.mkdir(path.dirname(objectPath), {recursive: true});
  const md5 = crypto.createHash('md5');
  const sha = crypto.createHash('sha256');
  let size = 0;
  const counter = {update: (chunk) => (size += chunk.length)};
  const tmp = await writeAtomic(objectPath, object.content, [md5, sha, counter]);
  const declared = object.content.headers && object.content.headers['x-amz-content-sha256'];
  if (/^[0-9a-f]{64}$/.test(declared || '') && declared !== sha.digest('hex')) {
    await fs.promises.unlink(tmp);
    const err = new S3Error(
      'XAmzContentSHA256Mismatch',
      "The provided 'x-amz-content-sha256' header does not match what was computed.",
    );
    err.status = 400;
    err.expose = true;
    throw err;
  }
  await fs.promises.rename(tmp, objectPath);
  const md5Hex = md5.digest('hex');
  await this.putMetadata(object.bucket, object.key, object.metadata, md5Hex);
  return {size, md5: md5Hex};
};

FilesystemStore.prototype.putMetadata = async function (bucket, key, metadata, md5) {
  // s3rver's own version rewrites both files in place; these renames keep readers whole
  const metadataPath = this.getResourcePath(bucket, key, 'metadata.json');
  const md5Path = this.getResourcePath(bucket, key, 'object.md5');
  const json = {};
  for (const [k, v] of Object.entries(metadata)) {
    if (k === 'content-type' || k === 'cache-control' || k === 'content-disposition' ||
        k === 'content-encoding' || k === 'content-language' || k === 'expires' ||
        k.startsWith('x-amz-meta-')) {
      json[k] = v;
    }
  }
  if (md5) {
    await fs.promises.rename(await writeAtomic(md5Path, md5, []), md5Path);
  }
  const body = JSON.stringify(json, null, 2);
  await fs.promises.rename(await writeAtomic(metadataPath, body, []), metadataPath);
};

// s3rver lists in the order of its file names ("a/b" before "a-b", "a-b" before "a"); S3 lists
// in byte order of the keys, which is what the suite checks paging against.
FilesystemStore.prototype.listObjects = async function listObjects(bucket, options) {
  const {delimiter = '', startAfter = '', prefix = '', maxKeys = Infinity} = options;
  const suffix = '._S3rver_object';
  const keys = [];
  const walk = (dirPath, rel) => {
    let names = [];
    try {
      names = fs.readdirSync(dirPath);
    } catch (e) {
      return; // removed meanwhile
    }
    for (const name of names) {
      let st;
      try {
        st = fs.statSync(path.join(dirPath, name));
      } catch (e) {
        continue;
      }
      if (st.isDirectory()) {
        walk(path.join(dirPath, name), `${rel}${name}/`);
      } else if (name.endsWith(suffix)) {
        keys.push(rel + name.slice(0, -suffix.length));
      }
    }
  };
  walk(this.getBucketPath(bucket), '');
  const cmp = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));
  keys.sort(cmp);
  const commonPrefixes = new Set();
  const page = [];
  let isTruncated = false;
  for (const key of keys) {
    if (!key.startsWith(prefix) || cmp(key, startAfter) <= 0) continue;
    const cut = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
    if (cut >= 0) {
      commonPrefixes.add(key.slice(0, cut + delimiter.length));
      continue;
    }
    if (page.length === maxKeys) {
      isTruncated = true;
      break;
    }
    page.push(key);
  }
  const metadata = await Promise.all(
    page.map((key) => this.getMetadata(bucket, key).catch((err) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    })),
  );
  const S3Object = require('s3rver/lib/models/object');
  return {
    objects: page
      .map((key, i) => [key, metadata[i]])
      .filter(([, m]) => m !== undefined)
      .map(([key, m]) => new S3Object(bucket, key, null, m)),
    commonPrefixes: [...commonPrefixes].sort(),
    isTruncated,
  };
};

// RFC 3986 encoding, as SigV4 canonicalises every path segment, query name and value.
function uriEncode(s) {
  return encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase(),
  );
}

function hmac(key, data) {
  return crypto.createHmac('sha256', key).update(data, 'utf8').digest();
}

// null when req carries a valid SigV4 signature for S3; otherwise [code, message].
function checkSignature(req) {
  const auth = req.headers['authorization'];
  if (!auth) return ['AccessDenied', 'unsigned request'];
  const m = /^AWS4-HMAC-SHA256 Credential=([^/,]+)\/(\d{8})\/([^/,]+)\/([^/,]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(
    auth,
  );
  if (!m) return ['AuthorizationHeaderMalformed', `malformed Authorization: ${auth}`];
  const [, accessKey, date, scopeRegion, service, signedList, signature] = m;
  const secret = SECRETS[accessKey];
  if (secret === undefined) return ['InvalidAccessKeyId', `unknown access key ${accessKey}`];
  if (service !== 's3' || scopeRegion !== region) {
    return ['AuthorizationHeaderMalformed', `scope ${scopeRegion}/${service}, want ${region}/s3`];
  }
  const amzDate = req.headers['x-amz-date'] || '';
  const t = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!t || !amzDate.startsWith(date)) return ['AccessDenied', `bad x-amz-date "${amzDate}"`];
  const when = Date.UTC(+t[1], +t[2] - 1, +t[3], +t[4], +t[5], +t[6]);
  if (Math.abs(Date.now() - when) > CLOCK_SKEW_MS) return ['RequestTimeTooSkewed', amzDate];
  const payload = req.headers['x-amz-content-sha256'];
  if (!payload) return ['InvalidRequest', 'missing x-amz-content-sha256'];
  if (req.method !== 'PUT' && req.method !== 'POST' && payload !== EMPTY_SHA256 &&
      payload !== 'UNSIGNED-PAYLOAD') {
    return ['XAmzContentSHA256Mismatch', `${req.method} without a body declares ${payload}`];
  }
  const signed = signedList.split(';');
  const sorted = [...signed].sort();
  if (signed.join(';') !== sorted.join(';')) return ['SignatureDoesNotMatch', 'unsorted'];
  for (const need of ['host', 'x-amz-date', 'x-amz-content-sha256']) {
    if (!signed.includes(need)) return ['AccessDenied', `${need} is not signed`];
  }
  for (const name of Object.keys(req.headers)) {
    if (name.startsWith('x-amz-') && !signed.includes(name)) {
      return ['AccessDenied', `${name} is sent but not signed`];
    }
  }
  const headerLines = [];
  for (const name of signed) {
    const value = req.headers[name];
    if (value === undefined) return ['AccessDenied', `signed header ${name} is not sent`];
    headerLines.push(`${name}:${String(value).trim().replace(/\s+/g, ' ')}\n`);
  }
  const q = req.url.indexOf('?');
  const rawPath = q < 0 ? req.url : req.url.slice(0, q);
  const rawQuery = q < 0 ? '' : req.url.slice(q + 1);
  let canonicalUri, canonicalQuery;
  try {
    canonicalUri = rawPath
      .split('/')
      .map((seg) => uriEncode(decodeURIComponent(seg)))
      .join('/');
    canonicalQuery = rawQuery === ''
      ? ''
      : rawQuery
          .split('&')
          .map((p) => {
            const i = p.indexOf('=');
            const name = i < 0 ? p : p.slice(0, i);
            const value = i < 0 ? '' : p.slice(i + 1);
            return [uriEncode(decodeURIComponent(name)), uriEncode(decodeURIComponent(value))];
          })
          .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
          .map(([n, v]) => `${n}=${v}`)
          .join('&');
  } catch (e) {
    return ['InvalidURI', `cannot decode ${req.url}`];
  }
  const canonical = [req.method, canonicalUri, canonicalQuery, headerLines.join(''), signedList,
    payload].join('\n');
  const scope = `${date}/${region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope,
    crypto.createHash('sha256').update(canonical, 'utf8').digest('hex')].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), 's3'), 'aws4_request');
  const want = hmac(key, toSign).toString('hex');
  if (want !== signature) {
    return ['SignatureDoesNotMatch', `canonical request:\n${canonical}`];
  }
  return null;
}

function refuse(req, res, code, message) {
  const status = code === 'InvalidURI' || code === 'InvalidRequest' ||
    code === 'AuthorizationHeaderMalformed' || code === 'XAmzContentSHA256Mismatch' ? 400 : 403;
  console.error(`refused ${req.method} ${req.url}: ${code}: ${message}`);
  const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const body = '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>${esc(message.split('\n')[0])}</Message></Error>`;
  res.writeHead(status, {'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body)});
  res.end(req.method === 'HEAD' ? undefined : body);
  req.resume();
}

const app = new S3rver({
  directory: dir,
  silent: true,
  vhostBuckets: false,
  configureBuckets: [{name: bucket, configs: []}],
});
app.on('error', (e) => console.error('s3rver: ' + (e && e.stack ? e.stack : e)));
app
  .configureBuckets()
  .then(() => {
    const handle = app.callback();
    const server = http.createServer((req, res) => {
      const refusal = checkSignature(req);
      if (refusal) {
        refuse(req, res, refusal[0], refusal[1]);
        return;
      }
      handle(req, res);
    });
    server.on('error', (e) => {
      console.error('s3rver: ' + e.message);
      process.exit(1);
    });
    server.listen(port, '127.0.0.1', () => {
      const version = require('s3rver/package.json').version;
      console.log(`s3rver ${version} on 127.0.0.1:${port}, bucket ${bucket}, files in ${dir}`);
    });
    process.on('SIGTERM', () => {
      server.close(() => process.exit(0));
      server.closeAllConnections();
    });
  })
  .catch((e) => {
    console.error('s3rver: ' + e.message);
    process.exit(1);
  });
