"""Writes common_words.txt: the English words too common to mark a franchise.

Every word of letters a-z whose Zipf frequency in wordfreq's English data is
above 3.5 (used more than about three times in a million words). Run with
wordfreq 3.1.1 from PyPI:  python3 common_words.py > common_words.txt
"""
import wordfreq

THRESHOLD = 3.5

print("# English words with a Zipf frequency above 3.5, one per line, sorted.")
print("# Derived from wordfreq 3.1.1 (Robyn Speer and contributors), whose data")
print("# is licensed CC BY-SA 4.0; this file is CC BY-SA 4.0 as well.")
print("# https://github.com/rspeer/wordfreq  Regenerate with common_words.py.")
words = sorted(
    w
    for w in wordfreq.top_n_list("en", 60000)
    if w.isascii() and w.isalpha() and wordfreq.zipf_frequency(w, "en") > THRESHOLD
)
print("\n".join(words))
