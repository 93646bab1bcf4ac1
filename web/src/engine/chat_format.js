// Prompt text for a request: the model's chat template, written out in JS.
//
// Hand-written because the only template this engine serves is ChatML and a
// Jinja interpreter in the page would cost more than the template itself.
// tests/web_js/chat_format.test.mjs checks it against what `transformers`
// renders with the model's own template.

/**
 * @typedef {{role: string, content: string}} ChatMessage
 * @typedef {{format: 'chatml', default_system?: string|null}} ChatSpec  the manifest's "chat" entry
 */

/**
 * The prompt the model continues.
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
 * @returns {string}
 */
export function formatPrompt({ messages, prefix = '', kind = 'chat', chat }) {
  if (kind === 'text') {
    if (messages.length !== 1) throw new TypeError(`kind "text" takes exactly one message, got ${messages.length}`);
    return messages[0].content + prefix;
  }
  if (kind !== 'chat') throw new TypeError(`unknown prompt kind ${kind}`);
  if (chat.format !== 'chatml') throw new TypeError(`unsupported chat format ${chat.format}`);
  let prompt = '';
  if (chat.default_system && messages.length > 0 && messages[0].role !== 'system') {
    prompt += `<|im_start|>system\n${chat.default_system}<|im_end|>\n`;
  }
  for (const { role, content } of messages) prompt += `<|im_start|>${role}\n${content}<|im_end|>\n`;
  return prompt + '<|im_start|>assistant\n' + prefix;
}
