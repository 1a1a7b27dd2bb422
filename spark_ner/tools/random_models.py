"""Randomly initialised BERT (WordPiece) and RoBERTa (byte-level BPE) token classifiers, built offline.

Why: nothing can be downloaded from a model hub here, yet tests need real members of both tokenizer
families and the GPU benchmark needs BERT-base / RoBERTa-base sized ones (speed does not depend on
the weights). Tokenizers are trained with ``tokenizers`` on the given names; weights are seeded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from spark_ner.config import TAGS


@dataclass(frozen=True)
class Size:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int


TINY = Size(hidden=32, layers=2, heads=2, intermediate=64, vocab=400)
BASE = Size(hidden=768, layers=12, heads=12, intermediate=3072, vocab=8000)


def build_random_bert(
    out: Path,
    corpus: Sequence[str],
    size: Size = TINY,
    labels: Sequence[str] = TAGS,
    seed: int = 0,
) -> Path:
    """A BertForTokenClassification with a WordPiece vocabulary trained on ``corpus``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForTokenClassification, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(list(corpus), trainers.WordPieceTrainer(vocab_size=size.vocab, special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=size.hidden,
        num_hidden_layers=size.layers,
        num_attention_heads=size.heads,
        intermediate_size=size.intermediate,
        max_position_embeddings=512,
        num_labels=len(labels),  # type: ignore[call-arg]
        id2label=dict(enumerate(labels)),
        label2id={v: i for i, v in enumerate(labels)},
    )
    BertForTokenClassification(cfg).save_pretrained(out)
    fast.save_pretrained(out)
    return out


def build_random_roberta(
    out: Path,
    corpus: Sequence[str],
    size: Size = TINY,
    labels: Sequence[str] = TAGS,
    seed: int = 1,
) -> Path:
    """A RobertaForTokenClassification with a byte-level BPE vocabulary trained on ``corpus``.

    Saved WITHOUT a prefix space, like public RoBERTa checkpoints: the loader must add it.
    """
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import RobertaProcessing
    from transformers import RobertaConfig, RobertaForTokenClassification, RobertaTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(list(corpus), vocab_size=size.vocab + 200, min_frequency=1, special_tokens=specials)
    bpe.post_processor = RobertaProcessing(("</s>", bpe.token_to_id("</s>")), ("<s>", bpe.token_to_id("<s>")))
    fast = RobertaTokenizerFast(tokenizer_object=bpe._tokenizer, add_prefix_space=False)
    torch.manual_seed(seed)
    cfg = RobertaConfig(
        vocab_size=bpe.get_vocab_size(),
        hidden_size=size.hidden,
        num_hidden_layers=size.layers,
        num_attention_heads=size.heads,
        intermediate_size=size.intermediate,
        max_position_embeddings=514,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        num_labels=len(labels),  # type: ignore[call-arg]
        id2label=dict(enumerate(labels)),
        label2id={v: i for i, v in enumerate(labels)},
    )
    RobertaForTokenClassification(cfg).save_pretrained(out)
    fast.save_pretrained(out)
    return out
