/**
 * `qt kill-switch on --reason TEXT | off [--reason TEXT] | status`: the kill switch
 * (`control:kill_switch`): while on, entries are rejected `kill_switch`; exits still pass.
 * Each change is also recorded on `risk.proposal`.
 */
import type { Redis } from 'ioredis';
import { encode } from '../contract/messages.js';
import type { Names } from '../contract/names.js';
import { UsageError } from '../errors.js';

export interface KillSwitchState {
  on: boolean;
  reason: string | null;
}

export async function setKillSwitch(redis: Redis, names: Names, on: boolean, reason: string | undefined, now = Date.now()): Promise<KillSwitchState> {
  const why = (reason ?? '').trim();
  if (on && !why) throw new UsageError('--reason: required to turn the kill switch on (it is shown to everyone it blocks)');
  const tx = redis.multi();
  if (on) tx.set(names.killSwitch(), `operator: ${why}`);
  else tx.del(names.killSwitch());
  const p = encode('risk.proposal', {
    proposal_id: `ks-${now}-${Math.random().toString(36).slice(2, 8)}`, ts: now, kind: 'kill_switch',
    decision: on ? 'kill_switch_on' : 'kill_switch_off', detail: `operator (qt kill-switch ${on ? 'on' : 'off'})${why ? `: ${why}` : ''}`,
  });
  tx.xadd(names.stream('risk.proposal'), 'MAXLEN', '~', '100000', '*', ...Object.entries(p).flat());
  await tx.exec();
  return { on, reason: on ? `operator: ${why}` : null };
}

export async function readKillSwitch(redis: Redis, names: Names): Promise<KillSwitchState> {
  const v = await redis.get(names.killSwitch());
  return { on: v !== null, reason: v };
}
