import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { isSealed, keyId, parseSecretKey, SecretBox, SecretKeyError } from '../../src/lib/secret-box.ts';

const key = randomBytes(32);
const older = randomBytes(32);

test('sealed values open with the key, carry its id, and differ every time', () => {
  const box = new SecretBox(key);
  const a = box.seal('whsec_topsecret');
  const b = box.seal('whsec_topsecret');
  assert.notEqual(a, b, 'a fresh IV each time');
  assert.ok(isSealed(a) && a.startsWith(`enc:v1:${keyId(key)}:`));
  assert.ok(!a.includes('topsecret'));
  assert.equal(box.open(a), 'whsec_topsecret');
  assert.equal(box.open('plain-from-before-a-key'), 'plain-from-before-a-key', 'unsealed values are plain');
  assert.ok(box.isCurrent(a));
});

test('rotation: the previous key still opens what it sealed; an unknown or tampered value is refused', () => {
  const before = new SecretBox(older).seal('token-1');
  const rotated = new SecretBox(key, [older]);
  assert.equal(rotated.open(before), 'token-1');
  assert.equal(rotated.isCurrent(before), false, 'sealed anew at the next start');
  assert.throws(() => new SecretBox(key).open(before), SecretKeyError);
  const sealed = rotated.seal('token-2');
  const tampered = `${sealed.slice(0, -3)}${sealed.at(-3) === 'A' ? 'B' : 'A'}${sealed.slice(-2)}`;
  assert.throws(() => rotated.open(tampered), SecretKeyError);
});

test('keys are 32 bytes in base64, base64url or hex; anything else is refused', () => {
  for (const text of [
    key.toString('base64'),
    key.toString('base64url'),
    key.toString('hex'),
    ` ${key.toString('hex')} `,
  ])
    assert.deepEqual(parseSecretKey(text), key);
  for (const text of [
    '',
    'short',
    randomBytes(16).toString('base64'),
    randomBytes(33).toString('hex'),
    'x'.repeat(44),
  ])
    assert.equal(parseSecretKey(text), undefined, text);
});
