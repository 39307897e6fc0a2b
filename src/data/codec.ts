/**
 * Items travel as JSON. An item is accepted only if JSON gives it back unchanged, so a
 * reader never receives something other than what was put: `undefined`, functions,
 * symbols, BigInt, NaN/Infinity, cycles, sparse arrays and objects JSON would flatten
 * (Map, Set, class instances without `toJSON`) are refused before anything is written.
 */
import { CorruptRecordError, VisqRangeError, VisqTypeError } from '../errors.js';
import { describe } from '../validate.js';

function refuse(path: string, value: unknown, why: string): never {
  throw new VisqTypeError(`Expected \`${path}\` to be a JSON value, got ${describe(value)}: ${why}`);
}

function check(value: unknown, path: string, ancestors: Set<object>): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) refuse(path, value, 'JSON has no NaN or Infinity');
      return;
    case 'undefined':
      return refuse(path, value, 'JSON has no undefined');
    case 'function':
    case 'symbol':
    case 'bigint':
      return refuse(path, value, `JSON cannot encode a ${typeof value}`);
    default:
      break;
  }
  if (value === null) return;
  const object = value as object;
  if (ancestors.has(object)) refuse(path, value, 'it contains itself (a cycle)');
  if (typeof (object as { toJSON?: unknown }).toJSON === 'function') {
    // the object chose its JSON form (Date does); check that form instead
    check((object as { toJSON: (key: string) => unknown }).toJSON(''), path, ancestors);
    return;
  }
  ancestors.add(object);
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i += 1) {
      if (!(i in object)) refuse(`${path}[${i}]`, undefined, 'sparse arrays do not survive JSON');
      check(object[i], `${path}[${i}]`, ancestors);
    }
  } else {
    const proto: unknown = Object.getPrototypeOf(object);
    if (proto !== Object.prototype && proto !== null) {
      refuse(path, value, 'only plain objects, arrays and objects with toJSON survive JSON');
    }
    if (Object.getOwnPropertySymbols(object).length > 0) refuse(path, value, 'JSON drops symbol keys');
    for (const key of Object.keys(object)) {
      check((object as Record<string, unknown>)[key], `${path}.${key}`, ancestors);
    }
  }
  ancestors.delete(object);
}

/**
 * The JSON text of `item`. Throws VisqTypeError when JSON cannot round-trip it and
 * VisqRangeError when the text is longer than `maxBytes` bytes of UTF-8.
 */
export function encodeItem(item: unknown, path: string, maxBytes: number): string {
  check(item, path, new Set());
  const json = JSON.stringify(item);
  // UTF-8 is at most 3 bytes per UTF-16 unit, so short strings skip the exact count
  if (json.length * 3 > maxBytes && Buffer.byteLength(json, 'utf8') > maxBytes) {
    throw new VisqRangeError(
      `Expected \`${path}\` to encode to at most ${maxBytes} bytes of JSON, got ${Buffer.byteLength(json, 'utf8')} bytes`,
    );
  }
  return json;
}

/** Parses a payload written by {@link encodeItem}. */
export function decodeItem<T>(payload: string, id: string): T {
  try {
    return JSON.parse(payload) as T;
  } catch (cause) {
    throw new CorruptRecordError(`Item ${id} holds a payload that is not JSON`, { cause });
  }
}
