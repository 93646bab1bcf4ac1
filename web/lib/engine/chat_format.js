// @ts-check
// The prompt for a request: the model's chat template, written out in JS, as
// parts that keep the template's markers apart from the text they enclose.
//
// Hand-written because the only template this engine serves is ChatML and a
// Jinja interpreter in the page would cost more than the template itself.
// tests/web_js/chat_format.test.mjs checks it against what `transformers`
// renders with the model's own template.

/**
 * @typedef {{role: string, content: string}} ChatMessage
 * @typedef {{format: 'chatml', default_system?: string|null}} ChatSpec  the manifest's "chat" entry
 * @typedef {{text: string, special: boolean}} PromptPart  special: the text is one special token
 */

const IM_START = Object.freeze({ text: '<|im_start|>', special: true });
const IM_END = Object.freeze({ text: '<|im_end|>', special: true });

/** @param {string} text @returns {PromptPart} */
const plain = (text) => ({ text, special: false });

/**
 * The prompt the model continues, in parts for Tokenizer.encodeParts: the
 * template's own markers are special parts, everything else (roles, message
 * content, the prefix, a raw text prompt) is text, tokenized as text even
 * where it spells a special token, so that a message cannot close its turn
 * and forge another. The parts' texts joined are the template's rendering.
 *
 * kind "chat": ChatML, `<|im_start|>{role}\n{content}<|im_end|>\n` per
 * message; when the first message is not a system message the default system
 * message comes first (the template checks only the first message, so do we);
 * then `<|im_start|>assistant\n` and `prefix`, the part of the answer already
 * given, which the model continues rather than repeats.
 *
 * kind "text": the single user message's content is the raw prompt, no template.
 *
 * @param {{messages: ChatMessage[], prefix?: string, kind?: 'chat'|'text', chat: ChatSpec}} request
 * @returns {PromptPart[]}
 */
export function formatPrompt({ messages, prefix = '', kind = 'chat', chat }) {
  if (kind === 'text') {
    if (messages.length !== 1) throw new TypeError(`kind "text" takes exactly one message, got ${messages.length}`);
    return [plain(messages[0].content + prefix)];
  }
  if (kind !== 'chat') throw new TypeError(`unknown prompt kind ${kind}`);
  if (chat.format !== 'chatml') throw new TypeError(`unsupported chat format ${chat.format}`);
  /** @type {PromptPart[]} */
  const parts = [];
  const turn = (/** @type {string} */ role, /** @type {string} */ content) =>
    parts.push(IM_START, plain(`${role}\n${content}`), IM_END, plain('\n'));
  if (chat.default_system && messages.length > 0 && messages[0].role !== 'system') turn('system', chat.default_system);
  for (const { role, content } of messages) turn(role, content);
  parts.push(IM_START, plain('assistant\n' + prefix));
  return parts;
}
