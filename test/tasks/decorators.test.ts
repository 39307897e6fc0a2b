/**
 * `@app.task({...})` on methods. The decorated classes live in fixtures/decorated.ts,
 * loaded through tsx: Vitest 4 (Vite 8's Oxc transform) does not compile standard
 * decorators, and Node 20 cannot run them untransformed.
 */
import { tsImport } from 'tsx/esm/api';
import { beforeAll, describe, expect, it } from 'vitest';
import { VisqError } from '../../src/index.js';
import { useStore } from '../harness/context.js';
import type * as Decorated from './fixtures/decorated.js';
import { useTaskApps } from './helpers.js';

const ctx = useStore();
const t = useTaskApps(ctx);

let fixture: typeof Decorated;
beforeAll(async () => {
  fixture = (await tsImport('./fixtures/decorated.ts', import.meta.url)) as typeof Decorated;
});

describe('@app.task() on a method', () => {
  it('registers the method under its name with the options given', () => {
    const app = t.app();
    fixture.declareMailer(app);
    expect(app.taskNames.sort()).toEqual(['mailer.digest', 'welcome']);
    expect(app.getTask('welcome')?.settings).toMatchObject({ attempts: 3, visTimeout: 5, saveResults: 60, queue: 'default' });
    expect(app.getTask('mailer.digest')?.queue).toBe('digests');
  });

  it('runs an instance method with the instance as `this`', async () => {
    const app = t.app();
    const Mailer = fixture.declareMailer(app);
    const mailer = new Mailer('support@example.com');
    t.worker(app, { queues: ['default'] });
    const et = await app.getTask<[string], string>('welcome')?.execute(['ada']);
    expect(await et?.wait(10)).toBe(true);
    expect(await et?.result()).toBe('support@example.com welcomes ada');
    // the method itself is unchanged
    expect(await mailer.welcome('bob')).toBe('support@example.com welcomes bob');
  });

  it('runs a static method with the class as `this`', async () => {
    const app = t.app();
    fixture.declareMailer(app);
    t.worker(app, { queues: ['digests'] });
    const et = await app.getTask<[number], string>('mailer.digest')?.execute([3]);
    expect(await et?.wait(10)).toBe(true);
    expect(await et?.result()).toBe('the Mailer class sends 3 items');
  });

  it('refuses a second class registering the same task names', () => {
    const app = t.app();
    fixture.declareMailer(app);
    expect(() => fixture.declareMailer(app)).toThrow(VisqError);
  });

  it('refuses anything but a method', () => {
    expect(() => fixture.decorateAField(t.app())).toThrow(TypeError);
  });
});
