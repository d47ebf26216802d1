"""Tokenizer and vocabulary.

Tokenizer rule (TOKENIZER_VERSION 1), chosen to match how GloVe 6B was tokenized (Stanford
PTB-style, lower-cased):
  1. lower-case; HTML line breaks (`<br />`, `<br>`) become spaces: IMDB raw text is full of them;
  2. a token is a run of letters/digits (Unicode-aware), or one punctuation character;
  3. English clitics are split the PTB way: "don't" -> "do" "n't", "it's" -> "it" "'s",
     "we'll" -> "we" "'ll" (GloVe has vectors for "n't", "'s", "'ll", ...).
So "Great movie!<br />Don't miss it." -> great movie ! do n't miss it .
gensim's tokenizers drop punctuation and digits ("!" carries sentiment) and NLTK's Treebank
tokenizer would be a new dependency for the same result, so this is a three-line regex.

Vocabulary: ids are deterministic (by frequency in the train split, ties alphabetical), with
0 = <pad> and 1 = <unk> reserved, stored as a text file with one token per line (line number = id).
"""
import collections
import os
import re

from src import errors

TOKENIZER_VERSION = 1
PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1

_LINE_BREAK = re.compile(r"<\s*br\s*/?\s*>")
_TOKEN = re.compile(r"[^\W_]+(?=n't\b)|n't\b|'(?:s|re|ve|ll|d|m)\b|[^\W_]+|[^\w\s]|_")


def tokenize(text):
    return _TOKEN.findall(_LINE_BREAK.sub(" ", text.lower()))


class Vocabulary:
    """Maps tokens to ids; id 0 pads, id 1 stands for every token not in the vocabulary."""

    def __init__(self, words):
        self.words = list(words)
        if self.words[:2] != [PAD, UNK]:
            raise ValueError("a vocabulary starts with <pad> and <unk>")
        self.ids = {word: index for index, word in enumerate(self.words)}

    def __len__(self):
        return len(self.words)

    @classmethod
    def build(cls, token_lists, min_freq=1, max_vocab=0):
        """Counts tokens; keeps those seen >= min_freq times, the max_vocab most frequent (0 = all)."""
        counts = collections.Counter()
        for tokens in token_lists:
            counts.update(tokens)
        counts.pop(PAD, None)
        counts.pop(UNK, None)
        ranked = sorted((word for word, count in counts.items() if count >= min_freq),
                        key=lambda word: (-counts[word], word))
        if max_vocab > 0:
            ranked = ranked[:max(0, max_vocab - 2)]
        return cls([PAD, UNK] + ranked)

    def encode(self, tokens, max_len):
        """Token ids, truncated to the first max_len (None: all); an empty review becomes [<unk>]
        so every sequence has at least one real step."""
        ids = [self.ids.get(token, UNK_ID) for token in tokens[:max_len]]
        return ids or [UNK_ID]

    def save(self, path):
        with open(path, "w", encoding="utf-8") as file:
            file.write("\n".join(self.words) + "\n")

    @classmethod
    def load(cls, path):
        if not os.path.isfile(path):
            raise errors.UserError(f"vocabulary file {path} not found (run preprocessing first)")
        try:
            with open(path, encoding="utf-8") as file:
                words = file.read().split("\n")[:-1]
        except UnicodeDecodeError:
            words = []
        if words[:2] != [PAD, UNK] or any(not word or " " in word for word in words):
            raise errors.UserError(f"{path} is not a vocabulary file written by this suite")
        return cls(words)
