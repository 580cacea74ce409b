"""Text: vocabularies, WordPiece tokenisation, the built-in corpus, word vectors."""
