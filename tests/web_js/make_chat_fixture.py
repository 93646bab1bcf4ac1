"""Prompts rendered by `transformers` with the model's own chat template, for tests/web_js/chat_format.test.mjs.

The template comes from the built tokenizer files when they carry one, else
from the GGUF itself (tokenizer.chat_template). Writes
tests/web_js/fixtures/chat.json: the template, and per conversation the text
and token ids `apply_chat_template(..., add_generation_prompt=True)` makes,
and for an answer prefix, what `continue_final_message=True` makes.

    .cache/model-venv/bin/python tests/web_js/make_chat_fixture.py [model_dir]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from transformers import AutoTokenizer

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL_DIR = ROOT / "dist/web/models/smollm2-135m-instruct"
GGUF = ROOT / "models/SmolLM2-135M-Instruct.Q4_1.gguf"
FIXTURE = Path(__file__).parent / "fixtures" / "chat.json"

CONVERSATIONS = [
    [{"role": "user", "content": "Hello!"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 2+2?"}],
    [
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": "Another one, in français: 日本語 too 😀"},
    ],
    [{"role": "user", "content": "first"}, {"role": "system", "content": "a system message that is not first"}],
    [{"role": "user", "content": ""}],
    [{"role": "user", "content": "  spaces and\nnew lines\n\n"}],
]
PREFIXES = [
    ([{"role": "user", "content": "Count to five."}], "1, 2,"),
    ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi"}], "Hi"),
]


def chat_template(model_dir: Path) -> str:
    try:
        tok = AutoTokenizer.from_pretrained(model_dir)
        if tok.chat_template:
            return str(tok.chat_template)
    except (OSError, ValueError):
        pass
    from gguf import GGUFReader

    field = GGUFReader(GGUF).fields["tokenizer.chat_template"]
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def main() -> None:
    model_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_MODEL_DIR
    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.chat_template = chat_template(model_dir)
    cases = []
    for messages in CONVERSATIONS:
        text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        cases.append({"messages": messages, "prefix": "", "text": text, "ids": tok(text, add_special_tokens=False)["input_ids"]})
    for messages, prefix in PREFIXES:
        full = [*messages, {"role": "assistant", "content": prefix}]
        text = tok.apply_chat_template(full, continue_final_message=True, tokenize=False)
        cases.append({"messages": messages, "prefix": prefix, "text": text, "ids": tok(text, add_special_tokens=False)["input_ids"]})
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps({"template": tok.chat_template, "cases": cases}, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {FIXTURE} ({len(cases)} conversations)", file=sys.stderr)


if __name__ == "__main__":
    main()
