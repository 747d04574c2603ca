/**
 * Engine start against a Binance that does not answer yet (the fake server, through real
 * ccxt): the start waits and tries again on what waiting can fix (5xx, rate limits), gives
 * up at once on what it cannot (bad credentials), and stops waiting when told to.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/log.js';
import { createBinanceExchange } from '../src/engine/exchange/binance/adapter.js';
import { startExchange } from '../src/engine/exchange/start.js';
import { ExchangeError, type Exchange } from '../src/engine/exchange/types.js';
import { startFakeBinance, type FakeBinance } from './helpers/fake-binance.js';
import { waitFor } from './helpers/redis.js';

let fake: FakeBinance | undefined;
let ex: Exchange | undefined;
afterEach(async () => {
  await ex?.stop();
  await fake?.close();
  ex = fake = undefined;
});

async function setup(o: { secret?: string } = {}) {
  fake = await startFakeBinance();
  const lines: string[] = [];
  const log = createLogger({ level: 'info', format: 'json', write: (l) => lines.push(l) });
  const config = loadConfig({ env: { QT_EXCHANGE: 'binance', BINANCE_API_KEY: fake.apiKey, BINANCE_API_SECRET: o.secret ?? fake.secret } });
  ex = await createBinanceExchange(config, log, { fetchImplementation: fake.fetch, enableRateLimit: false });
  return { fake, ex, lines, log };
}

describe('starting the Binance exchange', () => {
  it('waits through 503s and a rate limit, saying so each time, then starts with the markets loaded', async () => {
    const { fake, ex, lines, log } = await setup();
    fake.failNext({ status: 503, path: 'exchangeInfo' });
    fake.failNext({ status: 503, path: 'exchangeInfo' });
    fake.failNext({ status: 429, path: 'exchangeInfo' });
    expect(await startExchange(ex, log, { delaysMs: [5, 10] })).toBe(true);
    const waits = lines.map((l) => JSON.parse(l)).filter((l) => l.level === 40 && /^cannot start/.test(l.msg));
    expect(waits).toHaveLength(3);
    // the 429 itself is logged once by the shared limits (limits.ts)
    expect(lines.filter((l) => /too many requests \(429\)/.test(l))).toHaveLength(1);
    expect(waits[0].msg).toMatch(/cannot start the binance exchange \(exchange_unavailable: .*\); trying again in 0 s/);
    expect(waits[2].msg).toMatch(/rate_limited/);
    expect(lines.some((l) => /answered after 4 tries/.test(l))).toBe(true);
    expect(ex.rules('BTCUSDT')?.minNotional).toBeGreaterThan(0);
    for (const l of lines) for (const s of [fake.apiKey, fake.secret]) expect(l).not.toContain(s);
  });

  it('gives up at once, with the fix, on credentials Binance refuses', async () => {
    const { fake, ex, log } = await setup();
    fake.failNext({ status: 401, code: -2015, msg: 'Invalid API-key, IP, or permissions for action.', path: 'leverageBracket' });
    const e = await startExchange(ex, log, { delaysMs: [5] }).then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(ExchangeError);
    expect((e as ExchangeError).reason).toBe('auth_failed');
    expect(fake.calls.filter((c) => c.path.includes('leverageBracket'))).toHaveLength(1);
  });

  it('refuses to start on an account in hedge mode, saying how to switch; an unknown mode is a warning', async () => {
    const { fake, ex, log, lines } = await setup();
    fake.dualSidePosition = true;
    const e = await startExchange(ex, log, { delaysMs: [5] }).then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(ExchangeError);
    expect((e as Error).message).toMatch(/hedge mode \(dualSidePosition=true\).*one-way/);
    fake.dualSidePosition = false;
    fake.failNext({ status: 404, code: -5000, msg: 'not here', path: 'positionSide/dual' });
    expect(await startExchange(ex, log, { delaysMs: [5] })).toBe(true);
    expect(lines.some((l) => /position mode unknown/.test(l))).toBe(true);
  });

  it('stops waiting when the operator stops the engine', async () => {
    const { fake, ex, log } = await setup();
    for (let i = 0; i < 50; i++) fake.failNext({ status: 503, path: 'exchangeInfo' });
    const stop = new AbortController();
    const started = startExchange(ex, log, { signal: stop.signal, delaysMs: [60_000] });
    // stopped while it waits after the first failed call
    await waitFor(() => fake.calls.some((c) => c.path.includes('exchangeInfo')), 20_000, 'the first exchangeInfo call');
    stop.abort();
    expect(await started).toBe(false);
    expect(fake.calls.filter((c) => c.path.includes('exchangeInfo'))).toHaveLength(1);
  });
});
