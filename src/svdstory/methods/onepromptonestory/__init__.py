"""1Prompt1Story (Liu et al., ICLR 2025): method.py runs every frame from one prompt (and IPCA); svr.py reweights
the one prompt's embeddings through their singular values."""
