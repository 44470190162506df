"""tunesmith models: melody tokens, corpora, five architectures, sampling, training and evaluation."""
