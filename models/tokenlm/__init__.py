"""Token language models over melody events: the LSTM, the WaveNet and the C-RNN-GAN, their training and sampling."""
