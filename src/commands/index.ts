/** Every `qt` command, one module per file. */
import type { QtCommand } from './command.js';
import { configShow } from './config-show.js';
import { up } from './up.js';
import { systemdGenerate } from './systemd.js';
import { policy } from './policy.js';
import { killSwitch } from './kill-switch.js';
import { close } from './close.js';
import { traceCommand } from './trace.js';
import { tui } from './tui.js';
import { diagnose } from './diagnose.js';
import { health } from './health.js';
import { cleanup } from './cleanup.js';
import { services } from './services.js';
import { orders } from './orders.js';

export const COMMANDS: QtCommand<any>[] = [up, configShow, systemdGenerate, policy, killSwitch, close, orders, traceCommand, tui, diagnose, health, cleanup, services];
