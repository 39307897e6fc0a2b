import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assembleScript } from '../../../src/stores/redis/scripts/assemble.js';

const SCRIPTS = new URL('../../../src/stores/redis/scripts/', import.meta.url);

function readLibrary(name: string): string {
  return readFileSync(new URL(`lib/${name}.lua`, SCRIPTS), 'utf8');
}

function definedFunctions(text: string): string[] {
  return [...text.matchAll(/^local function (\w+)\(/gm)].map((match) => match[1] as string);
}

function libraries(files: Record<string, string>): (name: string) => string {
  return (name) => {
    const text = files[name];
    if (text === undefined) throw new Error(`no library ${name}`);
    return text;
  };
}

const CORE = [
  'local LIMIT = 10',
  'local function used()',
  '  return helper() + LIMIT',
  'end',
  'local function helper()',
  '  return 1',
  'end',
  'local function unused()',
  '  return 2',
  'end',
  'local function only_in_nested()',
  '  return 3',
  'end',
  'local function lazy()',
  '  return (function()',
  '--@include nested',
  '  end)()',
  'end',
].join('\n');

const NESTED = ['local function inner()', '  return only_in_nested()', 'end', 'return { inner = inner }'].join('\n');

describe('assembleScript', () => {
  it('leaves out the library functions the script never reaches, and keeps those it reaches through others', () => {
    const text = assembleScript('--@include core\nreturn used()', libraries({ core: CORE, nested: NESTED }));
    expect(definedFunctions(text)).toEqual(['used', 'helper']);
    expect(text).toContain('local LIMIT = 10');
    expect(text).not.toContain('--@include');
  });

  it('keeps what a nested library names, when the function that includes it is kept', () => {
    const text = assembleScript('--@include core\nreturn lazy().inner()', libraries({ core: CORE, nested: NESTED }));
    expect(definedFunctions(text)).toEqual(['only_in_nested', 'lazy', 'inner']);
  });

  it('does not count a name in a comment block or a comment line as a use', () => {
    const script = '--[[ calls unused() ]]\n  -- and helper() too\n--@include core\nreturn 1';
    expect(definedFunctions(assembleScript(script, libraries({ core: CORE, nested: NESTED })))).toEqual([]);
  });

  it('refuses a library function without its closing `end` line', () => {
    const broken = 'local function open()\n  return 1\n  end';
    expect(() => assembleScript('--@include broken\nreturn open()', libraries({ broken }))).toThrow(/open has no closing "end"/);
  });

  it('leaves every shipped script each library function its code names', () => {
    const libraryFunctions = readdirSync(new URL('lib/', SCRIPTS)).flatMap((file) =>
      definedFunctions(readFileSync(new URL(`lib/${file}`, SCRIPTS), 'utf8')),
    );
    const scripts = ['', 'tasks/'].flatMap((dir) =>
      readdirSync(new URL(dir || '.', SCRIPTS))
        .filter((file) => file.endsWith('.lua'))
        .map((file) => `${dir}${file}`),
    );
    expect(scripts.length).toBeGreaterThan(10);
    for (const file of scripts) {
      const text = assembleScript(readFileSync(new URL(file, SCRIPTS), 'utf8'), readLibrary);
      const code = text.replace(/--\[\[[\s\S]*?\]\]/g, '').replace(/--.*$/gm, '');
      const defined = new Set(definedFunctions(text));
      for (const name of libraryFunctions) {
        const uses = code.replace(new RegExp(`local function ${name}\\(`, 'g'), '');
        if (new RegExp(`(^|[^\\w.:])${name}([^\\w]|$)`, 'm').test(uses)) {
          expect(defined.has(name), `${file} names ${name} but does not define it`).toBe(true);
        }
      }
    }
  });
});
