"""The peers' side of experiments/bench.py, each in its own process: flair's SequenceTagger
and Hugging Face transformers' BertForTokenClassification (PyTorch), trained and timed the
way their own trainers do a step, on the sentences bioner-mtl trains on.

Install with requirements-bench.txt; bioner-mtl itself never imports these libraries.
"""

from __future__ import annotations

import os

import numpy as np

from bioner_mtl.data.tags import split_tag
from bioner_mtl.training.bench import flops
from bioner_mtl.training.bench.measure import memory, slice_of, timed
from bioner_mtl.training.fit.evaluation import evaluate


def _mentions(tags) -> list[tuple[str, int, int]]:
    """(type, start, end) spans of IOB2 tags."""
    spans, start, kind = [], None, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, label = split_tag(tag)
        if start is not None and (prefix != "I" or label != kind):
            spans.append((kind, start, i))
            start = None
        if prefix == "B" or (prefix == "I" and start is None):
            start, kind = i, label
    return spans


def _tags_of(length: int, spans) -> list[str]:
    tags = ["O"] * length
    for kind, start, end in spans:
        tags[start] = f"B-{kind}"
        for i in range(start + 1, end):
            tags[i] = f"I-{kind}"
    return tags


def _epochs(n: int, batch_size: int, steps: int, seed: int):
    """`steps` batches of sentence indices, reshuffled every pass (what a DataLoader does)."""
    rng, batches = np.random.default_rng(seed), []
    while len(batches) < steps:
        order = rng.permutation(n)
        batches += [order[i:i + batch_size] for i in range(0, n, batch_size)]
    return batches[:steps]


def _bucketed(lengths: list[int], batch_size: int, steps: int, seed: int):
    """The batches BatchStream gives our trainer with the same seed, for the same rows."""
    from bioner_mtl.training.fit.batches import bucketed_batches

    rng, pending, batches = np.random.default_rng(seed), [], []
    while len(batches) < steps:
        if not pending:
            pending = bucketed_batches(np.array(lengths), batch_size, rng)
        batches.append(pending.pop())
    return batches


def _torch_setup(seed: int):
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(os.cpu_count() or 1)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _gpu_peak(torch) -> dict:
    if not torch.cuda.is_available():
        return {"device": "CPU"}
    return {"device": "GPU", "gpu_peak_mb": torch.cuda.max_memory_allocated() / 2**20}


def flair_bilstm(spec: dict) -> dict:
    """flair SequenceTagger: our word2vec vectors (a gensim file) + flair's character
    features, BiLSTM 256, CRF; flair's own defaults otherwise (SGD 0.1, clip 5)."""
    import flair
    import torch
    from flair.data import Dictionary, Sentence
    from flair.embeddings import CharacterEmbeddings, StackedEmbeddings, WordEmbeddings
    from flair.models import SequenceTagger
    from flair.training_utils import store_embeddings

    import_rss = memory()["rss_mb"]
    flair.device = _torch_setup(spec["seed"])
    train, test = slice_of(spec["corpus"], spec["fraction"], spec["seed"],
                           spec["test_sentences"])

    def to_flair(sentence) -> Sentence:
        out = Sentence(list(sentence.tokens))
        for kind, start, end in _mentions(sentence.tags):
            out[start:end].add_label("ner", kind)
        return out

    train_set = [to_flair(s) for s in train]
    types = Dictionary(add_unk=False)
    types.span_labels = True  # as Corpus.make_label_dictionary marks span (NER) labels
    for kind in sorted({k for s in train for k, _, _ in _mentions(s.tags)}):
        types.add_item(kind)
    chars = Dictionary(add_unk=True)  # flair's default list would be downloaded
    for char in sorted({c for s in train for token in s.tokens for c in token}):
        chars.add_item(char)
    words = WordEmbeddings(spec["vectors_file"], fine_tune=True, force_cpu=False)
    # A character BiLSTM of 2 x 15 = 30 features, as wide as our 30-filter character CNN.
    embeddings = StackedEmbeddings([words, CharacterEmbeddings(chars, char_embedding_dim=30,
                                                               hidden_size_char=15)])
    model = SequenceTagger(embeddings, types, "ner", hidden_size=spec["hidden"], use_crf=True)
    model.to(flair.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=spec["learning_rate"])
    batches = _epochs(len(train_set), spec["batch_size"], spec["steps"], spec["seed"])

    def step(index) -> int:
        batch = [train_set[i] for i in index]
        model.train()
        optimizer.zero_grad(set_to_none=True)
        loss, _ = model.forward_loss(batch)
        loss.backward()
        store_embeddings(batch, "none")
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        loss.item()
        return sum(len(s) for s in batch)

    step(batches[0])  # the first step allocates: not timed, as on our side
    with timed() as clock:
        trained_words = sum(step(index) for index in batches[1:])
    train_seconds = clock.seconds
    model.eval()
    sentences = [Sentence(list(s.tokens)) for s in test]
    with timed() as clock:
        model.predict(sentences, mini_batch_size=64, label_name="predicted")
    predicted = [_tags_of(len(s), [(span.get_label("predicted").value, span.tokens[0].idx - 1,
                                    span.tokens[-1].idx) for span in s.get_spans("predicted")])
                 for s in sentences]
    if spec.get("save_to"):  # for bench.py --only tagging: tagged in a process of its own
        model.save(spec["save_to"])
    return {
        "train_words_per_second": trained_words / train_seconds,
        "train_steps": len(batches) - 1, "train_seconds": train_seconds,
        "inference_sentences_per_second": len(test) / clock.seconds,
        "test_sentences": len(test),
        "mention_f1": evaluate([list(s.tags) for s in test], predicted).f1,
        "import_rss_mb": import_rss, **memory(), **_gpu_peak(torch),
        "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }


def hf_bert(spec: dict) -> dict:
    """BertForTokenClassification from the same local directory: first subword labelled,
    the others ignored (-100), AdamW with linear warm-up and decay, clip 1, as the
    transformers token-classification example does."""
    import torch
    from transformers import (
        BertForTokenClassification,
        BertTokenizerFast,
        get_linear_schedule_with_warmup,
    )

    import_rss = memory()["rss_mb"]
    device = _torch_setup(spec["seed"])
    train, test = slice_of(spec["corpus"], spec["fraction"], spec["seed"],
                           spec["test_sentences"])
    labels = sorted({t for s in train for t in s.tags})
    label_id = {t: i for i, t in enumerate(labels)}
    tokenizer = BertTokenizerFast.from_pretrained(spec["encoder_dir"])
    model = BertForTokenClassification.from_pretrained(spec["encoder_dir"],
                                                       num_labels=len(labels)).to(device)

    def encode(sentence, with_labels: bool):
        encoded = tokenizer(list(sentence.tokens), is_split_into_words=True, truncation=True,
                            max_length=spec["max_length"])
        first, previous = [], None
        for position, word in enumerate(encoded.word_ids()):
            if word is not None and word != previous:
                first.append(position)
            previous = word
        row = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}
        if with_labels:
            row["labels"] = [-100] * len(encoded["input_ids"])
            for word, position in enumerate(first):
                row["labels"][position] = label_id[sentence.tags[word]]
        return row, first

    def pad(rows):
        width = max(len(r["input_ids"]) for r in rows)
        out = {}
        for key, fill in (("input_ids", tokenizer.pad_token_id), ("attention_mask", 0),
                          ("labels", -100)):
            if key in rows[0]:
                out[key] = torch.tensor([r[key] + [fill] * (width - len(r[key])) for r in rows],
                                        device=device)
        return out

    train_rows = [encode(s, True)[0] for s in train]
    decay = [p for n, p in model.named_parameters() if not n.endswith("bias")
             and "LayerNorm" not in n]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias")
                or "LayerNorm" in n]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=spec["learning_rate"])
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.1 * spec["steps"]),
                                               spec["steps"])
    # The batches our trainer cuts (length-bucketed, as transformers' group_by_length): the
    # ratio then measures the frameworks, not the batching.
    batches = _bucketed([len(r["input_ids"]) for r in train_rows], spec["batch_size"],
                        spec["steps"], spec["seed"])

    # On a GPU our side computes in bfloat16 (variables float32): the same autocast here.
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    # Padded before the clock starts, as our side's batches are.
    padded = [pad([train_rows[i] for i in index]) for index in batches]

    def step(batch) -> None:
        model.train()
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        loss.item()

    step(padded[0])
    with timed() as clock:
        for batch in padded[1:]:
            step(batch)
    config, timed_batches = model.config, padded[1:]
    trained_words = sum(int((b["labels"] != -100).sum()) for b in timed_batches)
    work = sum(flops.train_step(flops.bert_forward(
        *b["input_ids"].shape, b["input_ids"].numel(),  # the classifier reads every subword
        layers=config.num_hidden_layers, hidden=config.hidden_size,
        intermediate=config.intermediate_size, labels=len(labels))) for b in timed_batches)
    real = sum(int(b["attention_mask"].sum()) for b in timed_batches)
    train_seconds = clock.seconds
    model.eval()
    with timed() as clock:
        encoded = [encode(s, False) for s in test]
        order = np.argsort([len(r["input_ids"]) for r, _ in encoded], kind="stable")
        predicted: list[list[str]] = [[] for _ in test]
        with torch.inference_mode(), autocast:
            for start in range(0, len(order), 64):
                index = order[start:start + 64]
                best = model(**pad([encoded[i][0] for i in index])).logits.argmax(-1).cpu()
                for row, i in enumerate(index):
                    tags = [labels[int(best[row, p])] for p in encoded[i][1]]
                    predicted[i] = tags + ["O"] * (len(test[i]) - len(tags))  # truncated words
    if spec.get("save_to"):  # for bench.py --only tagging: its pipeline reads the labels
        model.config.id2label = dict(enumerate(labels))
        model.config.label2id = label_id
        model.save_pretrained(spec["save_to"])
        tokenizer.save_pretrained(spec["save_to"])
    return {
        "train_words_per_second": trained_words / train_seconds,
        "train_steps": len(batches) - 1, "train_seconds": train_seconds,
        "flops_per_second": work / train_seconds,
        "padding_share": 1 - real / sum(b["attention_mask"].numel() for b in timed_batches),
        "inference_sentences_per_second": len(test) / clock.seconds,
        "test_sentences": len(test),
        "mention_f1": evaluate([list(s.tags) for s in test], predicted).f1,
        "import_rss_mb": import_rss, **memory(), **_gpu_peak(torch),
        "precision": "mixed_bfloat16" if device.type == "cuda" else "float32",
        "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }


def matmul_rate(spec: dict) -> dict:
    """PyTorch's dense float32 matmul rate on this machine, beside TensorFlow's."""
    import torch

    device = _torch_setup(1)
    n, repeats = spec["size"], spec["repeats"]
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)

    def chain():
        c = a
        for _ in range(repeats):
            c = (c @ b) * 1e-3
        if device.type == "cuda":
            torch.cuda.synchronize()
        return c

    chain()
    best = float("inf")
    for _ in range(3):
        with timed() as clock:
            chain()
        best = min(best, clock.seconds)
    return {"flops_per_second": 2 * n ** 3 * repeats / best, "size": n, "repeats": repeats}


# ----- bench.py --only tagging: tag the bulk sentences with a saved peer model --------------
def flair_tag(spec: dict) -> dict:
    """flair's SequenceTagger.predict over the bulk sentences (mini-batches of 64, as
    flair's own evaluation), from the model the training side saved."""
    import torch
    from flair.data import Sentence
    from flair.models import SequenceTagger

    from bioner_mtl.training.bench.tagging import WARM_UP, bulk_sentences

    import_rss = memory()["rss_mb"]
    _torch_setup(spec["seed"])
    sentences = bulk_sentences(spec["corpus"], spec["sentences"])
    model = SequenceTagger.load(spec["model_path"])
    model.eval()
    model.predict([Sentence(list(s.tokens)) for s in sentences[:WARM_UP]],
                  mini_batch_size=64, label_name="predicted")
    with timed() as clock:
        tagged = [Sentence(list(s.tokens)) for s in sentences]  # tokens to inputs: timed
        model.predict(tagged, mini_batch_size=64, label_name="predicted")
    predicted = [_tags_of(len(s), [(span.get_label("predicted").value, span.tokens[0].idx - 1,
                                    span.tokens[-1].idx) for span in s.get_spans("predicted")])
                 for s in tagged]
    return _tagging_record(sentences, predicted, clock.seconds, import_rss, torch)


def hf_pipeline_tag(spec: dict) -> dict:
    """transformers' token-classification pipeline (aggregation "first": a word takes its
    first subword's label, as our side and the training labels do) over the sentences as
    text (tokens joined by spaces), entities mapped back to the tokens by their offsets."""
    import torch
    from transformers import pipeline

    from bioner_mtl.training.bench.tagging import WARM_UP, bulk_sentences

    import_rss = memory()["rss_mb"]
    device = _torch_setup(spec["seed"])
    sentences = bulk_sentences(spec["corpus"], spec["sentences"])
    tagger = pipeline("token-classification", model=spec["model_path"],
                      tokenizer=spec["model_path"], aggregation_strategy="first",
                      device=device)
    texts = [" ".join(s.tokens) for s in sentences]
    tagger(texts[:WARM_UP], batch_size=64)
    with timed() as clock:
        found = tagger(texts, batch_size=64)
    predicted = []
    for sentence, entities in zip(sentences, found):
        starts, position = {}, 0
        for i, token in enumerate(sentence.tokens):
            starts[position] = i
            position += len(token) + 1
        ends = {start + len(sentence.tokens[i]): i for start, i in starts.items()}
        spans = [(e["entity_group"], starts[e["start"]], ends[e["end"]] + 1)
                 for e in entities if e["start"] in starts and e["end"] in ends]
        predicted.append(_tags_of(len(sentence), spans))
    return _tagging_record(sentences, predicted, clock.seconds, import_rss, torch)


def _tagging_record(sentences, predicted, seconds: float, import_rss: float, torch) -> dict:
    return {"inference_sentences_per_second": len(sentences) / seconds,
            "tag_seconds": seconds, "test_sentences": len(sentences),
            "mention_f1": evaluate([list(s.tags) for s in sentences], predicted).f1,
            "import_rss_mb": import_rss, **memory(), **_gpu_peak(torch)}
