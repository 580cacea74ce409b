"""Text -> WordPiece vocabulary -> TFRecords in the original BERT pre-training scheme."""
