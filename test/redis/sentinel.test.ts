/**
 * Redis Sentinel configuration and connections (issue 19): QT_REDIS_SENTINELS /
 * QT_REDIS_MASTER_NAME and the redis+sentinel:// URL, their one-line errors, passwords
 * never shown; connections through real sentinels (test/helpers/redis-sentinel.ts); WAIT
 * confirmation (src/redis/replication.ts) refusing writes a replica does not have; and a
 * command in flight when a no-resend connection drops is rejected, not left hanging.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, redactedConfig } from '../../src/config/config.js';
import { redactUrl, scrub } from '../../src/config/redact.js';
import { UnavailableError, UsageError } from '../../src/errors.js';
import { connectRedis, dbOfUrl, describeRedisError, failUnfulfilledOnReconnect, newRedis, reconnectOnError, redisOptions } from '../../src/redis/connect.js';
import { ReplicaWaitError, ReplicatedWrites } from '../../src/redis/replication.js';
import { parseSentinelUrl } from '../../src/redis/sentinel.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/redis.js';
import { SentinelDeployment } from '../helpers/redis-sentinel.js';
import { Names } from '../../src/contract/names.js';
import { intentFields } from '../reliability/harness.js';

const problems = (env: Record<string, string>): string[] => {
  try {
    loadConfig({ env });
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    // configError: the first problem is the message (one line), the rest follow as lines
    const u = e as UsageError;
    return [u.message.replace(/ \(and \d+ more problems?:\)$/, ''), ...u.lines];
  }
  return [];
};

describe('Sentinel configuration', () => {
  it('QT_REDIS_SENTINELS builds a sentinel URL with REDIS_URL\'s user, password and database, and WAIT for 1 replica', () => {
    const c = loadConfig({ env: { QT_REDIS_SENTINELS: '10.0.0.1:26379, 10.0.0.2:26380,[::1]:26381', REDIS_URL: 'redis://qt:s3cretPW@ignored:6379/2', QT_REDIS_SENTINEL_PASSWORD: 'sentPW99' } });
    const t = parseSentinelUrl(c.redisUrl);
    expect(t.sentinels).toEqual([{ host: '10.0.0.1', port: 26379 }, { host: '10.0.0.2', port: 26380 }, { host: '::1', port: 26381 }]);
    expect(t.masterName).toBe('mymaster');
    expect([t.username, t.password, t.sentinelPassword, t.db]).toEqual(['qt', 's3cretPW', 'sentPW99', 2]);
    expect(dbOfUrl(c.redisUrl)).toBe(2);
    expect(c.redisWait).toEqual({ replicas: 1, timeoutMs: 1000 });
    const shown = JSON.stringify(redactedConfig(c)) + JSON.stringify(c.effective);
    expect(shown).not.toMatch(/s3cretPW|sentPW99/);
    expect(scrub(`failed at ${c.redisUrl}`)).not.toMatch(/s3cretPW|sentPW99/);
  });

  it('a redis+sentinel:// REDIS_URL is taken as is; a plain URL keeps WAIT off unless asked', () => {
    const c = loadConfig({ env: { REDIS_URL: 'redis+sentinel://:pw12345@s1:26379,s2/prod-master/3?sentinel_password=sp12345' } });
    const t = parseSentinelUrl(c.redisUrl);
    expect([t.masterName, t.db, t.password, t.sentinelPassword, t.sentinels.length, t.sentinels[1]!.port]).toEqual(['prod-master', 3, 'pw12345', 'sp12345', 2, 26379]);
    expect(redactUrl(c.redisUrl)).toBe('redis+sentinel://:***@s1:26379,s2/prod-master/3?sentinel_password=***');
    expect(loadConfig({ env: {} }).redisWait.replicas).toBe(0);
    expect(loadConfig({ env: { QT_REDIS_WAIT_REPLICAS: '2' } }).redisWait.replicas).toBe(2);
    expect(loadConfig({ env: { REDIS_URL: 'redis+sentinel://s1:26379/m', QT_REDIS_WAIT_REPLICAS: '0' } }).redisWait.replicas).toBe(0);
  });

  it('bad values: one line each, naming the variable, never a password', () => {
    expect(problems({ QT_REDIS_SENTINELS: '10.0.0.1:99999' })).toEqual([expect.stringMatching(/^QT_REDIS_SENTINELS: expected host:port\[,host:port…\] of the sentinels: .*port 99999/)]);
    expect(problems({ QT_REDIS_SENTINELS: 'a:1,,b:2' })[0]).toMatch(/^QT_REDIS_SENTINELS: .*empty entry/);
    expect(problems({ REDIS_URL: 'redis+sentinel://:topSecret1@h:26379' })).toEqual([expect.stringMatching(/^REDIS_URL: expected redis\+sentinel:\/\/.*master_name/)]);
    expect(problems({ REDIS_URL: 'redis+sentinel://:topSecret1@h:26379' }).join('\n')).not.toMatch(/topSecret1/);
    expect(problems({ REDIS_URL: 'redis+sentinel://h:26379/m/x' })[0]).toMatch(/^REDIS_URL: the database after the master name must be a number/);
    expect(problems({ REDIS_URL: 'redis+sentinel://h:26379/m', QT_REDIS_SENTINELS: 'h:26379' })).toEqual(['QT_REDIS_SENTINELS: set either it or a redis+sentinel:// REDIS_URL, not both']);
    expect(problems({ REDIS_URL: 'redis+sentinel://h:26379/m', QT_REDIS_MASTER_NAME: 'other' })[0]).toMatch(/^QT_REDIS_MASTER_NAME: "other" differs from the master name in REDIS_URL/);
    expect(problems({ QT_REDIS_SENTINEL_PASSWORD: 'lonelyPW1' })).toEqual(['QT_REDIS_SENTINEL_PASSWORD: set without QT_REDIS_SENTINELS (or a redis+sentinel:// REDIS_URL)']);
    expect(problems({ QT_REDIS_SENTINELS: 'h:1', QT_REDIS_MASTER_NAME: 'has space' })[0]).toMatch(/^QT_REDIS_MASTER_NAME: expected the master group name/);
    expect(problems({ QT_REDIS_WAIT_REPLICAS: '-1' })[0]).toMatch(/^QT_REDIS_WAIT_REPLICAS: expected a whole number from 0 to 16/);
  });

  it('engine connections reconnect (asking the sentinels again) on READONLY and LOADING, not on other errors', () => {
    const o = redisOptions({ url: 'redis+sentinel://127.0.0.1:26379/mymaster', role: 'worker' });
    expect(o.reconnectOnError).toBe(reconnectOnError);
    expect(reconnectOnError(new Error("READONLY You can't write against a read only replica."))).toBe(true);
    expect(reconnectOnError(new Error('LOADING Redis is loading the dataset in memory'))).toBe(true);
    expect(reconnectOnError(new Error('WRONGTYPE Operation against a key holding the wrong kind of value'))).toBe(false);
    expect(o.sentinels).toEqual([{ host: '127.0.0.1', port: 26379 }]);
    expect(o.name).toBe('mymaster');
    expect(redisOptions({ url: 'redis+sentinel://127.0.0.1:26379/mymaster', role: 'cli' }).sentinelRetryStrategy!(1)).toBeNull();
  });

  it('says in one line that no sentinel named a primary', () => {
    expect(describeRedisError(new Error('All sentinels are unreachable and retry is disabled. Last error: connect ECONNREFUSED 127.0.0.1:1'))).toBe(
      'no sentinel named a reachable primary (last error: connection refused (is redis-server running?)); check the sentinels\' host:port and the master name',
    );
  });
});

describe('a connection that does not resend', () => {
  it('rejects a command in flight when the connection drops, instead of leaving it unsettled', async () => {
    const server = await startRedisServer();
    const r = failUnfulfilledOnReconnect(newRedis(server.url, { ...redisOptions({ url: server.url, role: 'worker' }), lazyConnect: false, autoResendUnfulfilledCommands: false }));
    r.on('error', () => undefined);
    try {
      await r.ping();
      const inFlight = r.blpop('never-pushed', 0); // answered only by a push: in flight when the server dies
      const settled = inFlight.then(() => 'resolved', (e: Error) => e.message);
      await server.restart();
      expect(await settled).toMatch(/Connection is closed \(the command was in flight and is not resent/);
      expect(await r.ping()).toBe('PONG'); // and the connection itself came back
    } finally {
      r.disconnect();
      await server.stop('SIGKILL');
    }
  });
});

describe('through real sentinels', () => {
  let d: SentinelDeployment;
  beforeAll(async () => {
    d = await SentinelDeployment.start();
  }, 120_000);
  afterAll(async () => {
    await d?.stop();
  });

  it('connects to the primary the sentinels name; a wrong master name fails in one line', async () => {
    const r = await connectRedis({ url: d.url(), role: 'cli' });
    try {
      const port = Number(/tcp_port:(\d+)/.exec(await r.info('server'))?.[1]);
      expect(port).toBe(await d.masterPort());
      expect(/role:master/.test(await r.info('replication'))).toBe(true);
    } finally {
      r.disconnect();
    }
    const wrong = d.url().replace('/mymaster', '/nosuchmaster').replace('redis+sentinel://', 'redis+sentinel://:hidden99@');
    const e = await connectRedis({ url: wrong, role: 'cli' }).then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(UnavailableError);
    expect((e as Error).message).toMatch(/^cannot reach Redis master nosuchmaster via sentinels 127\.0\.0\.1:\d+,.*: no sentinel named a reachable primary/);
    expect((e as Error).message).not.toMatch(/hidden99|\n/);
  });

  it('WAIT confirms a write on the replica, and refuses when the replica is cut off or the connection changed', async () => {
    const conn = failUnfulfilledOnReconnect(newRedis(d.url(), { ...redisOptions({ url: d.url(), role: 'worker' }), lazyConnect: false, autoResendUnfulfilledCommands: false }));
    conn.on('error', () => undefined);
    const w = new ReplicatedWrites(conn, 1, 300);
    try {
      let m = w.mark();
      await conn.set('sentinel-test:a', '1');
      expect(await w.confirm(m, 'a')).toBe(1);
      // the replica's copy
      const primary = await d.masterPort();
      const replica = d.nodes.find((n) => n.port !== primary)!.port;
      expect(await d.client(replica).get('sentinel-test:a')).toBe('1');
      await d.cutReplica(replica, primary);
      try {
        m = w.mark();
        await conn.set('sentinel-test:b', '1');
        await expect(w.confirm(m, 'order x')).rejects.toThrow(ReplicaWaitError);
        await expect(w.confirm(m, 'order x')).rejects.toThrow(/^order x: on 0 of the 1 replica\(s\) QT_REDIS_WAIT_REPLICAS asks for within 300 ms/);
      } finally {
        d.resume(replica);
      }
      // The replica reconnects and catches up (partial resync): confirmed again.
      m = w.mark();
      await conn.set('sentinel-test:c', '1');
      let n = 0;
      for (let i = 0; i < 200 && n < 1; i++) n = await w.confirm(m, 'c').catch(() => 0);
      expect(n).toBe(1);
      // A lost connection between the write and the WAIT: never confirmed.
      m = w.mark();
      await conn.set('sentinel-test:d', '1');
      conn.disconnect(true);
      await expect(w.confirm(m, 'd')).rejects.toThrow(/connection was lost/);
    } finally {
      conn.disconnect();
    }
  });

  it('follows a failover that demotes a live primary (SENTINEL FAILOVER): writes go on, on the new primary', async () => {
    const conn = newRedis(d.url(), { ...redisOptions({ url: d.url(), role: 'worker' }), lazyConnect: false });
    conn.on('error', () => undefined);
    const portOf = async () => Number(/tcp_port:(\d+)/.exec(await conn.info('server'))?.[1]);
    try {
      const before = await d.masterPort();
      await conn.set('sentinel-test:demote', '0');
      expect(await portOf()).toBe(before);
      await d.client(d.sentinels[0]!.port).call('SENTINEL', 'FAILOVER', d.masterName);
      const after = await d.awaitFailoverFrom(before);
      // Writes go on through the same client and land on the new primary.
      await waitFor(async () => {
        await conn.set('sentinel-test:demote', String(Date.now())).catch(() => undefined);
        return (await portOf()) === after;
      }, 60_000, 'the client on the new primary');
      expect(await conn.set('sentinel-test:demote', 'done')).toBe('OK');
      expect(await d.client(after).get('sentinel-test:demote')).toBe('done');
    } finally {
      conn.disconnect();
    }
  });

  it.runIf(existsSync('dist/cli.js'))('qt health and qt config show go through the sentinels and print no password', async () => {
    const names = new Names({ prefix: 'qt-test-sentinel-health' });
    const r = await connectRedis({ url: d.url(), role: 'cli' });
    await r.xadd(names.stream('trade.intent'), '*', ...Object.entries(intentFields(0, 'h')).flat());
    r.disconnect();
    const base: NodeJS.ProcessEnv = { ...process.env };
    for (const k of Object.keys(base)) if (k.startsWith('QT_') || k === 'REDIS_URL') delete base[k];
    const env = { ...base, NO_COLOR: '1', QT_REDIS_SENTINELS: d.sentinelList(), QT_PREFIX: 'qt-test-sentinel-health' };
    const h = spawnSync(process.execPath, ['dist/cli.js', 'health'], { env, encoding: 'utf8' });
    expect(h.stdout + h.stderr).toMatch(/^qt health: (OK|WARN|CRIT)/m);
    expect(h.stdout + h.stderr).not.toMatch(/cannot reach|UNKNOWN/);
    expect([0, 1, 2]).toContain(h.status);
    const c = spawnSync(process.execPath, ['dist/cli.js', 'config', 'show'], { env: { ...env, QT_REDIS_SENTINEL_PASSWORD: 'neverShown77', REDIS_URL: 'redis://:alsoHidden88@x:6379' }, encoding: 'utf8' });
    expect(c.stdout + c.stderr).toMatch(/redis\+sentinel:\/\//);
    expect(c.stdout + c.stderr).not.toMatch(/neverShown77|alsoHidden88/);
  });
});
