/**
 * Operator-supplied regular expressions (route `vars` with op `regex`) run on client input in
 * the gateway's event loop, with JavaScript's backtracking engine. This module refuses, at
 * config time, the patterns that can backtrack super-linearly, and states how long a value a
 * pattern is ever run on. The rule is conservative (some harmless patterns are refused) and is
 * decided by a small parser over the pattern, never by a regex over the regex:
 *
 * 1. no backreferences (`\1`..`\9`, `\k<name>`; any escaped digit but `\0`);
 * 2. no lookaround (`(?=`, `(?!`, `(?<=`, `(?<!`);
 * 3. no nested quantifier: a group repeated more than once (`*`, `+`, `{n,}`, `{n,m}` with
 *    m > 1) holds no quantifier at all (`(a+)+`, `(\w+\s?)*`, `(ab?){2,}` are refused);
 * 4. no ambiguous alternation in a repeated group: its branches must each start with a
 *    character the others cannot start with (`(a|b)+` is accepted, `(a|a)*`, `(ab|ac)+` and
 *    `(a|)+` are not);
 * 5. no two variable-length repeats that can match the same text one after the other: between
 *    `\d+` and a later repeat there must be a required character the first cannot match
 *    (`^\d+\.\d+$` is accepted; `\d+\d+`, `.*a.*`, `a*b?a*` are not).
 *
 * What remains backtracks at most linearly per start position, so a match costs O(n²) in the
 * worst case over a value of n characters; values longer than REGEX_INPUT_MAX never match.
 * Measured worst cases of accepted patterns (`(a|b)+c`, `.*foo`, `\d+\.\d+x` on a run of
 * one character): 13-36 ms at 4 KiB, 1-2 ms at 1 KiB, hence the 1 KiB bound.
 */

/** Longest value (UTF-16 code units) a `vars` regex is evaluated on; a longer one does not match. */
export const REGEX_INPUT_MAX = 1_024;
/** Longest pattern accepted. */
export const REGEX_PATTERN_MAX = 1_024;

/** Why `pattern` is refused (syntax or backtracking risk), or undefined when it is accepted. */
export function regexError(pattern: string): string | undefined {
  if (pattern.length > REGEX_PATTERN_MAX) return `pattern longer than ${REGEX_PATTERN_MAX} characters`;
  try {
    new RegExp(pattern);
  } catch (err) {
    return (err as Error).message;
  }
  try {
    const ast = new Parser(pattern).parse();
    checkRepeats(ast, false);
    walkAlternatives(ast.alts, EMPTY);
    return undefined;
  } catch (err) {
    if (err instanceof Unsafe) return `${err.message}: refused, the pattern can backtrack super-linearly (rules: route vars op in docs/config.md)`;
    throw err;
  }
}

/** regexError() of a route `vars` matcher whose op is regex (its pattern: the value, or its first item); undefined for other ops. */
export function varRegexError(v: { op?: string; value?: string | string[] | undefined }): string | undefined {
  if (v.op !== 'regex') return undefined;
  return regexError((Array.isArray(v.value) ? v.value[0] : v.value) ?? '');
}

class Unsafe extends Error {}

// --- Character sets: 128 ASCII bits plus one bit for "any non-ASCII code point" ----------------

type CharSet = bigint;
const EMPTY: CharSet = 0n;
const NON_ASCII = 1n << 128n;
const ALL: CharSet = (1n << 129n) - 1n;

function range(lo: number, hi: number): CharSet {
  let s = EMPTY;
  for (let c = lo; c <= Math.min(hi, 127); c++) s |= 1n << BigInt(c);
  if (hi > 127) s |= NON_ASCII;
  return s;
}
const one = (c: number): CharSet => range(c, c);
const DIGIT = range(48, 57);
const WORD = DIGIT | range(65, 90) | range(97, 122) | one(95);
// \s also matches Unicode spaces: the non-ASCII bit.
const SPACE = one(32) | range(9, 13) | NON_ASCII;
const DOT = ALL & ~(one(10) | one(13));
const not = (s: CharSet): CharSet => ALL & ~s;

// --- The parsed pattern -----------------------------------------------------------------------

type Node =
  | { t: 'char'; set: CharSet }
  | { t: 'start' }
  | { t: 'end' }
  | { t: 'assert' }
  | { t: 'group'; alts: Node[][] }
  | { t: 'repeat'; node: Node; min: number; max: number };

/** Recursive descent over JavaScript regex syntax (no flags, Annex B: `{` and `]` may be literal). */
class Parser {
  private i = 0;
  constructor(private readonly src: string) {}

  parse(): { t: 'group'; alts: Node[][] } {
    const alts = this.alternatives();
    return { t: 'group', alts };
  }

  private alternatives(): Node[][] {
    const alts: Node[][] = [[]];
    while (this.i < this.src.length) {
      const c = this.src[this.i] as string;
      if (c === ')') break;
      if (c === '|') {
        this.i++;
        alts.push([]);
        continue;
      }
      const atom = this.atom();
      (alts[alts.length - 1] as Node[]).push(this.quantified(atom));
    }
    return alts;
  }

  private atom(): Node {
    const c = this.src[this.i++] as string;
    switch (c) {
      case '^':
        return { t: 'start' };
      case '$':
        return { t: 'end' };
      case '.':
        return { t: 'char', set: DOT };
      case '[':
        return { t: 'char', set: this.charClass() };
      case '(':
        return this.group();
      case '\\':
        return this.escape(false);
      default:
        return { t: 'char', set: one(c.charCodeAt(0)) };
    }
  }

  private group(): Node {
    if (this.src[this.i] === '?') {
      const next = this.src.slice(this.i, this.i + 3);
      if (next.startsWith('?:')) this.i += 2;
      else if (next === '?<=' || next === '?<!' || next.startsWith('?=') || next.startsWith('?!')) throw new Unsafe('lookaround');
      else if (next.startsWith('?<')) this.i = this.src.indexOf('>', this.i) + 1;
      else throw new Unsafe(`unsupported group (${next}`);
    }
    const alts = this.alternatives();
    this.i++; // ')': new RegExp() already checked the balance
    return { t: 'group', alts };
  }

  /** An escape outside (inClass false) or inside a class; the set it matches, or an assertion. */
  private escape(inClass: boolean): Node {
    const c = this.src[this.i++] as string;
    if (c >= '1' && c <= '9') throw new Unsafe(`backreference \\${c}`);
    if (c === 'k' && !inClass) throw new Unsafe('backreference \\k');
    const set = (s: CharSet): Node => ({ t: 'char', set: s });
    switch (c) {
      case 'd': return set(DIGIT);
      case 'D': return set(not(DIGIT));
      case 'w': return set(WORD);
      case 'W': return set(not(WORD));
      case 's': return set(SPACE);
      case 'S': return set(not(SPACE & ~NON_ASCII));
      case 'b': return inClass ? set(one(8)) : { t: 'assert' };
      case 'B': return { t: 'assert' };
      case 'n': return set(one(10));
      case 'r': return set(one(13));
      case 't': return set(one(9));
      case 'v': return set(one(11));
      case 'f': return set(one(12));
      case '0': return set(one(0));
      case 'c': {
        const letter = this.src[this.i];
        if (letter !== undefined && /[A-Za-z]/.test(letter)) {
          this.i++;
          return set(one(letter.charCodeAt(0) % 32));
        }
        return set(one(92)); // Annex B: a literal backslash
      }
      case 'x':
      case 'u': {
        const digits = c === 'x' ? 2 : 4;
        const hex = this.src.slice(this.i, this.i + digits);
        if (new RegExp(`^[0-9A-Fa-f]{${digits}}$`).test(hex)) {
          this.i += digits;
          return set(one(parseInt(hex, 16)));
        }
        return set(one(c.charCodeAt(0)));
      }
      default:
        return set(one(c.charCodeAt(0)));
    }
  }

  private charClass(): CharSet {
    let negate = false;
    if (this.src[this.i] === '^') {
      negate = true;
      this.i++;
    }
    let s = EMPTY;
    while (this.i < this.src.length && this.src[this.i] !== ']') {
      const lo = this.classAtom();
      if (this.src[this.i] === '-' && this.src[this.i + 1] !== ']' && this.i + 1 < this.src.length && lo.code !== undefined) {
        this.i++;
        const hi = this.classAtom();
        if (hi.code !== undefined) {
          s |= range(lo.code, hi.code);
          continue;
        }
        s |= lo.set | one(45) | hi.set; // Annex B: [\d-x] is \d, '-' and x
        continue;
      }
      s |= lo.set;
    }
    this.i++; // ']'
    return negate ? not(s) : s;
  }

  /** One class member: its set, and its code point when it is a single character. */
  private classAtom(): { set: CharSet; code?: number } {
    const c = this.src[this.i++] as string;
    if (c !== '\\') return { set: one(c.charCodeAt(0)), code: c.charCodeAt(0) };
    const start = this.i;
    const node = this.escape(true) as { t: 'char'; set: CharSet };
    const single = this.singleCode(node.set, this.src.slice(start, this.i));
    return single === undefined ? { set: node.set } : { set: node.set, code: single };
  }

  private singleCode(set: CharSet, escaped: string): number | undefined {
    if (/^[dDwWsS]$/.test(escaped)) return undefined;
    if (/^[xu][0-9A-Fa-f]+$/.test(escaped)) return parseInt(escaped.slice(1), 16);
    for (let c = 0; c < 128; c++) if (set === one(c)) return c;
    return undefined;
  }

  private quantified(atom: Node): Node {
    const c = this.src[this.i];
    let min: number;
    let max: number;
    if (c === '*') [min, max] = [0, Infinity];
    else if (c === '+') [min, max] = [1, Infinity];
    else if (c === '?') [min, max] = [0, 1];
    else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i));
      if (!m) return atom; // Annex B: a literal '{'
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
      this.i += m[0].length - 1;
    } else return atom;
    this.i++;
    if (this.src[this.i] === '?') this.i++; // lazy: the same backtracking, in another order
    return { t: 'repeat', node: atom, min, max };
  }
}

// --- Rules 3 and 4: what a repeated group may hold ----------------------------------------------

function checkRepeats(node: Node, insideRepeat: boolean): void {
  if (node.t === 'repeat') {
    if (insideRepeat) throw new Unsafe('nested quantifier');
    const repeats = node.max > 1;
    if (repeats && node.node.t === 'group') checkAlternation(node.node);
    checkRepeats(node.node, repeats);
  } else if (node.t === 'group') {
    for (const alt of node.alts) for (const n of alt) checkRepeats(n, insideRepeat);
  }
}

/** Inside a repeated group (no quantifiers there: rule 3), every alternation's branches start differently. */
function checkAlternation(group: { alts: Node[][] }): void {
  if (group.alts.length > 1) {
    let seen = EMPTY;
    for (const alt of group.alts) {
      const first = firstSet(alt);
      if (first === undefined || (first & seen) !== EMPTY) throw new Unsafe('alternatives in a repeated group that can match the same text');
      seen |= first;
    }
  }
  for (const alt of group.alts) for (const n of alt) if (n.t === 'group') checkAlternation(n);
}

/** Characters a sequence without quantifiers can start with; undefined if it can match empty. */
function firstSet(seq: Node[]): CharSet | undefined {
  for (const n of seq) {
    if (n.t === 'char') return n.set;
    if (n.t === 'group') {
      let s = EMPTY;
      for (const alt of n.alts) {
        const f = firstSet(alt);
        if (f === undefined) return undefined;
        s |= f;
      }
      return s;
    }
  }
  return undefined;
}

// --- Rule 5: variable-length repeats one after the other ----------------------------------------

/** Every character a node can match (a repeated group: all the characters inside it). */
function charsOf(node: Node): CharSet {
  if (node.t === 'char') return node.set;
  if (node.t === 'repeat') return charsOf(node.node);
  if (node.t === 'group') return node.alts.reduce((s, alt) => alt.reduce((a, n) => a | charsOf(n), s), EMPTY);
  return EMPTY;
}

/**
 * `open`: characters an earlier variable-length repeat may still be matching at this point
 * (it could give them back to what follows). Returns the open set after the alternatives.
 */
function walkAlternatives(alts: Node[][], open: CharSet): CharSet {
  let out = EMPTY;
  for (const alt of alts) out |= walkSequence(alt, open);
  return out;
}

function walkSequence(seq: Node[], open: CharSet): CharSet {
  let cur = open;
  for (const n of seq) cur = walkNode(n, cur);
  return cur;
}

function walkNode(n: Node, open: CharSet): CharSet {
  switch (n.t) {
    case 'char':
      // A required character the open repeat cannot match pins where that repeat ends.
      return (n.set & open) === EMPTY ? EMPTY : open;
    case 'end':
      return EMPTY;
    case 'start':
    case 'assert':
      return open;
    case 'group':
      return walkAlternatives(n.alts, open);
    case 'repeat': {
      if (n.max <= 1 || n.min === n.max) {
        // Optional (?): may be skipped, so it pins nothing; fixed count ({3}): required, like its contents.
        const after = n.max === 0 ? open : n.node.t === 'group' ? walkAlternatives(n.node.alts, open) : walkNode(n.node, open);
        return n.min === 0 ? open | after : after;
      }
      const chars = charsOf(n.node);
      if ((chars & open) !== EMPTY) throw new Unsafe('two variable-length repeats that can match the same text one after the other');
      // A repeat that must match once pins the earlier one (its characters are disjoint); one that may match nothing does not.
      return n.min >= 1 ? chars : open | chars;
    }
  }
}
