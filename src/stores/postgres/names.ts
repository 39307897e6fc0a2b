/**
 * Queue names as PostgreSQL stores them. A name may be any string (see queueSettings),
 * but PostgreSQL text holds no NUL character, and UTF-8 cannot carry a lone surrogate
 * (the driver would turn it into U+FFFD, and two names into one queue). So the store
 * escapes those, and the escape character itself, one-to-one: `\` → `\\`, NUL → `\0`, a
 * lone surrogate → `\uXXXX`. Every other name is stored as it is. The SQL door escapes
 * `\` the same way (its names, being SQL text, hold neither of the others).
 */

const SPECIAL = /\\|\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const ESCAPE = /\\(\\|0|u[0-9a-f]{4})/g;

/** `text` as the store keeps it. */
export function toStored(text: string): string {
  return text.replace(SPECIAL, (ch) => {
    if (ch === '\\') return '\\\\';
    if (ch === '\u0000') return '\\0';
    return `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

/** The text `toStored` made `stored` from. */
export function fromStored(stored: string): string {
  return stored.replace(ESCAPE, (_, code: string) => {
    if (code === '\\') return '\\';
    if (code === '0') return '\u0000';
    return String.fromCharCode(parseInt(code.slice(1), 16));
  });
}
