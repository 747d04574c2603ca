/** Starts one private redis-server for the whole run; tests reach it by inject('redisUrl'). */
import type { TestProject } from 'vitest/node';
import { startRedisServer, removeDir } from './redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const server = await startRedisServer();
  project.provide('redisUrl', server.url);
  process.env.QT_TEST_REDIS_URL = server.url;
  return async () => {
    await server.stop();
    removeDir(server.dir);
  };
}
