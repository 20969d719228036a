// The fuzz's building blocks: odd values, keys, types, IDs, methods and headers.
// prettier-ignore
export const STRINGS = [
  '', ' ', 'null', 'true', '0', 'NaN', '\u0000', '\u0000\u0001\u001f\u007f', '\ud800', '\udfff\ud800', '\u2028\u2029',
  '\ufeff', '\u202e', '😀', 'é', 'ä'.repeat(100), '<script>alert(1)</script>', "' OR '1'='1", '"; DROP TABLE logs; --',
  '../../../../etc/passwd', '..\\..\\windows\\win.ini', '%00', '%2e%2e%2f', '${jndi:ldap://x/a}', '{{7*7}}', '__proto__',
  'constructor', 'prototype', 'toString', 'hasOwnProperty', 'PatientAdmin', 'NewPatient', 'app', 'app2', 'private',
  'nope', 'x'.repeat(300), '\r\n\r\nHTTP/1.1 200 OK', '2024-13-45T99:99:99Z', '1e309',
];
// prettier-ignore
export const KEYS = [
  'Meta', 'DataModel', 'EventType', 'EventDateTime', 'Test', 'Destinations', 'ID', 'Name', 'Source', 'Logs', 'Errors',
  'Message', 'Patient', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', '__defineGetter__', 'then', 'length',
  '', ' ', '0', '\u0000', '😀', 'a.b', '$ref',
];
export const NUMBERS = [0, -1, 1, 0.5, 1e308, -1e308, 5e-324, 2 ** 53 + 1, 1.7976931348623157e308, 42];
// prettier-ignore
export const WRONG_VALUES: unknown[] = [
  null, 0, -1, 1.5, true, false, '', ' ', [], {}, [null], ['PatientAdmin'], { DataModel: 'PatientAdmin' }, { ID: 'app' },
  [{ ID: 7 }], [{}], ['app'], 'x'.repeat(10_000), 1e308,
];
// prettier-ignore
export const META_FIELDS = [
  'DataModel', 'EventType', 'EventDateTime', 'Test', 'Destinations', 'Source', 'Message', 'Transmission', 'Logs',
  'Errors', 'FacilityCode', 'Extensions', 'Meta', 'Destinations[0]', 'Destinations[0].ID',
];
// prettier-ignore
export const POLLUTERS = [
  '"__proto__":{"polluted":"yes","isAdmin":true}', '"\\u005f\\u005fproto__":{"polluted":"yes"}',
  '"__proto__":{"DataModel":"PatientAdmin","EventType":"NewPatient"}', '"constructor":{"prototype":{"polluted":"yes"}}',
  '"constructor":{"prototype":null}', '"prototype":{"polluted":"yes"}', '"__proto__":null', '"__proto__":[]',
  '"constructor":"x"',
];
export const INVALID_UTF8 = [
  [0xff],
  [0xfe, 0xff],
  [0xc0, 0x80],
  [0xc3],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xe2, 0x82],
];
export const JSON_TYPES = [
  'application/json',
  'application/json',
  'application/json; charset=utf-8',
  'Application/JSON',
];
// prettier-ignore
export const WRONG_TYPES = [
  'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml',
  'application/fhir+json', 'application/jsonx', 'json', '*/*', 'application/json, text/plain',
  'application/json; charset=utf-16', `application/${'x'.repeat(3000)}`, 'text/html', '',
];
// prettier-ignore
export const ODD_IDS = [
  '', '.', '..', '%2e%2e', '%2e%2e%2f%2e%2e%2fetc%2fpasswd', '..%2f..%2f..%2fhealthz', '..%5c..%5c', '%00', '%ZZ', '%',
  '%E0%A4%A', '%C0%AE%C0%AE', '%F0%9F%98%80', '%FF%FE', 'a%20b', 'a;b', 'a,b', "a'b", '%3Cscript%3E', '~',
  "!$&()*+=:@'", 'a'.repeat(64), 'a'.repeat(101), 'a'.repeat(3000), 'é', '%u0041', 'null', '0', '-1',
  '999999999999999999999', '00000000-0000-0000-0000-000000000000', '__proto__', 'constructor', 'hasOwnProperty',
];
// prettier-ignore
export const ODD_QUERIES = [
  '', '?', '?x=1', '?__proto__[polluted]=1', '?constructor[prototype][polluted]=1', '?a=%ZZ', '?a=%E0%A4%A',
  '?a[b][c][d][e]=1', `?q=${'x'.repeat(8000)}`, '?a=1&a=2&a=3', '?%00=%00', '?;;;',
];
export const ODD_METHODS = [
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
  'HEAD',
  'GET',
  'POST',
  'PROPFIND',
  'PURGE',
  'QUERY',
];
// prettier-ignore
export const ODD_HEADERS: Record<string, string>[] = [
  { 'idempotency-key': 'k-1' }, { 'idempotency-key': 'k-2' }, { 'idempotency-key': 'x'.repeat(256) },
  { 'idempotency-key': 'a b' }, { 'idempotency-key': 'é' }, { 'x-forwarded-for': '203.0.113.9, 10.0.0.1' },
  { 'content-encoding': 'gzip' }, { 'content-encoding': 'x-junk' }, { accept: 'application/xml' },
  { 'x-http-method-override': 'DELETE' }, { origin: 'https://evil.example' }, { 'x-request-id': 'x'.repeat(4000) },
  { 'x-switchboard-destination': 'private' }, { 'x-switchboard-destination': 'app2' }, { cookie: 'a=b'.repeat(500) },
];

/** Percent-encodes; a lone surrogate (which encodeURIComponent refuses) becomes U+FFFD first. */
export const enc = (text: string): string => encodeURIComponent(text.toWellFormed());
export const form = (params: [string, string][]): string => params.map(([k, v]) => `${k}=${v}`).join('&');
export const json = (value: unknown): string => JSON.stringify(value) ?? 'null';
