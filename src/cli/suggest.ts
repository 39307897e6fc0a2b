/**
 * "Did you mean …?" for mistyped commands and options: the known word nearest to what
 * was typed, when it is near enough to be a typo rather than another word.
 */

/**
 * Edit distance with adjacent transpositions (optimal string alignment): `stat` → `stats`
 * and `inpsect` → `inspect` are both one edit.
 */
function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number): number => d[i]?.[j] ?? Number.POSITIVE_INFINITY;
  for (let i = 1; i < rows; i += 1) {
    for (let j = 1; j < cols; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = best;
    }
  }
  return at(a.length, b.length);
}

/**
 * The candidate `typed` most likely meant: the nearest one within a third of its length
 * in edits (at least one edit), compared without case; else the only candidate that
 * starts with `typed` (3 characters or more). `undefined` when nothing is near enough or
 * two candidates are equally near.
 */
export function nearest(typed: string, candidates: readonly string[]): string | undefined {
  const word = typed.toLowerCase();
  const limit = Math.max(1, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  let tie = false;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate.toLowerCase());
    if (distance < bestDistance) {
      [best, bestDistance, tie] = [candidate, distance, false];
    } else if (distance === bestDistance) {
      tie = true;
    }
  }
  if (best !== undefined && bestDistance <= limit && !tie) return best;
  const extending = word.length >= 3 ? candidates.filter((c) => c.toLowerCase().startsWith(word)) : [];
  return extending.length === 1 ? extending[0] : undefined;
}
