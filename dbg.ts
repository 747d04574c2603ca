import { startRedisCluster } from './test/helpers/redis-cluster.js';
import { spawnSync } from 'node:child_process';
const cl = await startRedisCluster();
for (const p of ['quantum', '{quantum}']) {
const r = spawnSync(process.execPath, ['dist/cli.js', 'up', '--for', '3s', '--stages', 'intent_bridge'], { timeout: 30000, encoding: 'utf8', env: { ...process.env, REDIS_URL: cl.url, QT_PREFIX: p } });
console.log(p, r.status, '\nSTDOUT', r.stdout, '\nSTDERR', r.stderr);
}
const h = spawnSync(process.execPath, ['dist/cli.js', 'diagnose', 'pipeline', '--redis-url', cl.url, '--prefix', '{quantum}'], { timeout: 30000, encoding: 'utf8' });
console.log(h.stdout.slice(0, 600));
await cl.stop();
process.exit(0);
