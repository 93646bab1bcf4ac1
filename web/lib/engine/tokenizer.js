// @ts-check
// Byte-level BPE tokenizer for Hugging Face tokenizer.json files.
//
// Hand-written because the alternative, transformers.js, would pull a second
// copy of onnxruntime-web and about 1 MB of script into the page only to
// tokenize. It implements the parts of the tokenizer.json format that
// byte-level BPE models (GPT-2, SmolLM2, Llama 3, Qwen) use and throws on any
// other component, so a model that needs more fails loudly at load instead of
// tokenizing wrongly. tests/web_js/tokenizer.test.mjs checks it token for
// token against the Python `tokenizers` library.

// GPT-2's pre-tokenization pattern, as the `tokenizers` ByteLevel pre-tokenizer uses it.
const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/**
 * GPT-2's reversible map from bytes to printable characters: printable
 * Latin-1 bytes stand for themselves, the rest are shifted above U+0100 so
 * that every token in the vocabulary is a visible string.
 */
function byteLevelAlphabet() {
  const printable = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const byteToChar = new Array(256);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    byteToChar[b] = String.fromCodePoint(printable.includes(b) ? b : 256 + shifted++);
  }
  const charToByte = new Map(byteToChar.map((c, b) => [c, b]));
  return { byteToChar, charToByte };
}
const { byteToChar: BYTE_TO_CHAR, charToByte: CHAR_TO_BYTE } = byteLevelAlphabet();

const utf8 = new TextEncoder();

/** Split `pieces` further with a regex, the way `tokenizers`' SplitDelimiterBehavior does. */
function splitPieces(pieces, regex, behavior) {
  const out = [];
  for (const piece of pieces) {
    const parts = []; // [text, isMatch]
    let last = 0;
    for (const m of piece.matchAll(regex)) {
      if (m[0].length === 0) continue;
      if (m.index > last) parts.push([piece.slice(last, m.index), false]);
      parts.push([m[0], true]);
      last = m.index + m[0].length;
    }
    if (last < piece.length) parts.push([piece.slice(last), false]);
    out.push(...applyBehavior(parts, behavior));
  }
  return out;
}

function applyBehavior(parts, behavior) {
  switch (behavior) {
    case 'Isolated':
      return parts.map(([t]) => t);
    case 'Removed':
      return parts.filter(([, isMatch]) => !isMatch).map(([t]) => t);
    case 'MergedWithPrevious': {
      const out = [];
      for (const [t, isMatch] of parts) {
        if (isMatch && out.length) out[out.length - 1] += t;
        else out.push(t);
      }
      return out;
    }
    case 'MergedWithNext': {
      const out = [];
      let carry = '';
      for (const [t, isMatch] of parts) {
        if (isMatch) carry += t;
        else {
          out.push(carry + t);
          carry = '';
        }
      }
      if (carry) out.push(carry);
      return out;
    }
    case 'Contiguous': {
      const out = [];
      let prevMatch = null;
      for (const [t, isMatch] of parts) {
        if (isMatch && prevMatch === true) out[out.length - 1] += t;
        else out.push(t);
        prevMatch = isMatch;
      }
      return out;
    }
    default:
      throw new Error(`tokenizer: unsupported split behavior ${behavior}`);
  }
}

/**
 * Turn a tokenizer.json pre_tokenizer into a function from a string to its
 * pieces. Byte-level mapping is applied here (ByteLevel's job), so pieces come
 * out in the vocabulary's alphabet.
 */
function buildPreTokenizer(spec) {
  if (spec == null) return (text) => [text];
  switch (spec.type) {
    case 'Sequence': {
      const steps = spec.pretokenizers.map(buildPieceStep);
      return (text) => steps.reduce((pieces, step) => step(pieces), [text]);
    }
    default: {
      const step = buildPieceStep(spec);
      return (text) => step([text]);
    }
  }
}

function buildPieceStep(spec) {
  switch (spec.type) {
    case 'ByteLevel': {
      const regex = spec.use_regex === false ? null : unicodeRegex(GPT2_PATTERN);
      return (pieces) => {
        // `tokenizers` prefixes every piece it is handed, not only the first.
        if (spec.add_prefix_space) pieces = pieces.map((p) => (p.startsWith(' ') ? p : ' ' + p));
        if (regex) pieces = splitPieces(pieces, regex, 'Isolated');
        return pieces.map(toByteLevel);
      };
    }
    case 'Digits': {
      const regex = spec.individual_digits ? /\p{N}/gu : /\p{N}+/gu;
      return (pieces) => splitPieces(pieces, regex, 'Isolated');
    }
    case 'Split': {
      const source = spec.pattern.Regex ?? escapeRegex(spec.pattern.String);
      const regex = unicodeRegex(source);
      if (spec.invert) throw new Error('tokenizer: inverted Split is not supported');
      return (pieces) => splitPieces(pieces, regex, spec.behavior);
    }
    default:
      throw new Error(`tokenizer: unsupported pre_tokenizer ${spec.type}`);
  }
}

function buildNormalizer(spec) {
  if (spec == null) return (text) => text;
  switch (spec.type) {
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD':
      return (text) => text.normalize(spec.type);
    case 'Sequence': {
      const steps = spec.normalizers.map(buildNormalizer);
      return (text) => steps.reduce((t, step) => step(t), text);
    }
    default:
      throw new Error(`tokenizer: unsupported normalizer ${spec.type}`);
  }
}

/**
 * Compile a pattern written for Oniguruma (what `tokenizers` uses). JS's \s
 * differs from Unicode White_Space (it adds U+FEFF and lacks U+0085), so the
 * pattern's \s and \S are spelled as the property instead.
 */
function unicodeRegex(source) {
  const spelled = source.replace(/\\\\|\\s|\\S/g, (m) =>
    m === '\\s' ? '\\p{White_Space}' : m === '\\S' ? '\\P{White_Space}' : m,
  );
  return new RegExp(spelled, 'gu');
}

/** The post-processor's special tokens around a single text's ids. */
function buildPostProcessor(spec) {
  if (spec == null || spec.type === 'ByteLevel') return (ids) => ids;
  if (spec.type === 'TemplateProcessing') {
    const single = spec.single.map((item) => {
      if (item.Sequence) return null; // the text's own ids
      const special = spec.special_tokens[item.SpecialToken.id];
      return special.ids;
    });
    return (ids) => single.flatMap((extra) => extra ?? ids);
  }
  if (spec.type === 'Sequence') {
    const steps = spec.processors.map((p) => buildPostProcessor(p));
    return (ids) => steps.reduce((acc, step) => step(acc), ids);
  }
  throw new Error(`tokenizer: unsupported post_processor ${spec.type}`);
}

function toByteLevel(text) {
  let out = '';
  for (const b of utf8.encode(text)) out += BYTE_TO_CHAR[b];
  return out;
}

function escapeRegex(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A regex matching any of the tokens, longest first (so "<|im_start|>" wins over a shorter token inside it); null for none. */
function addedTokenRegex(tokens) {
  const alternatives = [...tokens].sort((a, b) => b.content.length - a.content.length).map((t) => escapeRegex(t.content));
  return alternatives.length ? new RegExp(alternatives.join('|'), 'gu') : null;
}

/**
 * Apply the added tokens' lstrip and rstrip: the whitespace before (after)
 * such a token belongs to it and is dropped from the neighbouring text.
 * @param {Array<[string, AddedToken|null]>} segments
 * @returns {Array<[string, AddedToken|null]>}
 */
function stripAroundAdded(segments) {
  const out = /** @type {Array<[string, AddedToken|null]>} */ (segments.map(([text, token]) => [text, token]));
  for (let i = 0; i < out.length; i++) {
    const token = out[i][1];
    if (!token) continue;
    if (token.lstrip && i > 0 && !out[i - 1][1]) out[i - 1][0] = out[i - 1][0].trimEnd();
    if (token.rstrip && i + 1 < out.length && !out[i + 1][1]) out[i + 1][0] = out[i + 1][0].trimStart();
  }
  return /** @type {Array<[string, AddedToken|null]>} */ (out.filter(([text, token]) => token || text));
}

/**
 * @typedef {object} AddedToken
 * @property {number} id
 * @property {string} content
 * @property {boolean} special
 * @property {boolean} [lstrip]
 * @property {boolean} [rstrip]
 */

export class Tokenizer {
  /**
   * @param {object} json a parsed Hugging Face tokenizer.json
   */
  constructor(json) {
    const model = json.model;
    if (model.type !== 'BPE') throw new Error(`tokenizer: unsupported model ${model.type}`);
    if (model.byte_fallback) throw new Error('tokenizer: byte_fallback BPE is not supported');
    if (json.decoder && json.decoder.type !== 'ByteLevel') throw new Error(`tokenizer: unsupported decoder ${json.decoder.type}`);

    /** @type {Map<string, number>} */
    this.vocab = new Map(Object.entries(model.vocab));
    /** @type {string[]} */
    this.idToToken = [];
    for (const [token, id] of this.vocab) this.idToToken[id] = token;

    // merges come as "a b" strings (older files) or [a, b] pairs (newer ones)
    /** @type {Map<string, number>} pair "a b" -> rank */
    this.mergeRanks = new Map();
    model.merges.forEach((m, rank) => this.mergeRanks.set(Array.isArray(m) ? `${m[0]} ${m[1]}` : m, rank));
    this.ignoreMerges = Boolean(model.ignore_merges);

    /** @type {AddedToken[]} */
    this.addedTokens = (json.added_tokens ?? []).map((t) => ({ ...t }));
    for (const t of this.addedTokens) this.idToToken[t.id] = t.content;
    this.addedByContent = new Map(this.addedTokens.map((t) => [t.content, t]));
    this.specialIds = new Set(this.addedTokens.filter((t) => t.special).map((t) => t.id));
    // Every added token, for encode(); the non-special ones only, for text
    // whose special-token strings must stay text.
    this.addedRegex = addedTokenRegex(this.addedTokens);
    this.nonSpecialRegex = addedTokenRegex(this.addedTokens.filter((t) => !t.special));

    this.normalize = buildNormalizer(json.normalizer);
    this.preTokenize = buildPreTokenizer(json.pre_tokenizer);
    this.postIds = buildPostProcessor(json.post_processor);
    /** @type {Map<string, number[]>} BPE result per byte-level word; chat text repeats words a lot */
    this.cache = new Map();
  }

  /** @returns {number} */
  get vocabSize() {
    return this.idToToken.length;
  }

  /**
   * Token id of an exact token string (added or in the vocabulary), or undefined.
   * @param {string} token
   * @returns {number|undefined}
   */
  tokenToId(token) {
    return this.addedByContent.get(token)?.id ?? this.vocab.get(token);
  }

  /**
   * Text to token ids, as `tokenizers`' `Tokenizer.encode(text).ids` (with the
   * post-processor's special tokens, which SmolLM2 has none of).
   *
   * parseSpecial false: special tokens written in the text are not matched,
   * their characters are tokenized as any other text (as `tokenizers` with
   * `encode_special_tokens`, i.e. transformers' `split_special_tokens=True`,
   * or llama.cpp's tokenize with special=false); non-special added tokens
   * still match, as there. Text from a user never goes in with parseSpecial
   * true: build a prompt with encodeParts.
   * @param {string} text
   * @param {{parseSpecial?: boolean}} [options]
   * @returns {number[]}
   */
  encode(text, { parseSpecial = true } = {}) {
    return this.postIds(this.segmentIds(stripAroundAdded(this.splitOnAddedTokens(text, { parseSpecial }))));
  }

  /**
   * A prompt in parts to token ids: a special part is the special token its
   * text names (and nothing else: it throws when there is none), text parts
   * are encoded with parseSpecial false, so control tokens typed into them
   * stay plain text. Adjacent text parts are encoded as one run, since
   * pre-tokenization looks across the seam ("\n" + " x" does not split as
   * "\n x" does): for text without special-token strings the ids are those
   * of encode() on the concatenated text.
   * @param {Iterable<{text: string, special: boolean}>} parts
   * @returns {number[]}
   */
  encodeParts(parts) {
    /** @type {Array<[string, AddedToken|null]>} */
    const segments = [];
    let run = '';
    const endRun = () => {
      if (run) segments.push(...this.splitOnAddedTokens(run, { parseSpecial: false }));
      run = '';
    };
    for (const { text, special } of parts) {
      if (!special) {
        run += text;
        continue;
      }
      const token = this.addedByContent.get(text);
      if (!token?.special) throw new TypeError(`tokenizer: ${JSON.stringify(text)} is not a special token of this tokenizer`);
      endRun();
      segments.push([text, token]);
    }
    endRun();
    return this.postIds(this.segmentIds(stripAroundAdded(segments)));
  }

  /**
   * Split text on added tokens (they are matched whole, before anything else)
   * into [text, null] and [content, addedToken] segments; with parseSpecial
   * false, on non-special added tokens only.
   * @param {string} text
   * @param {{parseSpecial?: boolean}} [options]
   * @returns {Array<[string, AddedToken|null]>}
   */
  splitOnAddedTokens(text, { parseSpecial = true } = {}) {
    const regex = parseSpecial ? this.addedRegex : this.nonSpecialRegex;
    if (!regex) return text ? [[text, null]] : [];
    /** @type {Array<[string, AddedToken|null]>} */
    const segments = [];
    let last = 0;
    for (const m of text.matchAll(regex)) {
      if (m.index > last) segments.push([text.slice(last, m.index), null]);
      segments.push([m[0], this.addedByContent.get(m[0]) ?? null]);
      last = m.index + m[0].length;
    }
    if (last < text.length) segments.push([text.slice(last), null]);
    return segments;
  }

  /**
   * Ids of split segments, before post-processing.
   * @param {Array<[string, AddedToken|null]>} segments
   * @returns {number[]}
   */
  segmentIds(segments) {
    const ids = [];
    for (const [segment, added] of segments) {
      if (added) {
        ids.push(added.id);
        continue;
      }
      for (const word of this.preTokenize(this.normalize(segment))) {
        if (word) ids.push(...this.bpe(word));
      }
    }
    return ids;
  }

  /**
   * Byte-pair-merge one pre-tokenized word (already in the byte-level alphabet).
   * @param {string} word
   * @returns {number[]}
   */
  bpe(word) {
    const cached = this.cache.get(word);
    if (cached) return cached;
    let ids;
    if (this.ignoreMerges && this.vocab.has(word)) {
      ids = [this.vocab.get(word)];
    } else {
      const parts = Array.from(word);
      // Words are short (a few characters), so a quadratic scan for the
      // best-ranked pair is faster in practice than a heap.
      while (parts.length > 1) {
        let bestRank = Infinity;
        let bestAt = -1;
        for (let i = 0; i < parts.length - 1; i++) {
          const rank = this.mergeRanks.get(parts[i] + ' ' + parts[i + 1]);
          if (rank !== undefined && rank < bestRank) {
            bestRank = rank;
            bestAt = i;
          }
        }
        if (bestAt < 0) break;
        parts.splice(bestAt, 2, parts[bestAt] + parts[bestAt + 1]);
      }
      ids = parts.map((p) => {
        const id = this.vocab.get(p);
        if (id === undefined) throw new Error(`tokenizer: no token for ${JSON.stringify(p)}`);
        return id;
      });
    }
    if (this.cache.size > 50_000) this.cache.clear();
    this.cache.set(word, ids);
    return ids;
  }

  /**
   * Token ids to the bytes they stand for. Added tokens contribute their
   * content's UTF-8; vocabulary tokens are mapped back through the byte-level alphabet.
   * @param {Iterable<number>} ids
   * @param {{skipSpecial?: boolean}} [options]
   * @returns {Uint8Array}
   */
  decodeBytes(ids, { skipSpecial = false } = {}) {
    const bytes = [];
    for (const id of ids) {
      if (skipSpecial && this.specialIds.has(id)) continue;
      const token = this.idToToken[id];
      if (token === undefined) throw new RangeError(`tokenizer: no token with id ${id}`);
      const start = bytes.length;
      for (const ch of token) {
        const b = CHAR_TO_BYTE.get(ch);
        if (b === undefined) {
          // As `tokenizers`' ByteLevel decoder: a token with any character
          // outside the alphabet (an added token like "hello world") is its own UTF-8.
          bytes.length = start;
          bytes.push(...utf8.encode(token));
          break;
        }
        bytes.push(b);
      }
    }
    return Uint8Array.from(bytes);
  }

  /**
   * Token ids to text, as `tokenizers`' `decode(ids, skip_special_tokens=...)`.
   * Invalid UTF-8 becomes U+FFFD, as there.
   * @param {Iterable<number>} ids
   * @param {{skipSpecial?: boolean}} [options]
   * @returns {string}
   */
  decode(ids, options) {
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(this.decodeBytes(ids, options));
  }

  /**
   * A decoder for generated tokens, one at a time: push(id) returns only the
   * text of complete UTF-8 characters, so a character split across tokens
   * (emoji, CJK) never shows as U+FFFD mid-stream.
   * @param {{skipSpecial?: boolean}} [options]
   * @returns {StreamDecoder}
   */
  streamDecoder(options) {
    return new StreamDecoder(this, options);
  }
}

export class StreamDecoder {
  /**
   * @param {Tokenizer} tokenizer
   * @param {{skipSpecial?: boolean}} [options]
   */
  constructor(tokenizer, { skipSpecial = false } = {}) {
    this.tokenizer = tokenizer;
    this.skipSpecial = skipSpecial;
    // TextDecoder's stream mode keeps an incomplete trailing sequence for the
    // next call. ignoreBOM keeps a leading U+FEFF, which it would otherwise eat.
    this.decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  }

  /**
   * @param {number} id
   * @returns {string} the newly complete text (may be empty)
   */
  push(id) {
    return this.decoder.decode(this.tokenizer.decodeBytes([id], { skipSpecial: this.skipSpecial }), { stream: true });
  }

  /** @returns {string} whatever is left (an incomplete sequence becomes U+FFFD) */
  flush() {
    return this.decoder.decode();
  }
}

/**
 * Load a tokenizer from its tokenizer.json text or parsed object.
 * @param {string|object} json
 * @returns {Tokenizer}
 */
export function loadTokenizer(json) {
  return new Tokenizer(typeof json === 'string' ? JSON.parse(json) : json);
}
