/**
 * Python string semantics the harness relies on. Python's `str.strip()` removes the characters
 * for which `str.isspace()` holds; that set differs from JavaScript's `trim()` (Python strips
 * U+001C..U+001F and U+0085, JavaScript strips U+FEFF), so prompts would differ on such rows.
 */
const PY_WHITESPACE = new Set<string>([
  '\t',
  '\n',
  '\v',
  '\f',
  '\r',
  '\x1c',
  '\x1d',
  '\x1e',
  '\x1f',
  ' ',
  '\x85',
  '\xa0',
  '\u1680',
  '\u2000',
  '\u2001',
  '\u2002',
  '\u2003',
  '\u2004',
  '\u2005',
  '\u2006',
  '\u2007',
  '\u2008',
  '\u2009',
  '\u200a',
  '\u2028',
  '\u2029',
  '\u202f',
  '\u205f',
  '\u3000',
]);

export function isPySpace(ch: string): boolean {
  return PY_WHITESPACE.has(ch);
}

/** Python `s.rstrip()`. All Python whitespace characters are in the BMP, so UTF-16 indexing is safe. */
export function pyRstrip(s: string): string {
  let end = s.length;
  while (end > 0 && PY_WHITESPACE.has(s[end - 1]!)) end--;
  return s.slice(0, end);
}

/** Python `s.strip()`. */
export function pyStrip(s: string): string {
  let start = 0;
  while (start < s.length && PY_WHITESPACE.has(s[start]!)) start++;
  return pyRstrip(s.slice(start));
}

/** Python `len(s)`: the number of code points (a surrogate pair counts once). */
export function codePointLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}
