/**
 * Every key the engine builds (src/contract/names.ts) shares the slot of a hash-tagged
 * prefix (Redis Cluster spec: only the tag is hashed), and the start-up check
 * (keysOutsideSlot) catches what would not. No server needed: the slot computation itself is
 * checked against CLUSTER KEYSLOT in cluster-engine.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { Names } from '../../src/contract/names.js';
import { engineKeySamples, keySlot, keysOutsideSlot, untaggedPrefixMessage } from '../../src/redis/cluster.js';

/** Every instance method of Names that builds one key (not a pattern, not a classifier). */
function builtKeys(names: Names): { method: string; key: string }[] {
  const out: { method: string; key: string }[] = [];
  for (const m of Object.getOwnPropertyNames(Names.prototype)) {
    if (m === 'constructor') continue;
    const fn = (names as unknown as Record<string, (...a: unknown[]) => unknown>)[m];
    if (typeof fn !== 'function') continue;
    const v = fn.call(names, 'apply.plan', 29_000_000);
    if (typeof v !== 'string' || v.includes('*') || v.startsWith('%')) continue; // patterns and ACL rules
    if (m === 'consumer' || m === 'group' || m === 'shortStreamName') continue; // not keys
    out.push({ method: m, key: v });
  }
  return out;
}

describe('one slot for a hash-tagged prefix', () => {
  it('every key-building method of Names starts with the prefix, so {quantum} puts them all in one slot', () => {
    const names = new Names({ prefix: '{quantum}' });
    const keys = builtKeys(names);
    expect(keys.length).toBeGreaterThan(20);
    for (const { method, key } of keys) {
      expect(key.startsWith('{quantum}:'), `${method} → ${key}`).toBe(true);
      expect(keySlot(key), `${method} → ${key}`).toBe(keySlot('quantum'));
    }
    expect(keysOutsideSlot(names)).toEqual([]);
    expect(new Set(engineKeySamples(names).map(keySlot)).size).toBe(1);
  });

  it('an untagged prefix spreads the keys over slots; a full-key stream override leaves the tagged slot', () => {
    expect(new Set(engineKeySamples(new Names({ prefix: 'quantum' })).map(keySlot)).size).toBeGreaterThan(10);
    const off = keysOutsideSlot(new Names({ prefix: '{quantum}', streamOverrides: { 'apply.plan': 'other:stream:apply.plan' } }));
    expect(off.map((k) => k.key)).toEqual(['other:stream:apply.plan']);
    // a bare override stays under the prefix, and so in the slot
    expect(keysOutsideSlot(new Names({ prefix: '{quantum}', streamOverrides: { 'apply.plan': 'apply.plan.v2' } }))).toEqual([]);
  });

  it('the refusal says what to set', () => {
    expect(untaggedPrefixMessage('quantum')).toMatch(/^QT_PREFIX=quantum has no hash tag.*set QT_PREFIX=\{quantum\}/);
  });
});
