"""Studies behind a verdict: why a claim fails, which design a claim uses, how far a fix goes."""
