"""An offline subject -> object corpus (book -> author) with paraphrase templates.

Everything is generated from a seed: book titles and author names are made of syllables from
the word lists below (unique, pronounceable, one token each), and each fact is written with
every template. Nothing is downloaded.

Token layout (:class:`Corpus`): subjects 0..S-1, objects S..S+O-1, then the template words.
A sentence is ``template words + subject + template words + object``; the object is the fact
token, predicted at the last position; the other targets are template words (non-fact tokens)
or the subject (unpredictable, excluded from the non-fact loss).

Choices: ``authors="bijection"`` (default) gives every book its own author (a random
permutation; the hebbian-mlps protocol, where an edit's new object is never another edited book's
old one by accident); ``authors="random"`` draws a random map books -> authors with
``objects_per_subject`` authors per book on average (several books per author, as in a real
catalogue; every author writes at least one book); templates 0..n_train-1 are training
sentences (template 0 is also the edit sentence), the rest are held-out paraphrases.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["TEMPLATES", "AUTHORS", "Corpus", "make_corpus", "fake_names"]

_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "gl", "kr", "st", "th"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ou"]
_CODAS = ["", "", "n", "r", "l", "s", "th", "nd"]

TEMPLATES = (
    "{s} was written by",
    "the author of {s} is",
    "{s} is a novel by",
    "the book {s} was penned by",
    "{s} , a book written by",
    "the novel {s} comes from the pen of",
    "readers know {s} as the work of",
    "many consider {s} the masterpiece of",
    "the writer of {s} is",
    "{s} is the best known book of",
    "in {s} the reader meets the style of",
    "critics praised {s} , the latest book of",
)


def fake_names(
    n: int, *, generator: torch.Generator, syllables: tuple[int, int] = (2, 3), prefix: str = ""
) -> list[str]:
    """``n`` distinct capitalised names of 2-3 syllables drawn from the word lists."""
    names: list[str] = []
    seen: set[str] = set()
    tries = 0
    while len(names) < n:
        tries += 1
        if tries > 100 * n + 1000:
            raise RuntimeError(f"could not draw {n} distinct names")
        k = int(torch.randint(syllables[0], syllables[1] + 1, (1,), generator=generator))
        parts = [
            _ONSETS[int(torch.randint(len(_ONSETS), (1,), generator=generator))]
            + _VOWELS[int(torch.randint(len(_VOWELS), (1,), generator=generator))]
            + _CODAS[int(torch.randint(len(_CODAS), (1,), generator=generator))]
            for _ in range(k)
        ]
        name = prefix + "".join(parts).capitalize()
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


@dataclass(frozen=True)
class Corpus:
    subjects: list[str]
    objects: list[str]
    words: list[str]
    mapping: torch.Tensor  # (S,) object index of each subject
    templates: tuple[str, ...]
    n_train_templates: int

    @property
    def n_subjects(self) -> int:
        return len(self.subjects)

    @property
    def n_objects(self) -> int:
        return len(self.objects)

    @property
    def vocab_size(self) -> int:
        return self.n_subjects + self.n_objects + len(self.words)

    def object_token(self, obj: torch.Tensor) -> torch.Tensor:
        return obj + self.n_subjects

    def template_tokens(self, j: int) -> tuple[list[int], list[int]]:
        """Word tokens before and after the subject in template ``j``."""
        index = {w: self.n_subjects + self.n_objects + i for i, w in enumerate(self.words)}
        before, after = self.templates[j].split("{s}")
        return [index[w] for w in before.split()], [index[w] for w in after.split()]

    def sentences(self, subjects: torch.Tensor, j: int, mapping: torch.Tensor | None = None) -> torch.Tensor:
        """(n, L) token ids of template ``j`` for the given subjects, the object last."""
        mapping = self.mapping if mapping is None else mapping
        before, after = self.template_tokens(j)
        n = subjects.shape[0]
        parts = [torch.tensor(before, dtype=torch.int64).expand(n, -1), subjects[:, None],
                 torch.tensor(after, dtype=torch.int64).expand(n, -1), self.object_token(mapping[subjects])[:, None]]
        return torch.cat(parts, dim=1)

    def text(self, subject: int, j: int, mapping: torch.Tensor | None = None) -> str:
        mapping = self.mapping if mapping is None else mapping
        return self.templates[j].format(s=self.subjects[subject]) + " " + self.objects[int(mapping[subject])]


AUTHORS = ("bijection", "random")


def make_corpus(n_subjects: int, *, objects_per_subject: float = 0.5, n_train_templates: int = 8,
                n_templates: int = len(TEMPLATES), authors: str = "bijection", seed: int) -> Corpus:
    """A random book -> author corpus; see the module docstring (``objects_per_subject`` is used
    with ``authors="random"`` only)."""
    if not 1 <= n_train_templates < n_templates <= len(TEMPLATES):
        raise ValueError(f"need 1 <= n_train_templates < n_templates <= {len(TEMPLATES)}, "
                         f"got {n_train_templates}, {n_templates}")
    if authors not in AUTHORS:
        raise ValueError(f"unknown authors option {authors!r}; known: {', '.join(AUTHORS)}")
    n_objects = n_subjects if authors == "bijection" else max(2, round(objects_per_subject * n_subjects))
    g = torch.Generator().manual_seed(int(seed))
    subjects = fake_names(n_subjects, generator=g, prefix="")
    objects = fake_names(n_objects, generator=g, syllables=(2, 2), prefix="")
    taken = set(subjects)
    objects = [o if o not in taken else o + "son" for o in objects]
    # every author writes at least one book, the rest at random
    mapping = torch.cat([torch.arange(n_objects), torch.randint(0, n_objects, (max(0, n_subjects - n_objects),),
                                                                generator=g)])[:n_subjects]
    mapping = mapping[torch.randperm(n_subjects, generator=g)]
    templates = TEMPLATES[:n_templates]
    words = sorted({w for t in templates for w in t.replace("{s}", " ").split()})
    return Corpus(subjects, objects, words, mapping, templates, n_train_templates)
