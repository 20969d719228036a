import assert from 'node:assert/strict';
import { test } from 'node:test';
import { html, queryString, raw } from '../../src/dashboard/html.ts';
import { SessionCodec } from '../../src/dashboard/session.ts';

test('html escapes every interpolated value, nested templates and arrays once', () => {
  const evil = `<img src=x onerror="alert('x')">&\``;
  const out = html`<p title="${evil}">${evil}</p>
    ${[html`<b>${evil}</b>`, 1, null, false]}`.text.replace(/>\s+</g, '><');
  assert.equal(
    out,
    '<p title="&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;&#96;">&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;&#96;</p><b>&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;&#96;</b>1',
  );
  assert.equal(html`${raw('<br>')}`.text, '<br>');
  assert.equal(queryString({ q: 'a&b', empty: '', none: undefined }), '?q=a%26b');
});

test('session cookies: altered, expired or foreign ones read as none; CSRF tokens are per session', () => {
  const codec = new SessionCodec('k'.repeat(43));
  const session = codec.create('digest', 'acme', 1_000);
  const cookie = codec.encode(session);
  assert.deepEqual(codec.decode(cookie, 2_000), session);
  assert.equal(codec.decode(cookie, session.exp + 1), undefined, 'expired');
  const [body, signature] = cookie.split('.');
  const forged = Buffer.from(JSON.stringify({ ...session, orgId: 'other' })).toString('base64url');
  assert.equal(codec.decode(`${forged}.${signature}`, 2_000), undefined, 'altered');
  assert.equal(codec.decode(`${body}.${signature}.x`, 2_000), undefined);
  assert.equal(new SessionCodec('other-key').decode(cookie, 2_000), undefined, 'another key');
  assert.ok(codec.checkCsrf(session, codec.csrfToken(session)));
  assert.ok(!codec.checkCsrf(codec.create('digest', 'acme', 1_000), codec.csrfToken(session)));
  assert.ok(!codec.checkCsrf(session, undefined));
});
