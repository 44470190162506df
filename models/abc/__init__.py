"""The folk-rnn-style LSTM over ABC tokens: syntax, tokens, corpus, training and composing."""
