/** The drivers by system name. */
import type { SystemName } from '../protocol.js';
import { beeQueue } from './bee-queue.js';
import { bullmq } from './bullmq.js';
import { streams } from './streams.js';
import type { SystemDriver } from './types.js';
import { visq } from './visq.js';
import { visqOtel } from './visq-otel.js';
import { graphileWorker, pgBoss, visqPostgres } from '../postgres/systems.js';

export const drivers: Readonly<Record<SystemName, SystemDriver>> = {
  visq,
  streams,
  bullmq,
  'bee-queue': beeQueue,
  'visq-otel': visqOtel,
  'visq-postgres': visqPostgres,
  'pg-boss': pgBoss,
  'graphile-worker': graphileWorker,
};
