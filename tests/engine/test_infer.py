"""Sampling several continuations of a prompt: the prompt's keys and values computed once and shared give the
tokens that generate()'s own num_return_sequences gives."""
import torch

from tlcourse.engine.infer import continuations


def test_shared_prompt_continuations_are_generates_own(tiny, tok):
    prompts = [tok("What is 2 + 3?")["input_ids"], tok("Which is larger, 12 or 31? Say it.")["input_ids"]]
    how = dict(do_sample=True, temperature=1.0, top_k=0, top_p=1.0)
    torch.manual_seed(0)
    shared = continuations(tiny, tok, prompts, 3, 6, share_prompt=True, **how)
    width = max(map(len, prompts))
    ids = torch.tensor([[tok.pad_token_id] * (width - len(p)) + p for p in prompts])
    mask = (torch.arange(width) >= torch.tensor([width - len(p) for p in prompts]).unsqueeze(1)).long()
    torch.manual_seed(0)
    own = tiny.generate(input_ids=ids, attention_mask=mask, max_new_tokens=6, num_return_sequences=3,
                        pad_token_id=tok.pad_token_id, **how)[:, width:].tolist()
    assert [c for group in shared for c in group] == [row[:len(c)] for row, c in zip(own, sum(shared, []))]
    assert [len(group) for group in shared] == [3, 3]
