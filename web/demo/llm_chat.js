// @ts-check
// The <llm-chat> widget's old address, /llm_chat.js: it moved to /lib/llm_chat.js
// with the rest of the library. Pages that embed the old address keep working
// (importing this defines the element); new pages use /lib/llm_chat.js.
export * from '../lib/llm_chat.js';
